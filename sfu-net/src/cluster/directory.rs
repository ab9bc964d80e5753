//! The records a cluster shares, and the trait a store implements.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A node's name in the cluster: 1–64 of `[A-Za-z0-9_-]`, chosen by the
/// operator or drawn at random; it is a key in the directory, so it is
/// checked when made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// `id` as a node id, if it has the shape.
    pub fn new(id: &str) -> Option<Self> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What other nodes need to reach a live node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its id.
    pub id: NodeId,
    /// Base URL of its HTTP API, for node-to-node requests
    /// (`http://10.0.0.2:8080`).
    pub http: String,
    /// The media address its relay links use (datagrams from other nodes
    /// arrive there).
    pub relay: SocketAddr,
    /// It is stopping: it takes no new children, and its children move.
    pub draining: bool,
    /// Drawn at random when the node's process starts: a node restarted
    /// under the same id within a heartbeat is another incarnation, whose
    /// relay links and sessions are gone.
    pub incarnation: u64,
}

/// A published track, named as the application names it: the app, the
/// publishing session's id and the track's name (Calls' `(sessionId,
/// trackName)` within an app).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackKey {
    /// The application (Calls app id).
    pub app: String,
    /// The publishing session's id, as the application knows it.
    pub session: String,
    /// The track's name in that session.
    pub name: String,
}

impl fmt::Display for TrackKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.app, self.session, self.name)
    }
}

/// Why the directory could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The store cannot be reached (a partition, a restart): nothing can be
    /// known or changed until it comes back. Relay links already open keep
    /// forwarding; only new placements wait.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The store answered with a record this node cannot read.
    #[error("directory record unreadable: {0}")]
    Corrupt(String),
    /// A bound of the store was reached (too many records of one kind).
    #[error("directory full: {0}")]
    Full(&'static str),
}

/// A cluster's shared records. Every call may fail with
/// [`DirectoryError::Unavailable`]; callers keep what already works and
/// retry later, they never tear down media because the store is away.
///
/// Records that belong to a node (its sessions, its tracks, its places in
/// trees) stay after it dies; readers check liveness with
/// [`Directory::nodes`] and the owner rewrites them after a store restart.
pub trait Directory {
    /// Records `node` alive until `now + ttl` (its heartbeat; the store may
    /// count expiry on its own clock).
    fn heartbeat(
        &mut self,
        now: Instant,
        node: &NodeRecord,
        ttl: Duration,
    ) -> Result<(), DirectoryError>;

    /// Forgets `node` at once (a graceful stop).
    fn leave(&mut self, node: &NodeId) -> Result<(), DirectoryError>;

    /// The live record of each of `ids`, in order (`None`: expired or
    /// unknown).
    fn nodes(
        &mut self,
        now: Instant,
        ids: &[NodeId],
    ) -> Result<Vec<Option<NodeRecord>>, DirectoryError>;

    /// Records that `node` holds the session `session` of `app`.
    fn set_session(
        &mut self,
        app: &str,
        session: &str,
        node: &NodeId,
    ) -> Result<(), DirectoryError>;

    /// The node holding a session, if any is recorded.
    fn session(&mut self, app: &str, session: &str) -> Result<Option<NodeId>, DirectoryError>;

    /// Forgets a session (it closed).
    fn remove_session(&mut self, app: &str, session: &str) -> Result<(), DirectoryError>;

    /// Records that `track` is published on `node` (the root of its tree).
    fn set_origin(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError>;

    /// The node `track` is published on, if recorded.
    fn origin(&mut self, track: &TrackKey) -> Result<Option<NodeId>, DirectoryError>;

    /// Forgets a track and its tree (it ended).
    fn remove_track(&mut self, track: &TrackKey) -> Result<(), DirectoryError>;

    /// Records `node` in `track`'s tree below `parent` (replacing any
    /// earlier parent of `node`).
    fn set_parent(
        &mut self,
        track: &TrackKey,
        node: &NodeId,
        parent: &NodeId,
    ) -> Result<(), DirectoryError>;

    /// Takes `node` out of `track`'s tree (its own children keep their
    /// edges to it until they move).
    fn leave_tree(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError>;

    /// `track`'s tree as `(node, parent)` edges, at most
    /// [`crate::cluster::MAX_TREE_NODES`] of them.
    fn tree(&mut self, track: &TrackKey) -> Result<Vec<(NodeId, NodeId)>, DirectoryError>;
}

#[cfg(test)]
mod tests {
    use super::NodeId;

    #[test]
    fn node_ids_are_plain_names() {
        assert!(NodeId::new("node-a_1").is_some());
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(NodeId::new(bad).is_none(), "{bad:?}");
        }
    }
}
