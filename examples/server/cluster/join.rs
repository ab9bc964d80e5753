//! The child's side of a tree: joining a track's tree below a parent the
//! directory suggests and the parent accepts, and moving below another
//! parent when the first one dies or drains.

use std::collections::HashMap;

use hyper::{Method, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};

use sfu::net::cluster::{DirectoryError, NodeId, NodeRecord, TrackKey, choose_parent};
use sfu::net::{RelayKeys, SessionId, SrtpProfile};

use super::wire::{self, RelayRequest, Relayed, Track, UnrelayRequest};
use super::{Cluster, HEARTBEAT_TTL, Link, TICK, Upstream, Write, peer, relay_name};

/// Why a pull of a track published elsewhere failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the cluster directory is unavailable: {0}")]
    Directory(#[from] DirectoryError),
    #[error("no node publishes this track")]
    NotFound,
    #[error("no node of the track's tree can relay it (all full, draining or unreachable)")]
    NoParent,
    #[error("the node: {0}")]
    Node(#[from] sfu::net::Error),
}

impl JoinError {
    /// The Calls `errorCode`.
    pub fn code(&self) -> &'static str {
        match self {
            JoinError::Directory(_) => "directory_unavailable",
            JoinError::NotFound => "track_not_found",
            JoinError::NoParent => "no_relay_parent",
            JoinError::Node(e) => crate::calls::wire::code_of(e).1,
        }
    }
}

/// How long after a re-attach its pulls restart at a keyframe.
const RESYNC_AFTER: std::time::Duration = std::time::Duration::from_millis(600);

/// Candidate parents tried per join before giving up.
const ATTEMPTS: usize = 4;

/// What the directory says about a track's tree: its origin, its edges,
/// and the live records of every node in it.
struct TreeView {
    origin: NodeId,
    edges: Vec<(NodeId, NodeId)>,
    live: HashMap<NodeId, NodeRecord>,
}

impl TreeView {
    /// What this node records of a track received from `parent` on `link`.
    fn upstream(&self, parent: &NodeId, link: SessionId) -> Upstream {
        let incarnation = |n: &NodeId| self.live.get(n).map_or(0, |r| r.incarnation);
        Upstream {
            parent: parent.clone(),
            origin: self.origin.clone(),
            parent_incarnation: incarnation(parent),
            origin_incarnation: incarnation(&self.origin),
            link,
            moving: false,
        }
    }
}

impl Cluster {
    async fn tree_view(&self, key: &TrackKey) -> Result<Option<TreeView>, JoinError> {
        let key = key.clone();
        Ok(self
            .dir
            .run(move |d, now| {
                let Some(origin) = d.origin(&key)? else {
                    return Ok(None);
                };
                let edges = d.tree(&key)?;
                let mut ids: Vec<NodeId> = edges
                    .iter()
                    .flat_map(|(n, p)| [n.clone(), p.clone()])
                    .chain([origin.clone()])
                    .collect();
                ids.sort();
                ids.dedup();
                let records = d.nodes(now, &ids)?;
                let live = ids
                    .into_iter()
                    .zip(records)
                    .filter_map(|(id, r)| r.map(|r| (id, r)))
                    .collect();
                Ok(Some(TreeView {
                    origin,
                    edges,
                    live,
                }))
            })
            .await?)
    }

    /// The local source of `key` for a pull on this node: the relay
    /// session publishing it and its name there, joining the track's tree
    /// first if this node is not in it yet.
    pub async fn source(&self, key: &TrackKey) -> Result<(SessionId, String), JoinError> {
        let known = |c: &Cluster| c.state().upstream.get(key).map(|u| u.link);
        // A track not (yet) in the directory is looked for again for a
        // heartbeat's time, without holding up other joins: right after
        // Redis came back empty, the origin rewrites its records within it.
        let deadline = tokio::time::Instant::now() + HEARTBEAT_TTL + 2 * TICK;
        loop {
            if known(self).is_some() {
                break;
            }
            match self.tree_view(key).await? {
                Some(v) if v.live.contains_key(&v.origin) => break,
                _ if tokio::time::Instant::now() < deadline => tokio::time::sleep(TICK).await,
                _ => return Err(JoinError::NotFound),
            }
        }
        let _turn = self.joining.lock().await;
        if let Some(link) = known(self) {
            return Ok((link, relay_name(key)));
        }
        let view = self.tree_view(key).await?.ok_or(JoinError::NotFound)?;
        if !view.live.contains_key(&view.origin) {
            return Err(JoinError::NotFound);
        }
        let (parent, link) = self.attach(key, &view, &[]).await?;
        self.state()
            .upstream
            .insert(key.clone(), view.upstream(&parent, link));
        self.write(Write::Parent(key.clone(), parent));
        Ok((link, relay_name(key)))
    }

    /// Finds a parent in `view` that accepts us (skipping `avoid`), opens
    /// or reuses the link to it and publishes the track it relays in that
    /// link's session.
    async fn attach(
        &self,
        key: &TrackKey,
        view: &TreeView,
        avoid: &[NodeId],
    ) -> Result<(NodeId, SessionId), JoinError> {
        // `avoid` (a parent that died or restarted) is out of the tree
        // with its subtree; a node that refused us is only no candidate.
        let mut skip = Vec::new();
        for _ in 0..ATTEMPTS {
            let usable =
                |n: &NodeId| !avoid.contains(n) && view.live.get(n).is_some_and(|r| !r.draining);
            let parent = choose_parent(
                &view.origin,
                &view.edges,
                self.id(),
                usable,
                self.fanout,
                &skip,
            )
            .ok_or(JoinError::NoParent)?;
            let Some(record) = view.live.get(&parent).cloned() else {
                return Err(JoinError::NoParent);
            };
            match self.ask(key, &record).await {
                Ok(link) => return Ok((parent, link)),
                Err(e) => {
                    tracing::info!(track = %key, parent = %parent, "relay refused: {e}");
                    skip.push(parent);
                }
            }
        }
        Err(JoinError::NoParent)
    }

    /// The link to `parent`, opened with fresh keys if there is none.
    async fn link_to(&self, parent: &NodeRecord) -> Result<Link, String> {
        if let Some(l) = self.state().links.get(&parent.id)
            && l.remote == parent.relay
            && l.incarnation == parent.incarnation
        {
            return Ok(l.clone());
        }
        let profile = SrtpProfile::AeadAes128Gcm;
        let mut material = vec![0u8; profile.keying_material_len()];
        SystemRandom::new()
            .fill(&mut material)
            .map_err(|_| "no OS randomness for relay keys".to_owned())?;
        let keys = RelayKeys::new(profile, material.clone()).map_err(|e| e.to_string())?;
        let remote = parent.relay;
        let old = self.state().links.remove(&parent.id);
        let session = self
            .sfu
            .try_call(move |n, now| {
                if let Some(old) = old {
                    let _ = n.close_session(now, old.session);
                }
                n.open_relay(now, remote, Some(&keys), false)
            })
            .await
            .map_err(|e| e.to_string())?;
        let link = Link {
            session,
            remote,
            keys: material,
            incarnation: parent.incarnation,
        };
        self.state().links.insert(parent.id.clone(), link.clone());
        Ok(link)
    }

    /// Asks `parent` to relay `key` to us; publishes what it relays.
    async fn ask(&self, key: &TrackKey, parent: &NodeRecord) -> Result<SessionId, String> {
        let link = self.link_to(parent).await?;
        let request = RelayRequest {
            track: Track::of(key),
            child: self.id().to_string(),
            relay: self.me.relay,
            keys: wire::hex(&link.keys),
            incarnation: self.me.incarnation,
        };
        let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        let (status, answer) = peer::call(
            &parent.http,
            Method::POST,
            "/cluster/v1/relay",
            &self.secret,
            body,
        )
        .await?;
        if status != StatusCode::OK {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&answer)));
        }
        let relayed: Relayed = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        let track = relayed
            .track()
            .filter(|t| t.name == relay_name(key))
            .ok_or("the parent's track description is malformed")?;
        let session = link.session;
        let name = track.name.clone();
        self.sfu
            .try_call(move |n, now| {
                // A track of that name left from an earlier parent on the
                // same link: replaced.
                let _ = n.end_relay_track(now, session, &name);
                n.accept_relay_track(now, session, track)
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(session)
    }

    /// Moves `key` below another parent (the current one died or drains):
    /// every pull of it on this node, viewers' and children's, carries on
    /// from the new link without a new stream.
    pub async fn reattach(&self, key: TrackKey) {
        let _turn = self.joining.lock().await;
        let Some(old) = self.state().upstream.get(&key).cloned() else {
            return;
        };
        let result = async {
            let view = self.tree_view(&key).await?.ok_or(JoinError::NotFound)?;
            if !view.live.contains_key(&view.origin) {
                return Err(JoinError::NotFound);
            }
            let (parent, link) = self
                .attach(&key, &view, std::slice::from_ref(&old.parent))
                .await?;
            let name = relay_name(&key);
            let from = old.link;
            let moved = self
                .sfu
                .try_call(move |n, now| {
                    let moved = n.move_pulls(now, from, &name, link, &name)?;
                    let _ = n.end_relay_track(now, from, &name);
                    Ok(moved)
                })
                .await?;
            Ok::<_, JoinError>((view.upstream(&parent, link), moved))
        }
        .await;
        match result {
            Ok((upstream, moved)) => {
                let parent = upstream.parent.clone();
                tracing::info!(track = %key, from = %old.parent, to = %parent, moved, "re-attached");
                self.state().upstream.insert(key.clone(), upstream);
                self.write(Write::Parent(key.clone(), parent));
                self.release(&key, &old.parent).await;
                drop(_turn);
                self.resync(&key).await;
            }
            Err(JoinError::NotFound) => {
                tracing::info!(track = %key, "the track's origin is gone: ended here");
                self.end_upstream(&key).await;
            }
            Err(e) => {
                tracing::warn!(track = %key, "re-attach failed, retrying: {e}");
                if let Some(u) = self.state().upstream.get_mut(&key) {
                    u.moving = false;
                }
            }
        }
    }

    /// Once a re-attached track has settled (the new parent answered our
    /// layer demand), every pull of it here starts again at a keyframe,
    /// keeping its SSRCs and numbering: a browser that got frames it could
    /// not decode while the new link settled (seen in 1 of ~30 browser
    /// runs, packets but no decodable frame until its own keyframe request
    /// 3 s later) decodes again at once.
    async fn resync(&self, key: &TrackKey) {
        tokio::time::sleep(RESYNC_AFTER).await;
        let Some(link) = self.state().upstream.get(key).map(|u| u.link) else {
            return;
        };
        let name = relay_name(key);
        let _ = self
            .sfu
            .try_call(move |n, now| n.move_pulls(now, link, &name, link, &name))
            .await;
    }

    /// Tells a former parent (if it still answers) to stop relaying `key`.
    async fn release(&self, key: &TrackKey, parent: &NodeId) {
        let id = parent.clone();
        let Ok(records) = self
            .dir
            .run(move |d, now| d.nodes(now, std::slice::from_ref(&id)))
            .await
        else {
            return;
        };
        let Some(Some(record)) = records.into_iter().next() else {
            return;
        };
        let request = UnrelayRequest {
            track: Track::of(key),
            child: self.id().to_string(),
        };
        if let Ok(body) = serde_json::to_vec(&request) {
            let _ = peer::call(
                &record.http,
                Method::POST,
                "/cluster/v1/unrelay",
                &self.secret,
                body,
            )
            .await;
        }
    }

    /// Ends a relayed-in track here (its origin is gone): its pulls end.
    pub async fn end_upstream(&self, key: &TrackKey) {
        let Some(u) = self.state().upstream.remove(key) else {
            return;
        };
        let name = relay_name(key);
        let _ = self
            .sfu
            .call(move |n, now| n.end_relay_track(now, u.link, &name))
            .await;
        self.write(Write::LeaveTree(key.clone()));
    }
}
