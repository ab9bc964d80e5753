//! Every tick: this node's heartbeat and pending records to the directory
//! (all of them again after an outage), then the liveness of the nodes it
//! depends on and serves. A dead or draining parent is replaced
//! ([`Cluster::reattach`]); a dead origin ends the track here; a dead
//! child is no longer relayed to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sfu::net::cluster::{Directory, DirectoryError, NodeId, NodeRecord, TrackKey};

use super::{Cluster, HEARTBEAT_TTL, TICK, Write};

/// Origins of relayed-in tracks are re-read every this many ticks (a
/// track that ended on a live origin is noticed within a second).
const ORIGIN_CHECK_TICKS: u64 = 4;

/// Runs the cluster's ticks for as long as the runtime runs.
pub fn spawn(cluster: Arc<Cluster>) {
    tokio::spawn(async move {
        let mut ticks = 0u64;
        loop {
            tick(&cluster, ticks).await;
            ticks += 1;
            tokio::time::sleep(TICK).await;
        }
    });
}

fn apply(d: &mut dyn Directory, me: &NodeId, w: &Write) -> Result<(), DirectoryError> {
    match w {
        Write::Session(app, id) => d.set_session(app, id, me),
        Write::RemoveSession(app, id) => d.remove_session(app, id),
        Write::Origin(key) => d.set_origin(key, me),
        Write::RemoveTrack(key) => d.remove_track(key),
        Write::Parent(key, parent) => d.set_parent(key, me, parent),
        Write::LeaveTree(key) => d.leave_tree(key, me),
        Write::RemoveChild(key, child) => d.leave_tree(key, child),
    }
}

impl Cluster {
    /// The writes due now: the queue, or every record this node holds.
    fn due_writes(&self) -> Vec<Write> {
        let mut st = self.state();
        let mut writes = std::mem::take(&mut st.writes);
        if st.resync {
            st.resync = false;
            writes.clear();
            writes.extend(
                st.sessions
                    .iter()
                    .map(|(app, id)| Write::Session(app.clone(), id.clone())),
            );
            writes.extend(st.origins.iter().cloned().map(Write::Origin));
            writes.extend(
                st.upstream
                    .iter()
                    .map(|(k, u)| Write::Parent(k.clone(), u.parent.clone())),
            );
        }
        writes
    }

    /// Beats and writes; whether the directory's answers about other nodes
    /// can be trusted now.
    async fn beat(&self) -> bool {
        let writes = self.due_writes();
        let me = NodeRecord {
            draining: self.draining(),
            ..self.me.clone()
        };
        let result = self
            .dir
            .run(move |d, now| {
                d.heartbeat(now, &me, HEARTBEAT_TTL)?;
                for w in &writes {
                    apply(d, &me.id, w)?;
                }
                Ok(())
            })
            .await;
        let mut st = self.state();
        match result {
            Ok(()) => {
                if !st.directory_up {
                    tracing::info!("cluster directory reachable");
                    st.up_since = Some(Instant::now());
                }
                st.directory_up = true;
                drop(st);
                self.absences_trusted()
            }
            Err(e) => {
                if st.directory_up {
                    tracing::warn!("cluster directory lost ({e}): relays keep forwarding");
                }
                st.directory_up = false;
                // Everything is written again once it answers (it may
                // have restarted empty).
                st.resync = true;
                false
            }
        }
    }

    /// Closes the link to a dead node and forgets what it carried.
    pub(super) async fn forget_node(&self, node: &NodeId) {
        let keys: Vec<TrackKey> = self
            .state()
            .downstream
            .iter()
            .filter(|(_, c)| c.contains(node))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.drop_child(k, node).await;
            self.write(Write::RemoveChild(k.clone(), node.clone()));
        }
        let carries_upstream = {
            let st = self.state();
            st.links
                .get(node)
                .is_some_and(|l| st.upstream.values().any(|u| u.link == l.session))
        };
        if carries_upstream {
            return;
        }
        let link = self.state().links.remove(node);
        if let Some(link) = link {
            tracing::info!(%node, "node gone: its relay link closed");
            let _ = self
                .sfu
                .call(move |n, now| n.close_session(now, link.session))
                .await;
        }
    }
}

async fn tick(cluster: &Arc<Cluster>, ticks: u64) {
    if !cluster.beat().await {
        return;
    }
    let (upstream, children) = {
        let st = cluster.state();
        let upstream: Vec<(TrackKey, super::Upstream)> = st
            .upstream
            .iter()
            .map(|(k, u)| (k.clone(), u.clone()))
            .collect();
        let mut children: Vec<NodeId> = st.downstream.values().flatten().cloned().collect();
        children.sort();
        children.dedup();
        (upstream, children)
    };
    if upstream.is_empty() && children.is_empty() {
        return;
    }
    let mut ids: Vec<NodeId> = upstream
        .iter()
        .flat_map(|(_, u)| [u.parent.clone(), u.origin.clone()])
        .chain(children.iter().cloned())
        .collect();
    ids.sort();
    ids.dedup();
    let check_origins = ticks.is_multiple_of(ORIGIN_CHECK_TICKS);
    let keys: Vec<TrackKey> = upstream.iter().map(|(k, _)| k.clone()).collect();
    let lookup = ids.clone();
    let Ok((records, origins)) = cluster
        .dir
        .run(move |d, now| {
            let records = d.nodes(now, &lookup)?;
            let mut origins = Vec::new();
            if check_origins {
                for k in &keys {
                    origins.push(d.origin(k)?);
                }
            }
            Ok((records, origins))
        })
        .await
    else {
        return;
    };
    let live: HashMap<NodeId, NodeRecord> = ids
        .into_iter()
        .zip(records)
        .filter_map(|(id, r)| r.map(|r| (id, r)))
        .collect();
    for (i, (key, u)) in upstream.iter().enumerate() {
        // Another incarnation of the origin is a restart: its sessions,
        // and this track, are gone.
        let origin_gone = live
            .get(&u.origin)
            .is_none_or(|r| r.incarnation != u.origin_incarnation)
            || (check_origins
                && origins
                    .get(i)
                    .is_some_and(|o| o.as_ref() != Some(&u.origin)));
        if origin_gone {
            tracing::info!(track = %key, origin = %u.origin, "origin gone: the track ends here");
            cluster.end_upstream(key).await;
            continue;
        }
        let parent_ok = live
            .get(&u.parent)
            .is_some_and(|r| !r.draining && r.incarnation == u.parent_incarnation);
        if !parent_ok && !u.moving {
            if let Some(x) = cluster.state().upstream.get_mut(key) {
                x.moving = true;
            }
            tracing::info!(track = %key, parent = %u.parent, "parent dead or draining: re-attaching");
            let c = Arc::clone(cluster);
            let key = key.clone();
            tokio::spawn(async move { c.reattach(key).await });
        }
    }
    for child in children {
        let linked = cluster.state().links.get(&child).map(|l| l.incarnation);
        let gone = live
            .get(&child)
            .is_none_or(|r| linked.is_some_and(|i| i != r.incarnation));
        if gone {
            cluster.forget_node(&child).await;
        }
    }
}
