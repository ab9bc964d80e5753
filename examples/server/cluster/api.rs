//! The parent's side of a tree, on the HTTP port under `/cluster/v1/`,
//! for other nodes only (the cluster's bearer):
//!
//! - `POST relay` `{track, child, relay, keys}`: relay `track` to the
//!   child's media address on the link keyed with `keys`; `409 tree_full`
//!   when this node already relays it to `fanout` nodes, `503 draining`.
//! - `POST unrelay` `{track, child}`: stop relaying `track` to `child`.
//! - `GET state`: this node's parents and children per track.

use std::collections::BTreeMap;

use hyper::{Method, StatusCode};

use sfu::net::cluster::NodeId;
use sfu::net::{RelayKeys, SessionId, SrtpProfile};

use super::wire::{self, RelayRequest, Relayed, UnrelayRequest};
use super::{Cluster, Link, relay_name};
use crate::http::Reply;
use crate::ids;

fn bad(description: impl Into<String>) -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The answer to a node-to-node request without the cluster's bearer.
pub fn unauthorized() -> Reply {
    Reply::error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "the cluster's bearer is missing or wrong",
    )
}

/// Serves `rest` (the path after `/cluster/v1/`) of a request that
/// carried the cluster's bearer ([`Cluster::authorized`]).
pub async fn handle(cluster: &Cluster, method: &Method, rest: &[&str], body: &[u8]) -> Reply {
    match (method, rest) {
        (&Method::POST, ["relay"]) => match serde_json::from_slice::<RelayRequest>(body) {
            Ok(r) => cluster.relay(r).await,
            Err(e) => bad(format!("expected {{track, child, relay, keys}}: {e}")),
        },
        (&Method::POST, ["unrelay"]) => match serde_json::from_slice::<UnrelayRequest>(body) {
            Ok(r) => cluster.unrelay(r).await,
            Err(e) => bad(format!("expected {{track, child}}: {e}")),
        },
        (&Method::GET, ["state"]) => cluster.state_reply(),
        (&Method::GET, ["streams", stream]) if ids::valid_name(stream) => {
            cluster.stream_reply(stream).await
        }
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no cluster endpoint {method} {}", rest.join("/")),
        ),
    }
}

impl Cluster {
    /// Whether `authorization` carries the cluster's secret.
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        ids::bearer(authorization).is_some_and(|p| ids::secret_matches(p, self.secret.as_bytes()))
    }

    /// Where `key` comes from on this node: the publisher's session, or
    /// the relay link this node receives it on.
    fn local_source(&self, key: &sfu::net::cluster::TrackKey) -> Option<(SessionId, String)> {
        if let Some(u) = self.state().upstream.get(key) {
            return Some((u.link, relay_name(key)));
        }
        if key.app == super::WHIP_APP {
            return Some((self.stream_session(&key.session)?, key.name.clone()));
        }
        let s = self.sessions.get(&key.app, &key.session)?;
        Some((s.node, key.name.clone()))
    }

    async fn relay(&self, r: RelayRequest) -> Reply {
        let (Some(key), Some(child)) = (r.track.key(), r.child()) else {
            return bad("track {app, session, name} or child id malformed");
        };
        if child == *self.id() {
            return bad("a node does not relay to itself");
        }
        let profile = SrtpProfile::AeadAes128Gcm;
        let Some(material) = wire::unhex(&r.keys, profile.keying_material_len())
            .filter(|m| m.len() == profile.keying_material_len())
        else {
            return bad("keys: hex of AES-128-GCM SRTP keying material");
        };
        if self.draining() {
            return Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "draining",
                "this node is stopping",
            );
        }
        let Some((source, source_name)) = self.local_source(&key) else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "track_not_found",
                format!("{key} is not on this node"),
            );
        };
        let others = |c: &Cluster| -> Vec<NodeId> {
            let st = c.state();
            let children = st.downstream.get(&key).map(Vec::as_slice).unwrap_or(&[]);
            children.iter().filter(|c| **c != child).cloned().collect()
        };
        let siblings = others(self);
        let mut counted = siblings.len();
        if counted >= self.fanout && self.absences_trusted() {
            // A child that died or drains counts no more: the node asking
            // is often its orphan, asking before our own tick noticed (a
            // draining child keeps its relay until it goes).
            let ids = siblings.clone();
            if let Ok(live) = self.dir.run(move |d, now| d.nodes(now, &ids)).await {
                counted = 0;
                for (id, record) in siblings.iter().zip(live) {
                    match record {
                        None => self.forget_node(id).await,
                        Some(r) if !r.draining => counted += 1,
                        Some(_) => {}
                    }
                }
            }
        }
        if counted >= self.fanout {
            return Reply::error(
                StatusCode::CONFLICT,
                "tree_full",
                format!("this node relays {key} to {} nodes already", self.fanout),
            );
        }
        let existing = self.state().links.get(&child).cloned();
        let reuse = existing
            .as_ref()
            .filter(|l| l.remote == r.relay && l.keys == material && l.incarnation == r.incarnation)
            .map(|l| l.session);
        let keys = match RelayKeys::new(profile, material.clone()) {
            Ok(k) => k,
            Err(e) => return bad(e.to_string()),
        };
        let name = relay_name(&key);
        let remote = r.relay;
        let result = self
            .sfu
            .try_call(move |n, now| {
                let link = match reuse {
                    Some(link) => link,
                    None => {
                        // The child came back with new keys (it restarted):
                        // its old link is dead.
                        if let Some(old) = existing {
                            let _ = n.close_session(now, old.session);
                        }
                        n.open_relay(now, remote, Some(&keys), true)?
                    }
                };
                let _ = n.end_relay_track(now, link, &name);
                let track = n.relay_track(now, link, source, &source_name, &name)?;
                Ok((link, track))
            })
            .await;
        match result {
            Ok((link, track)) => {
                let mut st = self.state();
                st.links.insert(
                    child.clone(),
                    Link {
                        session: link,
                        remote: r.relay,
                        keys: material,
                        incarnation: r.incarnation,
                    },
                );
                let children = st.downstream.entry(key.clone()).or_default();
                if !children.contains(&child) {
                    children.push(child.clone());
                }
                drop(st);
                tracing::info!(track = %key, %child, "relaying");
                Reply::json(StatusCode::OK, &Relayed::of(&track))
            }
            Err(e) => crate::calls::wire::fail(&e),
        }
    }

    async fn unrelay(&self, r: UnrelayRequest) -> Reply {
        let (Some(key), Some(child)) = (r.track.key(), r.child()) else {
            return bad("track {app, session, name} or child id malformed");
        };
        self.drop_child(&key, &child).await;
        Reply::json(StatusCode::OK, &serde_json::json!({}))
    }

    /// Stops relaying `key` to `child`.
    pub(super) async fn drop_child(&self, key: &sfu::net::cluster::TrackKey, child: &NodeId) {
        let link = {
            let mut st = self.state();
            let Some(children) = st.downstream.get_mut(key) else {
                return;
            };
            children.retain(|c| c != child);
            if children.is_empty() {
                st.downstream.remove(key);
            }
            st.links.get(child).map(|l| l.session)
        };
        if let Some(link) = link {
            let name = relay_name(key);
            let _ = self
                .sfu
                .call(move |n, now| n.end_relay_track(now, link, &name))
                .await;
        }
    }

    fn state_reply(&self) -> Reply {
        let st = self.state();
        let parents: BTreeMap<String, String> = st
            .upstream
            .iter()
            .map(|(k, u)| (k.to_string(), u.parent.to_string()))
            .collect();
        let children: BTreeMap<String, Vec<String>> = st
            .downstream
            .iter()
            .map(|(k, c)| (k.to_string(), c.iter().map(NodeId::to_string).collect()))
            .collect();
        Reply::json(
            StatusCode::OK,
            &serde_json::json!({
                "node": self.id().to_string(),
                "draining": st.draining,
                "directory": st.directory_up,
                "parents": parents,
                "children": children,
            }),
        )
    }
}
