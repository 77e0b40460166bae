//! What the nodes have and how they are reached: the one interface to a node
//! (`node`) and its SSH implementation (`ssh`), the nodes of one run (`fleet`),
//! the scripts run on them (`remote`), where filesync puts things on a node
//! (`layout`), what nodes say, read and checked like input (`probe`, `state`,
//! `push_record`, `trash`, `untrusted`), who is in the mesh (`mesh`), and the
//! operator lock (`lock`).

pub mod fleet;
pub mod layout;
pub mod lock;
pub mod mesh;
pub mod node;
pub mod probe;
pub mod push_record;
pub mod remote;
pub mod ssh;
pub mod state;
pub mod trash;
pub mod untrusted;
