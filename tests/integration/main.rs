//! Integration tests, compiled into one test binary: the command line without a
//! cluster (`cli`), what nodes and the platform say (`untrusted`), and end to
//! end on the simulated cluster of `testbed/cluster` (`e2e`, `wizard`,
//! `twoenv`), the problem as a site owner sees it through a load balancer
//! (`web`), and the simulated cluster itself (`testbed`). What they share is
//! in `support`.

mod bench;
mod cli;
mod data_plane;
mod e2e;
mod escaping;
mod faults;
mod manifests;
mod mesh;
mod platform;
mod push_action;
mod reconcile;
mod security;
mod support;
mod testbed;
mod twoenv;
mod untrusted;
mod verify;
mod web;
mod wizard;
