//! What is wanted: the settings of an installation, who pushes to whom inside
//! an environment (`topology`), the link to another environment (`peer_link`,
//! the keys file its operator hands over, `link_keys`, and the shared
//! `password`), and from all of them what each node should have (`desired`).

pub mod desired;
pub mod link_keys;
pub mod password;
pub mod peer_link;
pub mod settings;
pub mod topology;
