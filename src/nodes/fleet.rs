//! The nodes of one run: connected in parallel, probed in parallel. A node that
//! cannot be reached is set aside and reported; a changed host key or failed
//! authentication stops the run before anything changes.

use crate::cli::Global;
use crate::error::{NodeFailure, Result};
use crate::nodes::layout::InstallDir;
use crate::nodes::node::Node;
use crate::nodes::probe::{self, Observed};
use crate::nodes::ssh::{ConnectError, SshNode, SshOptions};
use crate::source::inventory::Node as InventoryNode;
use futures::stream::{self, StreamExt};
use std::collections::BTreeMap;

pub struct Fleet {
    pub nodes: BTreeMap<String, SshNode>,
    pub unreachable: Vec<NodeFailure>,
    pub parallel: usize,
}

impl Fleet {
    /// Connects with the ssh options and parallelism of the command line.
    pub async fn connect_for(global: &Global, nodes: &[InventoryNode]) -> Result<Self> {
        let options = SshOptions {
            config_file: global.ssh_config.clone(),
        };
        Self::connect(nodes, &options, global.parallel.into()).await
    }

    pub async fn connect(
        nodes: &[InventoryNode],
        options: &SshOptions,
        parallel: usize,
    ) -> Result<Self> {
        let parallel = parallel.max(1);
        let results: Vec<(String, std::result::Result<SshNode, ConnectError>)> = stream::iter(
            nodes,
        )
        .map(|node| async move { (node.name.clone(), SshNode::connect(node, options).await) })
        .buffer_unordered(parallel)
        .collect()
        .await;
        let mut fleet = Fleet {
            nodes: BTreeMap::new(),
            unreachable: Vec::new(),
            parallel,
        };
        let mut refused = None;
        for (name, result) in results {
            match result {
                Ok(node) => {
                    fleet.nodes.insert(name, node);
                }
                Err(ConnectError::Refused(err)) => refused = refused.or(Some(err)),
                Err(ConnectError::Unreachable(reason)) => fleet.unreachable.push(NodeFailure {
                    node: name,
                    reason: format!("unreachable: {reason}"),
                }),
            }
        }
        fleet.unreachable.sort_by(|a, b| a.node.cmp(&b.node));
        if let Some(err) = refused {
            fleet.close().await;
            return Err(err);
        }
        Ok(fleet)
    }

    /// Like `connect_for`, for nodes the run does not act on (it only reads
    /// them) or only cleans up (they left the environment): a refused
    /// connection sets the node aside like an unreachable one instead of
    /// stopping the run. Nothing is trusted anew.
    pub async fn connect_lenient(global: &Global, nodes: &[InventoryNode]) -> Self {
        let mut fleet = Fleet {
            nodes: BTreeMap::new(),
            unreachable: Vec::new(),
            parallel: usize::from(global.parallel).max(1),
        };
        for node in nodes {
            match Self::connect_for(global, std::slice::from_ref(node)).await {
                Ok(mut one) => {
                    fleet.nodes.append(&mut one.nodes);
                    fleet.unreachable.append(&mut one.unreachable);
                }
                Err(err) => fleet.unreachable.push(NodeFailure {
                    node: node.name.clone(),
                    reason: err.to_string(),
                }),
            }
        }
        fleet
    }

    /// Probes every connected node; a node whose probe fails joins `unreachable`.
    pub async fn probe(
        &mut self,
        install: &InstallDir,
        webroot: &str,
        synced_dir: Option<&str>,
    ) -> BTreeMap<String, Observed> {
        let script = crate::nodes::remote::probe(install, webroot, synced_dir);
        let results: Vec<(String, anyhow::Result<Observed>)> = stream::iter(self.nodes.values())
            .map(|node| {
                let script = &script;
                async move {
                    let result = match script {
                        Ok(script) => node
                            .run(script, None)
                            .await
                            .and_then(|output| probe::parse(&output, synced_dir)),
                        Err(err) => Err(anyhow::anyhow!("cannot build the probe: {err:#}")),
                    };
                    (node.name().to_string(), result)
                }
            })
            .buffer_unordered(self.parallel)
            .collect()
            .await;
        let mut observed = BTreeMap::new();
        for (name, result) in results {
            match result {
                Ok(facts) => {
                    observed.insert(name, facts);
                }
                Err(err) => {
                    self.nodes.remove(&name);
                    self.unreachable.push(NodeFailure {
                        node: name,
                        reason: format!("probe failed: {err:#}"),
                    });
                }
            }
        }
        observed
    }

    /// Runs the same script on every connected node at once; its output by node.
    pub async fn run_everywhere(&self, script: &str) -> BTreeMap<String, anyhow::Result<String>> {
        stream::iter(self.nodes.values())
            .map(|node| async move { (node.name().to_string(), node.run(script, None).await) })
            .buffer_unordered(self.parallel)
            .collect()
            .await
    }

    /// Why a node could not be used, if it could not.
    pub fn unreachable_reason(&self, node: &str) -> Option<String> {
        self.unreachable
            .iter()
            .find(|failure| failure.node == node)
            .map(|failure| failure.reason.clone())
    }

    pub async fn close(self) {
        futures::future::join_all(self.nodes.into_values().map(SshNode::close)).await;
    }
}
