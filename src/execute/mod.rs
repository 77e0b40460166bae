//! Executing: the flow `install`, `plan` and `reconcile` share, from settings
//! to a printed or applied plan (`converge`), the plan applied over SSH phase by
//! phase with nodes in parallel (`apply`), the links of two environments made
//! and both sides converged in the order their keys need (`link`), an
//! installation removed from a node (`removal`), and per-node progress
//! (`progress`).

pub mod apply;
pub mod converge;
pub mod link;
pub mod progress;
pub mod removal;
