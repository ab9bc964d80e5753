//! A directory in one process's memory, with expiry on the time it is
//! given: for simulations and tests, and for a single process that runs
//! several nodes.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::tree::MAX_TREE_NODES;
use super::{Directory, DirectoryError, NodeId, NodeRecord, TrackKey};

/// At most this many records of each kind (nodes, sessions, tracks).
const MAX_RECORDS: usize = 1 << 20;

/// [`Directory`] in memory. [`MemoryDirectory::set_available`] stands in
/// for a partition from the store.
#[derive(Debug)]
pub struct MemoryDirectory {
    nodes: HashMap<NodeId, (NodeRecord, Instant)>,
    sessions: HashMap<(String, String), NodeId>,
    origins: HashMap<TrackKey, NodeId>,
    trees: HashMap<TrackKey, BTreeMap<NodeId, NodeId>>,
    available: bool,
}

impl Default for MemoryDirectory {
    fn default() -> Self {
        Self {
            nodes: HashMap::new(),
            sessions: HashMap::new(),
            origins: HashMap::new(),
            trees: HashMap::new(),
            available: true,
        }
    }
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail with [`DirectoryError::Unavailable`] (false)
    /// or answer again (true), keeping the records.
    pub fn set_available(&mut self, available: bool) {
        self.available = available;
    }

    fn check(&self) -> Result<(), DirectoryError> {
        if self.available {
            Ok(())
        } else {
            Err(DirectoryError::Unavailable("partitioned".into()))
        }
    }
}

fn room<K: std::hash::Hash + Eq, V>(
    map: &HashMap<K, V>,
    key: &K,
    what: &'static str,
) -> Result<(), DirectoryError> {
    if map.len() >= MAX_RECORDS && !map.contains_key(key) {
        return Err(DirectoryError::Full(what));
    }
    Ok(())
}

impl Directory for MemoryDirectory {
    fn heartbeat(
        &mut self,
        now: Instant,
        node: &NodeRecord,
        ttl: Duration,
    ) -> Result<(), DirectoryError> {
        self.check()?;
        room(&self.nodes, &node.id, "nodes")?;
        self.nodes
            .insert(node.id.clone(), (node.clone(), now + ttl));
        Ok(())
    }

    fn leave(&mut self, node: &NodeId) -> Result<(), DirectoryError> {
        self.check()?;
        self.nodes.remove(node);
        Ok(())
    }

    fn nodes(
        &mut self,
        now: Instant,
        ids: &[NodeId],
    ) -> Result<Vec<Option<NodeRecord>>, DirectoryError> {
        self.check()?;
        Ok(ids
            .iter()
            .map(|id| {
                self.nodes
                    .get(id)
                    .filter(|(_, until)| *until > now)
                    .map(|(r, _)| r.clone())
            })
            .collect())
    }

    fn set_session(
        &mut self,
        app: &str,
        session: &str,
        node: &NodeId,
    ) -> Result<(), DirectoryError> {
        self.check()?;
        let key = (app.to_owned(), session.to_owned());
        room(&self.sessions, &key, "sessions")?;
        self.sessions.insert(key, node.clone());
        Ok(())
    }

    fn session(&mut self, app: &str, session: &str) -> Result<Option<NodeId>, DirectoryError> {
        self.check()?;
        Ok(self
            .sessions
            .get(&(app.to_owned(), session.to_owned()))
            .cloned())
    }

    fn remove_session(&mut self, app: &str, session: &str) -> Result<(), DirectoryError> {
        self.check()?;
        self.sessions.remove(&(app.to_owned(), session.to_owned()));
        Ok(())
    }

    fn set_origin(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError> {
        self.check()?;
        room(&self.origins, track, "tracks")?;
        self.origins.insert(track.clone(), node.clone());
        Ok(())
    }

    fn origin(&mut self, track: &TrackKey) -> Result<Option<NodeId>, DirectoryError> {
        self.check()?;
        Ok(self.origins.get(track).cloned())
    }

    fn remove_track(&mut self, track: &TrackKey) -> Result<(), DirectoryError> {
        self.check()?;
        self.origins.remove(track);
        self.trees.remove(track);
        Ok(())
    }

    fn set_parent(
        &mut self,
        track: &TrackKey,
        node: &NodeId,
        parent: &NodeId,
    ) -> Result<(), DirectoryError> {
        self.check()?;
        room(&self.trees, track, "trees")?;
        let tree = self.trees.entry(track.clone()).or_default();
        if tree.len() >= MAX_TREE_NODES && !tree.contains_key(node) {
            return Err(DirectoryError::Full("nodes in one tree"));
        }
        tree.insert(node.clone(), parent.clone());
        Ok(())
    }

    fn leave_tree(&mut self, track: &TrackKey, node: &NodeId) -> Result<(), DirectoryError> {
        self.check()?;
        if let Some(tree) = self.trees.get_mut(track) {
            tree.remove(node);
        }
        Ok(())
    }

    fn tree(&mut self, track: &TrackKey) -> Result<Vec<(NodeId, NodeId)>, DirectoryError> {
        self.check()?;
        Ok(self
            .trees
            .get(track)
            .map(|t| t.iter().map(|(n, p)| (n.clone(), p.clone())).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> NodeRecord {
        NodeRecord {
            id: NodeId::new(id).unwrap(),
            http: format!("http://{id}"),
            relay: "127.0.0.1:1".parse().unwrap(),
            draining: false,
            incarnation: 1,
        }
    }

    #[test]
    fn heartbeats_expire_and_a_partition_keeps_the_records() {
        let mut d = MemoryDirectory::new();
        let t0 = Instant::now();
        let a = record("a");
        d.heartbeat(t0, &a, Duration::from_secs(2)).unwrap();
        let ids = [a.id.clone(), NodeId::new("b").unwrap()];
        assert_eq!(d.nodes(t0, &ids).unwrap(), vec![Some(a.clone()), None]);
        d.set_available(false);
        assert!(matches!(
            d.nodes(t0, &ids),
            Err(DirectoryError::Unavailable(_))
        ));
        d.set_available(true);
        assert_eq!(
            d.nodes(t0 + Duration::from_secs(1), &ids).unwrap()[0],
            Some(a)
        );
        assert_eq!(d.nodes(t0 + Duration::from_secs(2), &ids).unwrap()[0], None);
    }
}
