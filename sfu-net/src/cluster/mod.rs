//! Per-track trees across node processes. Each node is its own process
//! with its own media and HTTP addresses; a shared [`Directory`] says which
//! node owns each session and each published track, which nodes are alive
//! (heartbeats that expire), and each track's tree: which node relays the
//! track to which. A node that needs a track published elsewhere joins that
//! track's tree below a parent [`choose_parent`] picks: the origin relays to
//! at most `fanout` nodes, further nodes attach below nodes already in the
//! tree, so the origin's upstream bandwidth is O(fanout), not O(nodes).
//!
//! Nothing here does I/O or reads a clock. The directory is a trait with
//! time as an argument: [`MemoryDirectory`] serves simulations and tests,
//! the reference server keeps its records in Redis behind the same trait.
//! The relay links a tree is made of are the node's own
//! ([`crate::Node::open_relay`]); how a child asks its parent for a link is
//! the application's (the reference server calls the parent's HTTP API).

mod directory;
mod memory;
mod tree;

pub use directory::{Directory, DirectoryError, NodeId, NodeRecord, TrackKey};
pub use memory::MemoryDirectory;
pub use tree::{MAX_TREE_NODES, choose_parent, subtree};
