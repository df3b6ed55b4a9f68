//! [`NatsCluster`]: three `nats-server` nodes routed into one cluster on loopback.
//!
//! Routes need known ports, but every port here is picked by the server itself, so the nodes
//! start one after another: node 0 listens for routes on `127.0.0.1:-1` and its cluster port
//! is read from its ports file; node 1 routes to node 0; node 2 routes to nodes 0 and 1. The
//! servers gossip the rest, giving a full mesh.
//!
//! JetStream clustering (on by default) refuses to start a node that has no configured route
//! at all, which node 0 cannot have yet. It therefore starts with a placeholder route to
//! `127.0.0.1:1`, a privileged port nothing listens on: each attempt is refused at once
//! (about once a second) and costs nothing. Its real routes come in by gossip as the other
//! nodes connect to it; a restarted node 0 gets a config with real routes only. (Swapping the
//! placeholder out by config reload is not an option: a reload of a node whose JetStream was
//! enabled by command-line flag shuts its JetStream down on nats-server 2.9.)
//!
//! The cluster is ready when every node answers `PING`, lists a route to every other node on
//! `/routez`, and reports healthy on `/healthz`; with JetStream, the meta leader must also see
//! every running node as a current member, or an R3 stream create still fails with "no
//! suitable peers for placement".

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::monitor::json_scalar;
use crate::poll;
use crate::server::NatsServer;

/// Number of nodes: the smallest cluster in which JetStream (R3) survives losing one.
const NODES: usize = 3;

/// How long the routes and JetStream meta group may take to form. A fresh cluster forms in
/// well under a second; the margin is for losing the meta leader, after which nats-server
/// waits out a Raft election timeout (several seconds) before electing a new one.
const FORM_TIMEOUT: Duration = Duration::from_secs(20);

/// Port of the placeholder route node 0 starts with; see the module docs.
const PLACEHOLDER_ROUTE: u16 = 1;

/// Tells clusters of one test process apart, so that their names never collide.
static CLUSTER_SEQ: AtomicUsize = AtomicUsize::new(0);

/// How to start a [`NatsCluster`]: a builder, finished by [`ClusterOptions::start`].
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    jetstream: bool,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions { jetstream: true }
    }
}

impl ClusterOptions {
    /// Turns clustered JetStream on (the default) or off; core NATS routing works either way.
    pub fn jetstream(mut self, on: bool) -> ClusterOptions {
        self.jetstream = on;
        self
    }

    /// Starts the cluster and waits until it has formed. See [`NatsCluster::start`].
    ///
    /// # Panics
    /// As [`NatsCluster::start`].
    pub fn start(self) -> NatsCluster {
        NatsCluster::start_with(self)
    }
}

/// Three `nats-server` nodes in one cluster on `127.0.0.1`, each with its own store dir and
/// `server_name`; all are killed when the value is dropped.
#[derive(Debug)]
pub struct NatsCluster {
    name: String,
    jetstream: bool,
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts a 3-node cluster with JetStream and waits until every node routes to every
    /// other one and JetStream has a meta leader.
    ///
    /// # Panics
    /// If a node fails to start (see [`NatsServer::start`]) or the cluster has not formed
    /// within 20 s.
    pub fn start() -> NatsCluster {
        NatsCluster::start_with(ClusterOptions::default())
    }

    /// Options for a cluster that is not the default one; finish with
    /// [`ClusterOptions::start`].
    pub fn builder() -> ClusterOptions {
        ClusterOptions::default()
    }

    /// Starts a cluster with `options` and waits until it has formed.
    ///
    /// # Panics
    /// As [`NatsCluster::start`].
    pub fn start_with(options: ClusterOptions) -> NatsCluster {
        let seq = CLUSTER_SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("lattice-{}-{seq}", std::process::id());
        let mut cluster = NatsCluster { name, jetstream: options.jetstream, nodes: Vec::with_capacity(NODES) };
        for i in 0..NODES {
            let mut routes: Vec<u16> = cluster.nodes.iter().map(cluster_port).collect();
            if routes.is_empty() && options.jetstream {
                routes.push(PLACEHOLDER_ROUTE);
            }
            let node = NatsServer::builder()
                .jetstream(options.jetstream)
                .monitoring(true)
                .config(cluster.node_config(i, None, &routes))
                .start();
            cluster.nodes.push(node);
        }
        cluster.await_formed();
        cluster
    }

    /// The client URLs of all nodes, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// Node `i` (0, 1 or 2).
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// All nodes, in order.
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// The cluster name shared by all nodes (unique per cluster).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index of the node currently leading the JetStream meta group, as reported by the
    /// first running node that knows it; `None` without JetStream or while there is no leader.
    pub fn meta_leader(&self) -> Option<usize> {
        self.nodes.iter().filter(|node| node.pid().is_some()).find_map(|node| {
            let jsz: String = node.monitor_get("/jsz").ok()?.split_whitespace().collect();
            let (_, meta) = jsz.split_once("\"meta_cluster\":")?;
            let leader = json_scalar(meta, "leader")?;
            (0..self.nodes.len()).find(|&i| server_name(&self.name, i) == leader)
        })
    }

    /// Kills node `i` (SIGKILL). The others keep running; their routes to it go down.
    ///
    /// # Panics
    /// If `i` is out of range.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Restarts node `i` on its previous client and cluster ports, with its store dir and
    /// routes to every other node, then waits until the running nodes have re-formed the
    /// cluster (full mesh among them, healthy).
    ///
    /// With JetStream, "healthy" includes a meta leader that sees every running node as
    /// current. If the killed node was the meta leader, this waits out a Raft election (several
    /// seconds, measured up to ~6 s here; kill another node, see [`NatsCluster::meta_leader`],
    /// when the test is not about leader loss), and it can only succeed while at least two
    /// nodes run (a quorum).
    ///
    /// # Panics
    /// If `i` is out of range, the node fails to start, or the cluster does not re-form
    /// within 20 s.
    pub fn restart_node(&mut self, i: usize) {
        let config = self.node_config_for_restart(i);
        self.nodes[i].set_config(&config);
        self.nodes[i].restart();
        self.await_formed();
    }

    /// Config of node `i` for a run on its known cluster port, routing to all other nodes.
    fn node_config_for_restart(&self, i: usize) -> String {
        let own = cluster_port(&self.nodes[i]);
        let routes: Vec<u16> =
            (0..self.nodes.len()).filter(|&j| j != i).map(|j| cluster_port(&self.nodes[j])).collect();
        self.node_config(i, Some(own), &routes)
    }

    /// The config file of node `i`: its name, and its cluster block listening on
    /// `cluster_port` (`-1`: let the server choose) with routes to `routes`.
    fn node_config(&self, i: usize, cluster_port: Option<u16>, routes: &[u16]) -> String {
        let listen = cluster_port.map_or("-1".to_owned(), |p| p.to_string());
        let routes: Vec<String> = routes.iter().map(|port| format!("    \"nats-route://127.0.0.1:{port}\"")).collect();
        format!(
            "server_name: \"{server_name}\"\n\
             cluster {{\n  \
               name: \"{name}\"\n  \
               listen: \"127.0.0.1:{listen}\"\n  \
               routes: [\n{routes}\n  ]\n\
             }}\n",
            name = self.name,
            server_name = server_name(&self.name, i),
            routes = routes.join("\n"),
        )
    }

    /// Waits until every running node routes to every other running node and is healthy.
    fn await_formed(&mut self) {
        let deadline = Instant::now() + FORM_TIMEOUT;
        let running: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].pid().is_some()).collect();
        let peers = running.len().saturating_sub(1);
        let (name, jetstream) = (&self.name, self.jetstream);
        for &i in &running {
            let mut last = String::new();
            let node = &mut self.nodes[i];
            let formed = poll(deadline, || {
                node.check_alive("the cluster to form");
                let routes = node.monitor_get("/routez").ok()?;
                let num_routes: usize = json_scalar(&routes, "num_routes")?.parse().ok()?;
                last = format!("{num_routes} of {peers} routes");
                if num_routes < peers {
                    return None;
                }
                // 200 once JetStream (if on) has a meta leader and is current.
                if let Err(e) = node.monitor_get("/healthz") {
                    last = format!("routes up, /healthz: {e}");
                    return None;
                }
                if jetstream && !meta_group_complete(node, &server_name(name, i), peers) {
                    last = "routes up, JetStream meta group incomplete".to_owned();
                    return None;
                }
                Some(())
            });
            if formed.is_none() {
                node.fail(&format!("cluster node {i} did not join within {FORM_TIMEOUT:?} (last seen: {last})"));
            }
        }
    }
}

/// The `server_name` of node `i` of cluster `name`.
fn server_name(name: &str, i: usize) -> String {
    format!("{name}-n{i}")
}

/// Whether `node` knows the JetStream meta leader and, if it is the leader itself, sees all
/// `peers` other nodes as current members (otherwise an R3 stream create can still fail with
/// "no suitable peers for placement").
fn meta_group_complete(node: &NatsServer, own_name: &str, peers: usize) -> bool {
    let Ok(jsz) = node.monitor_get("/jsz") else {
        return false;
    };
    // `/jsz` is pretty-printed; names and values contain no whitespace.
    let jsz: String = jsz.split_whitespace().collect();
    let Some(meta) = jsz.split_once("\"meta_cluster\":").map(|(_, meta)| meta) else {
        return false;
    };
    match json_scalar(meta, "leader") {
        None | Some("") => false,
        Some(leader) if leader == own_name => {
            let replicas = meta.split_once("\"replicas\":[").map_or("", |(_, r)| r);
            let replicas = replicas.split_once(']').map_or("", |(r, _)| r);
            replicas.matches("\"current\":true").count() >= peers && !replicas.contains("\"offline\":true")
        }
        Some(_) => true,
    }
}

/// The cluster port of `node`, which every cluster node has.
fn cluster_port(node: &NatsServer) -> u16 {
    node.cluster_port().expect("a cluster node reports its cluster port in its ports file")
}
