//! Comparing the synced tree across nodes (`filesync verify`): the nodes'
//! sorted listings walked in step (`merge`) and the records for each path
//! judged (`tree`). Pure.

pub mod merge;
pub mod tree;
