//! WHIP ingest and WHEP playback (RFC 9725): resources behind unguessable
//! URLs that only their holder can end, an optional bearer per stream,
//! viewers that may come before their publisher and stay across its
//! restarts.

use hyper::header::{self, HeaderName};
use hyper::{Method, StatusCode};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use sfu::net::{NodeEvent, SessionId};

use crate::calls::wire::fail;
use crate::http::Reply;
use crate::ids;
use crate::node::{Listener, Sfu};
use crate::quota::{Reservation, SourceQuota};

/// Streams with a publisher or viewers, at most.
const MAX_STREAMS: usize = 4096;
/// Viewers per stream, at most.
const MAX_VIEWERS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Publisher,
    Viewer,
}

#[derive(Debug)]
struct Resource {
    role: Role,
    stream: String,
    session: SessionId,
}

#[derive(Debug, Default)]
struct Stream {
    publisher: Option<SessionId>,
    viewers: Vec<SessionId>,
}

#[derive(Debug, Default)]
struct Tables {
    streams: HashMap<String, Stream>,
    /// By the resource id in the URL.
    resources: HashMap<String, Resource>,
    by_session: HashMap<SessionId, String>,
}

impl Tables {
    /// Records `session` as `role` of `stream` behind `resource`.
    fn add(&mut self, resource: &str, role: Role, stream: &str, session: SessionId) {
        let s = self.streams.entry(stream.to_owned()).or_default();
        match role {
            Role::Publisher => s.publisher = Some(session),
            Role::Viewer => s.viewers.push(session),
        }
        self.by_session.insert(session, resource.to_owned());
        self.resources.insert(
            resource.to_owned(),
            Resource {
                role,
                stream: stream.to_owned(),
                session,
            },
        );
    }

    fn forget(&mut self, session: SessionId) {
        let Some(id) = self.by_session.remove(&session) else {
            return;
        };
        let Some(r) = self.resources.remove(&id) else {
            return;
        };
        if let Some(s) = self.streams.get_mut(&r.stream) {
            match r.role {
                Role::Publisher => s.publisher = None,
                Role::Viewer => s.viewers.retain(|v| *v != session),
            }
            if s.publisher.is_none() && s.viewers.is_empty() {
                self.streams.remove(&r.stream);
            }
        }
    }
}

/// The WHIP and WHEP endpoints.
pub struct Whip {
    sfu: Sfu,
    tables: std::sync::Mutex<Tables>,
    /// One publish or view at a time: each is a check, node calls, then a
    /// record, which must not interleave with another's.
    turn: tokio::sync::Mutex<()>,
    token: Option<String>,
    stream_tokens: HashMap<String, String>,
    /// Sessions per source for streams that need no token.
    quota: Arc<SourceQuota>,
    /// Cluster mode: streams published on other nodes.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
}

/// What a WHIP/WHEP request carries, read by the transport.
pub struct WhipRequest<'a> {
    pub method: &'a Method,
    pub path: &'a [&'a str],
    pub query: &'a str,
    pub authorization: Option<&'a [u8]>,
    pub sdp_body: bool,
    pub body: &'a [u8],
    /// The client's address, for the per-source quota of open streams.
    pub source: IpAddr,
}

fn allow(reply: Reply) -> Reply {
    reply
        .with_header(header::ALLOW, "OPTIONS, POST, DELETE, PATCH")
        .with_header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "OPTIONS, POST, DELETE, PATCH, PUT",
        )
        .with_header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, If-Match",
        )
        .with_header(HeaderName::from_static("accept-post"), "application/sdp")
}

fn sdp_reply(status: StatusCode, location: Option<String>, sdp: String) -> Reply {
    let reply = Reply::bytes(status, "application/sdp", sdp.into_bytes());
    match location {
        Some(l) => reply.with_header(header::LOCATION, l),
        None => reply,
    }
}

impl Whip {
    pub fn new(
        sfu: Sfu,
        token: Option<String>,
        stream_tokens: Vec<(String, String)>,
        quota: Arc<SourceQuota>,
    ) -> Self {
        Self {
            sfu,
            tables: std::sync::Mutex::default(),
            turn: tokio::sync::Mutex::new(()),
            token,
            stream_tokens: stream_tokens.into_iter().collect(),
            quota,
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Whether `stream` is open to anyone (no token guards it).
    fn open(&self, stream: &str) -> bool {
        self.token_for(stream).is_none()
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bearer `stream` needs: its own, else the server-wide one.
    fn token_for(&self, stream: &str) -> Option<&String> {
        self.stream_tokens.get(stream).or(self.token.as_ref())
    }

    fn authorized(&self, stream: &str, authorization: Option<&[u8]>) -> bool {
        match self.token_for(stream) {
            None => true,
            Some(t) => {
                ids::bearer(authorization).is_some_and(|p| ids::secret_matches(p, t.as_bytes()))
            }
        }
    }

    /// Serves `/whip/...` and `/whep/...`.
    pub async fn handle(&self, r: WhipRequest<'_>) -> Reply {
        let role = match r.path.first() {
            Some(&"whip") => Role::Publisher,
            _ => Role::Viewer,
        };
        let Some(stream) = r.path.get(1).copied().filter(|s| ids::valid_name(s)) else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "stream names are 1-64 letters, digits, '-' or '_'",
            );
        };
        if r.method == Method::OPTIONS {
            return allow(Reply::bytes(StatusCode::NO_CONTENT, "text/plain", ""));
        }
        match (r.method, &r.path[2..]) {
            (&Method::POST, []) => {
                if !self.authorized(stream, r.authorization) {
                    return Reply::error(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "this stream needs its bearer token",
                    )
                    .with_header(header::WWW_AUTHENTICATE, "Bearer");
                }
                let Some(offer) = sdp_text(&r) else {
                    return Reply::error(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "invalid_request",
                        "the body must be an application/sdp offer",
                    );
                };
                let reservation = if self.open(stream) {
                    match self.quota.reserve(r.source) {
                        Ok(reservation) => Some(reservation),
                        Err(reply) => return reply,
                    }
                } else {
                    None
                };
                match role {
                    Role::Publisher => self.publish(stream, offer, reservation).await,
                    Role::Viewer => self.view(stream, offer, layer(r.query), reservation).await,
                }
            }
            (method, [resource, rest @ ..]) if ids::is_id(resource) => {
                let found = {
                    let t = self.tables();
                    t.resources
                        .get(*resource)
                        .filter(|x| x.role == role && x.stream == stream)
                        .map(|x| x.session)
                };
                let Some(session) = found else {
                    return Reply::error(StatusCode::NOT_FOUND, "not_found", "no such resource");
                };
                self.on_resource(method, role, session, rest, &r).await
            }
            (_, [_, ..]) => Reply::error(StatusCode::NOT_FOUND, "not_found", "no such resource"),
            _ => allow(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "POST an SDP offer here",
            )),
        }
    }

    async fn on_resource(
        &self,
        method: &Method,
        role: Role,
        session: SessionId,
        rest: &[&str],
        r: &WhipRequest<'_>,
    ) -> Reply {
        match (method, rest, role) {
            (&Method::DELETE, [], _) => {
                let closed = self
                    .sfu
                    .try_call(move |n, now| n.close_session(now, session))
                    .await;
                self.tables().forget(session);
                match closed {
                    Ok(()) | Err(sfu::net::Error::UnknownSession) => {
                        Reply::bytes(StatusCode::OK, "text/plain", "")
                    }
                    Err(e) => fail(&e),
                }
            }
            // The node is ICE-lite with all its candidates in the answer;
            // it supports neither trickle nor ICE restarts (RFC 9725 4.3).
            (&Method::PATCH, [], _) => allow(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "no trickle ICE or ICE restart: the server is ICE-lite and sends all candidates",
            )),
            // Extension: a viewer adds another stream by an SFU offer.
            (&Method::POST, ["pull", source], Role::Viewer) if ids::valid_name(source) => {
                let publisher = {
                    let t = self.tables();
                    t.streams.get(*source).and_then(|s| s.publisher)
                };
                let Some(publisher) = publisher else {
                    return Reply::error(
                        StatusCode::NOT_FOUND,
                        "track_not_found",
                        format!("stream {source} has no publisher"),
                    );
                };
                let pulled = self
                    .sfu
                    .try_call(move |n, now| {
                        let pulls = n.source_pulls(publisher);
                        n.pull_tracks(now, session, &pulls, None)
                    })
                    .await;
                match pulled.map(|p| p.description) {
                    Ok(Some(offer)) => sdp_reply(StatusCode::OK, None, offer.sdp),
                    Ok(None) => Reply::error(
                        StatusCode::CONFLICT,
                        "nothing_to_add",
                        format!("stream {source} has nothing to add"),
                    ),
                    Err(e) => fail(&e),
                }
            }
            (&Method::PUT, ["answer"], Role::Viewer) => {
                let Some(answer) = sdp_text(r) else {
                    return Reply::error(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "invalid_request",
                        "the body must be an application/sdp answer",
                    );
                };
                match self
                    .sfu
                    .try_call(move |n, now| n.apply_answer(now, session, &answer))
                    .await
                {
                    Ok(()) => Reply::bytes(StatusCode::OK, "text/plain", ""),
                    Err(e) => fail(&e),
                }
            }
            _ => allow(Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "DELETE ends this resource",
            )),
        }
    }

    async fn publish(&self, stream: &str, offer: String, slot: Option<Reservation>) -> Reply {
        let _turn = self.turn.lock().await;
        let checked = {
            let t = self.tables();
            if t.streams.get(stream).is_some_and(|s| s.publisher.is_some()) {
                Err(Reply::error(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("stream {stream} already has a publisher"),
                ))
            } else if !t.streams.contains_key(stream) && t.streams.len() >= MAX_STREAMS {
                Err(Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many streams",
                ))
            } else {
                Ok(t.streams
                    .get(stream)
                    .map(|s| s.viewers.clone())
                    .unwrap_or_default())
            }
        };
        let viewers = match checked {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let Some(resource) = ids::random_id() else {
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "no randomness",
            );
        };
        let published = self
            .sfu
            .try_call(move |n, now| {
                let p = n.publish(now, &offer)?;
                let pulls = n.source_pulls(p.session);
                for v in viewers {
                    if let Err(e) = n.attach(now, v, &pulls) {
                        tracing::warn!(viewer = %v, "attach: {e}");
                    }
                }
                let names: Vec<String> = pulls.into_iter().map(|p| p.name).collect();
                Ok((p, names))
            })
            .await;
        let (p, names) = match published {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        if let Some(c) = self.cluster.get() {
            c.stream_published(stream, p.session, &names);
        }
        if let Some(slot) = slot {
            slot.bind(p.session);
        }
        self.tables()
            .add(&resource, Role::Publisher, stream, p.session);
        tracing::info!(stream, session = %p.session, "WHIP publish");
        sdp_reply(
            StatusCode::CREATED,
            Some(format!("/whip/{stream}/{resource}")),
            p.answer,
        )
    }

    async fn view(
        &self,
        stream: &str,
        offer: String,
        layer: Option<String>,
        slot: Option<Reservation>,
    ) -> Reply {
        let _turn = self.turn.lock().await;
        let checked = {
            let t = self.tables();
            let (publisher, viewers) = t
                .streams
                .get(stream)
                .map(|s| (s.publisher, s.viewers.len()))
                .unwrap_or((None, 0));
            let new_stream = viewers == 0 && publisher.is_none();
            if viewers >= MAX_VIEWERS || (new_stream && t.streams.len() >= MAX_STREAMS) {
                Err(Reply::error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many viewers",
                ))
            } else {
                Ok(publisher)
            }
        };
        let publisher = match checked {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let Some(resource) = ids::random_id() else {
            return Reply::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "no randomness",
            );
        };
        // Cluster mode: a stream published on another node is pulled from
        // this node's place in its tracks' trees.
        let remote = match (publisher, self.cluster.get()) {
            (None, Some(c)) => match c.stream_pulls(stream).await {
                Ok(pulls) => Some(pulls),
                Err(crate::cluster::JoinError::NotFound) => None,
                Err(e) => {
                    return Reply::error(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string());
                }
            },
            _ => None,
        };
        let viewing = self
            .sfu
            .try_call(move |n, now| {
                let pulls = match remote {
                    Some(pulls) => pulls,
                    None => publisher.map(|p| n.source_pulls(p)).unwrap_or_default(),
                };
                n.view(now, &offer, &pulls, layer)
            })
            .await;
        let v = match viewing {
            Ok(v) => v,
            Err(e) => return fail(&e),
        };
        if let Some(slot) = slot {
            slot.bind(v.session);
        }
        self.tables()
            .add(&resource, Role::Viewer, stream, v.session);
        sdp_reply(
            StatusCode::CREATED,
            Some(format!("/whep/{stream}/{resource}")),
            v.answer,
        )
    }
}

impl Listener for Whip {
    fn on_event(&self, event: &NodeEvent) {
        if let NodeEvent::Closed { session, .. } = event {
            self.tables().forget(*session);
        }
    }
}

fn sdp_text(r: &WhipRequest<'_>) -> Option<String> {
    if !r.sdp_body {
        return None;
    }
    String::from_utf8(r.body.to_vec()).ok()
}

fn layer(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("layer="))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}
