//! What the integration tests share: the simulated cluster (`cluster`),
//! running `filesync` against it (`run`), where things are on its nodes
//! (`node_files`), waiting for them to settle (`wait`), the shipped platform
//! files (`manifest`), and deterministic generated strings for fuzz-style
//! tests (`generated`).

pub mod cluster;
pub mod generated;
pub mod manifest;
pub mod node_files;
pub mod run;
pub mod wait;
