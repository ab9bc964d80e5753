//! Which handler serves which path, and the checks every request passes
//! first: the app's bearer before a Calls body is read, bounded bodies,
//! CORS preflights.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderName};
use hyper::{Method, Request, StatusCode};

use crate::calls::Calls;
use crate::config::App;
use crate::demo::Rooms;
use crate::http::{self, Handler, Limits, Reply};
use crate::ids;
use crate::metrics::{self, Gauges, HttpCounters};
use crate::node::Sfu;
use crate::whip::{Whip, WhipRequest};

/// Everything a request may reach.
pub struct Server {
    pub apps: Vec<App>,
    pub demo: bool,
    pub metrics_token: Option<String>,
    pub limits: Limits,
    pub sfu: Sfu,
    pub calls: Arc<Calls>,
    pub whip: Arc<Whip>,
    pub rooms: Arc<Rooms>,
    /// The meeting's MLS broadcast channels.
    pub channels: Arc<crate::meeting::channel::Channels>,
    /// The meeting's Rust members (with the demo and an app).
    pub members: Option<Arc<crate::meeting::member::Members>>,
    pub counters: Arc<HttpCounters>,
    /// Cluster mode: the node-to-node API under `/cluster/v1/`.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

fn preflight() -> Reply {
    Reply::bytes(StatusCode::NO_CONTENT, "text/plain", "")
        .with_header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE, PATCH, OPTIONS",
        )
        .with_header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Authorization, Content-Type, If-Match",
        )
        .with_header(header::ACCESS_CONTROL_MAX_AGE, "600")
}

fn not_found(path: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("nothing at {path}"),
    )
}

impl Server {
    fn app_for(&self, id: &str, authorization: Option<&[u8]>) -> Result<&App, Reply> {
        let presented = ids::bearer(authorization);
        self.apps
            .iter()
            .find(|a| a.id == id)
            .filter(|a| presented.is_some_and(|p| ids::secret_matches(p, a.secret.as_bytes())))
            .ok_or_else(|| {
                Reply::error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "Authorization: Bearer <app secret> is missing or wrong for this app",
                )
                .with_header(header::WWW_AUTHENTICATE, "Bearer")
            })
    }

    async fn metrics(&self, authorization: Option<&[u8]>) -> Reply {
        if let Some(t) = &self.metrics_token
            && !ids::bearer(authorization).is_some_and(|p| ids::secret_matches(p, t.as_bytes()))
        {
            return Reply::error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "metrics need the bearer",
            );
        }
        let handle = self.sfu.handle().clone();
        let Ok(Ok(stats)) = tokio::task::spawn_blocking(move || handle.stats()).await else {
            return Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the node did not answer",
            );
        };
        let gauges = Gauges {
            calls_sessions: self.calls.sessions.total(),
            node_sessions: stats.node.sessions,
            mls_rejected: self.channels.rejected(),
        };
        Reply::bytes(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics::render(&stats, &gauges, &self.counters),
        )
    }
}

impl Handler for Server {
    async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Reply {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let query = request.uri().query().unwrap_or("").to_owned();
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let auth = authorization.as_deref();
        let sdp_body = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/sdp")
            });
        let forwarded = request.headers().contains_key(crate::cluster::FORWARDED);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        tracing::debug!(%peer, %method, path, "request");
        if method == Method::OPTIONS && matches!(segments.first(), Some(&"v1" | &"demo")) {
            return preflight();
        }
        // Checks that need no body come first: nobody makes us read a body
        // for a request we refuse anyway.
        // The demo's proxy needs no bearer: its sessions count against
        // the client's per-source quota.
        let open_source = matches!(segments.as_slice(), ["demo", "api", ..]).then(|| peer.ip());
        let calls_app = match segments.as_slice() {
            ["v1", "apps", app, ..] => match self.app_for(app, auth) {
                Ok(a) => Some((a.id.clone(), 3)),
                Err(reply) => return reply,
            },
            // partytracks asks its page server for ICE servers; the node is
            // ICE-lite with its host candidates in every answer: none needed.
            ["demo", "api", "generate-ice-servers"] if self.demo => {
                return Reply::json(StatusCode::OK, &serde_json::json!({ "iceServers": [] }));
            }
            ["demo", "api", ..] if self.demo => self.apps.first().map(|a| (a.id.clone(), 2)),
            _ => None,
        };
        // Node-to-node requests: the cluster's bearer before any body.
        let cluster = match (segments.as_slice(), &self.cluster) {
            (["cluster", "v1", ..], Some(c)) => {
                if !c.authorized(auth) {
                    return crate::cluster::unauthorized();
                }
                Some(Arc::clone(c))
            }
            _ => None,
        };
        if let Some(reply) = http::announced_too_large(&request, &self.limits) {
            return reply;
        }
        let body = if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            match http::read_body(request.into_body(), &self.limits).await {
                Ok(b) => b,
                Err(reply) => return reply,
            }
        } else {
            bytes::Bytes::new()
        };
        if let Some(c) = cluster {
            return crate::cluster::handle_api(&c, &method, &segments[2..], &body).await;
        }
        if let Some((app, skip)) = calls_app {
            return self
                .calls
                .handle(
                    &app,
                    &method,
                    &segments[skip..],
                    &query,
                    body,
                    crate::calls::Caller {
                        open_source,
                        forwarded,
                    },
                )
                .await;
        }
        match (&method, segments.as_slice()) {
            (&Method::GET, [""] | ["index.html"]) => Reply::page(include_str!("pages/index.html")),
            (&Method::GET, ["publish.html"]) => Reply::page(include_str!("pages/publish.html")),
            (&Method::GET, ["watch.html"]) => Reply::page(include_str!("pages/watch.html")),
            (&Method::GET, ["demo"] | ["demo", ""]) if self.demo => {
                Reply::page(include_str!("pages/demo.html"))
            }
            (_, ["demo", "rooms", room, "mls", op]) if self.demo => {
                crate::meeting::handle(
                    &self.channels,
                    &method,
                    room,
                    op,
                    &query,
                    ids::bearer(auth),
                    &body,
                )
                .await
            }
            (_, ["demo", "rooms", room, "member"]) if self.demo => {
                crate::meeting::handle_member(self.members.as_deref(), &method, room)
            }
            (&Method::GET, ["e2ee", file @ ..]) => {
                match crate::meeting::module_file(&file.join("/")) {
                    Some(js) => Reply::bytes(StatusCode::OK, "text/javascript", js),
                    None => not_found(&path),
                }
            }
            (_, ["demo", "rooms", room]) if self.demo => match self.apps.first() {
                Some(app) => self
                    .rooms
                    .handle(&method, room, &body, &self.calls.sessions, &app.id),
                None => not_found(&path),
            },
            (&Method::GET, ["healthz"]) => Reply::text(StatusCode::OK, "ok"),
            (&Method::GET, ["metrics"]) => self.metrics(auth).await,
            (_, ["whip" | "whep", ..]) => {
                self.whip
                    .handle(WhipRequest {
                        method: &method,
                        path: &segments,
                        query: &query,
                        authorization: auth,
                        sdp_body,
                        body: &body,
                        source: peer.ip(),
                    })
                    .await
            }
            _ => not_found(&path).with_header(HeaderName::from_static("cache-control"), "no-store"),
        }
    }
}
