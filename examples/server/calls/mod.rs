//! Cloudflare's Calls API (sessions and tracks, no rooms), on the node:
//! `/v1/apps/{appId}/sessions/...`. The transport has checked the app's
//! bearer before any of this runs.

mod sessions;
mod state;
mod tracks;
pub mod wire;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};

use sfu::net::{NodeEvent, PushTrack};

pub use sessions::{CallsSession, Sessions};

use crate::http::Reply;
use crate::ids;
use crate::node::{Listener, Sfu};
use crate::quota::SourceQuota;
use wire::{NewSession, NewSessionReply, SessionDescription, fail, offer_of, parse};

/// Tracks in one request, as Calls allows.
pub const MAX_TRACKS: usize = 64;
/// How long a pull of a track not published yet waits for it: well under
/// the node's 30 s for a session's first exchange, so a viewer whose pull
/// gave up still has a session to retry on.
pub const PULL_WAIT: Duration = Duration::from_secs(20);

/// Who sent a Calls request, as the transport saw it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    /// The client's address when it came without the app's bearer (the
    /// demo's proxy): new sessions count against its quota.
    pub open_source: Option<IpAddr>,
    /// Another node forwarded it (cluster mode): never forwarded again.
    pub forwarded: bool,
}

/// The Calls API of every configured app.
pub struct Calls {
    pub sessions: Arc<Sessions>,
    sfu: Sfu,
    rate: u32,
    max_sessions: usize,
    /// Sessions per source for requests without the app's bearer (the
    /// demo's proxy).
    quota: Arc<SourceQuota>,
    /// Woken whenever any session publishes a track (for waiting pulls).
    published: tokio::sync::Notify,
    /// Cluster mode: where tracks of sessions on other nodes come from.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Calls {
    pub fn new(sfu: Sfu, rate: u32, max_sessions: usize, quota: Arc<SourceQuota>) -> Self {
        Self {
            sessions: Arc::new(Sessions::default()),
            sfu,
            rate,
            max_sessions,
            quota,
            published: tokio::sync::Notify::new(),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Serves `rest` (the path after `/v1/apps/{app}/`) for `app`; new
    /// sessions count against `open_source`'s quota when the request came
    /// without the app's bearer.
    pub async fn handle(
        &self,
        app: &str,
        method: &Method,
        rest: &[&str],
        query: &str,
        body: Bytes,
        caller: Caller,
    ) -> Reply {
        let Caller {
            open_source,
            forwarded,
        } = caller;
        match (method, rest) {
            (&Method::POST, ["sessions", "new"])
                if query.split('&').any(|kv| kv == "thirdparty=true") =>
            {
                Reply::error(
                    StatusCode::NOT_IMPLEMENTED,
                    "not_implemented",
                    "third-party sessions (the SFU offering toward another endpoint) are not supported yet",
                )
            }
            (&Method::POST, ["sessions", "new"]) => self.new_session(app, &body, open_source).await,
            (_, ["sessions", id, more @ ..]) => {
                let Some(session) = ids::is_id(id).then(|| self.sessions.get(app, id)).flatten()
                else {
                    // Cluster mode: another node may hold it.
                    if let (true, Some(cluster)) = (ids::is_id(id), self.cluster.get()) {
                        let mut target = format!("/v1/apps/{app}/{}", rest.join("/"));
                        if !query.is_empty() {
                            target = format!("{target}?{query}");
                        }
                        if let Some(reply) = cluster
                            .forward(app, id, method, target, &body, forwarded)
                            .await
                        {
                            return reply;
                        }
                    }
                    return Reply::error(
                        StatusCode::NOT_FOUND,
                        "session_not_found",
                        format!("no session {id} in this app"),
                    );
                };
                if !session.admit(Instant::now(), self.rate) {
                    return Reply::error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        format!("at most {} requests per second per session", self.rate),
                    );
                }
                self.session_request(app, &session, method, more, &body)
                    .await
            }
            _ => Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no Calls endpoint {method} {}", rest.join("/")),
            ),
        }
    }

    async fn session_request(
        &self,
        app: &str,
        session: &Arc<CallsSession>,
        method: &Method,
        path: &[&str],
        body: &[u8],
    ) -> Reply {
        match (method, path) {
            (&Method::GET, []) => self.state(session).await,
            (&Method::POST, ["tracks", "new"]) => self.new_tracks(app, session, body).await,
            (&Method::PUT, ["renegotiate"]) => self.renegotiate(session, body).await,
            (&Method::PUT, ["tracks", "close"]) => self.close_tracks(session, body).await,
            (&Method::PUT, ["tracks", "update"]) => self.update_tracks(app, session, body).await,
            _ => Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no Calls endpoint {method} sessions/{{id}}/{}",
                    path.join("/")
                ),
            ),
        }
    }

    /// `POST sessions/new`, with an optional offer whose sending sections
    /// are published as tracks named by their mids.
    async fn new_session(&self, app: &str, body: &[u8], open_source: Option<IpAddr>) -> Reply {
        let request: NewSession = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let reservation = match open_source.map(|ip| self.quota.reserve(ip)).transpose() {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if self.sessions.count(app) >= self.max_sessions {
            return Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                format!(
                    "this app has {} live sessions, the limit",
                    self.max_sessions
                ),
            );
        }
        let Some(id) = ids::random_id() else {
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "no randomness",
            );
        };
        let offer = match offer_of(request.session_description, "sessions/new takes an offer") {
            Ok(o) => o,
            Err(reply) => return reply,
        };
        let created = self
            .sfu
            .try_call(move |n, now| {
                let session = n.create_session(now)?;
                let Some(offer) = offer else {
                    return Ok((session, None));
                };
                match n.push_tracks(now, session, &offer, &[]) {
                    Ok(negotiated) => Ok((session, negotiated.description)),
                    Err(e) => {
                        let _ = n.close_session(now, session);
                        Err(e)
                    }
                }
            })
            .await;
        match created {
            Ok((node, description)) => {
                if let Some(r) = reservation {
                    r.bind(node);
                }
                self.sessions.insert(id.clone(), app, node, self.rate);
                if let Some(c) = self.cluster.get() {
                    c.session_opened(app, &id, node).await;
                }
                tracing::info!(app, session = %id, %node, "calls session created");
                Reply::json(
                    StatusCode::CREATED,
                    &NewSessionReply {
                        session_id: id,
                        session_description: description.map(SessionDescription::from_node),
                    },
                )
            }
            Err(e) => fail(&e),
        }
    }

    /// `PUT sessions/{id}/renegotiate`: the client's answer to our offer.
    async fn renegotiate(&self, session: &CallsSession, body: &[u8]) -> Reply {
        let request: wire::Renegotiate = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("expected {{sessionDescription}}: {e}"),
                );
            }
        };
        let description = request.session_description;
        let _turn = session.lock.lock().await;
        let node = session.node;
        if description.is_offer() {
            // A client offer outside tracks/new: answer it, publishing any
            // new sending section by its mid.
            let sdp = description.sdp;
            return match self
                .sfu
                .try_call(move |n, now| n.push_tracks(now, node, &sdp, &[]))
                .await
            {
                Ok(negotiated) => Reply::json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "sessionDescription": negotiated.description.map(SessionDescription::from_node)
                    }),
                ),
                Err(e) => fail(&e),
            };
        }
        let sdp = description.sdp;
        match self
            .sfu
            .try_call(move |n, now| n.apply_answer(now, node, &sdp))
            .await
        {
            Ok(()) => Reply::json(StatusCode::OK, &serde_json::json!({})),
            Err(e) => fail(&e),
        }
    }

    /// The sending sections of `offer` as tracks named by their
    /// `a=msid` track id (else their mid): `autoDiscover`.
    fn discover(offer: &str) -> Vec<PushTrack> {
        let Ok(d) = sfu::net::sdp::Description::parse(offer) else {
            return Vec::new();
        };
        d.sections
            .iter()
            .filter(|s| !s.is_rejected() && s.direction.sends())
            .map(|s| {
                let name = s
                    .msid
                    .as_ref()
                    .map(|m| m.track.clone())
                    .filter(|t| ids::valid_track_name(t))
                    .unwrap_or_else(|| s.mid.clone());
                PushTrack::new(s.mid.clone(), name)
            })
            .collect()
    }
}

impl Listener for Calls {
    fn on_event(&self, event: &NodeEvent) {
        self.sessions.on_event(event);
        if matches!(event, NodeEvent::TrackPublished { .. }) {
            self.published.notify_waiters();
        }
    }
}
