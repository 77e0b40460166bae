//! Integration tests, compiled into one test binary: the command line without a
//! cluster (`cli`), and end to end on the simulated cluster of `testbed/cluster`
//! (`e2e`, `wizard`).

mod bench;
mod cli;
mod cluster;
mod e2e;
mod manifests;
mod platform;
mod reconcile;
mod wizard;
