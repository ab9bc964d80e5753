//! Where each node sits in each track's tree: the nodes join in turn
//! through a [`MemoryDirectory`], each below the parent
//! [`choose_parent`] picks from the records, as a node process does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sfu_net::cluster::{
    Directory, DirectoryError, MemoryDirectory, NodeId, NodeRecord, TrackKey, choose_parent,
};

use crate::model::TRACK_NAMES;

/// Each track's tree over the nodes, as the directory recorded it.
#[derive(Debug, Clone)]
pub(crate) struct Trees {
    /// Per node, its parent in each stream's tree (`None`: the origin).
    pub(crate) parent: Vec<[Option<usize>; 2]>,
}

fn track(stream: usize) -> TrackKey {
    TrackKey {
        app: "sim".into(),
        session: "publisher".into(),
        name: TRACK_NAMES[stream].into(),
    }
}

/// Node 0 is the origin of both tracks; nodes 1, 2, … join each track's
/// tree in turn at `now` with at most `fanout` children per node.
pub(crate) fn join_in_turn(
    now: Instant,
    nodes: usize,
    fanout: usize,
) -> Result<Trees, DirectoryError> {
    let mut dir = MemoryDirectory::new();
    let ids: Vec<NodeId> = (0..nodes)
        .map(|n| NodeId::new(&format!("node-{n}")).expect("a plain node id"))
        .collect();
    let index: HashMap<&NodeId, usize> = ids.iter().enumerate().map(|(n, id)| (id, n)).collect();
    for (n, id) in ids.iter().enumerate() {
        let record = NodeRecord {
            id: id.clone(),
            http: format!("http://{id}.sim:8080"),
            relay: SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 4000)),
            draining: false,
            incarnation: 1,
        };
        dir.heartbeat(now, &record, Duration::from_secs(30))?;
    }
    for s in 0..2 {
        dir.set_origin(&track(s), &ids[0])?;
    }
    for me in &ids[1..] {
        for s in 0..2 {
            let key = track(s);
            let origin = dir.origin(&key)?.expect("the origin is recorded");
            let edges = dir.tree(&key)?;
            let live = dir.nodes(now, &ids)?;
            let usable = |id: &NodeId| {
                index
                    .get(id)
                    .and_then(|&n| live[n].as_ref())
                    .is_some_and(|r| !r.draining)
            };
            let parent = choose_parent(&origin, &edges, me, usable, fanout, &[])
                .expect("a live tree has a node with room");
            dir.set_parent(&key, me, &parent)?;
        }
    }
    let mut parent = vec![[None; 2]; nodes];
    for s in 0..2 {
        for (node, up) in dir.tree(&track(s))? {
            if let Some(p) = parent.get_mut(index[&node]) {
                p[s] = Some(index[&up]);
            }
        }
    }
    Ok(Trees { parent })
}

impl Trees {
    /// Hops from the origin to `node` in stream `s`'s tree.
    pub(crate) fn depth(&self, node: usize, s: usize) -> usize {
        let mut depth = 0;
        let mut at = node;
        while let Some(up) = self.parent[at][s] {
            depth += 1;
            at = up;
            assert!(depth <= self.parent.len(), "a cycle in the tree");
        }
        depth
    }

    /// The relay links: (parent, child) → the streams whose trees have that
    /// edge, children in node order (a node joins after its parent).
    pub(crate) fn links(&self) -> Vec<(usize, usize, Vec<usize>)> {
        let mut links: Vec<(usize, usize, Vec<usize>)> = Vec::new();
        for (child, parents) in self.parent.iter().enumerate() {
            for (s, p) in parents.iter().enumerate() {
                let Some(p) = *p else { continue };
                match links
                    .iter_mut()
                    .find(|(lp, lc, _)| (*lp, *lc) == (p, child))
                {
                    Some(l) => l.2.push(s),
                    None => links.push((p, child, vec![s])),
                }
            }
        }
        links
    }
}
