//! The HTTP side of the reference servers (WHIP ingest, WHEP playback, the
//! publish and watch pages), shared by `whip_whep` (one node) and `cascade`
//! (ingest node and edge node joined by a relay link).

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sfu::net::driver::{DriverEvent, DriverHandle, Events, RelayKeys};
use sfu::router::SessionId;

/// Largest SDP body we read.
const MAX_SDP: u64 = 64 * 1024;

/// Which node a session lives on (session ids are per node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// Where publishers connect.
    Ingest,
    /// Where viewers connect (the ingest node itself without a cascade).
    Edge,
}

/// The SFU nodes the HTTP server drives.
pub struct Nodes {
    /// Publishers connect here.
    pub ingest: DriverHandle,
    /// Viewers connect here, fed over a relay link; `None`: viewers use the
    /// ingest node.
    pub edge: Option<Edge>,
}

/// The edge node of a cascade and how to reach it.
pub struct Edge {
    /// Its driver.
    pub driver: DriverHandle,
    /// Where the ingest node binds relay sockets (port 0: any).
    pub ingest_relay_bind: SocketAddr,
    /// Where the edge node binds relay sockets.
    pub edge_relay_bind: SocketAddr,
    /// SRTP keys for relay links (`None`: plain RTP, e.g. on loopback).
    pub keys: Option<RelayKeys>,
}

impl Nodes {
    fn viewers(&self) -> (Node, &DriverHandle) {
        match &self.edge {
            Some(e) => (Node::Edge, &e.driver),
            None => (Node::Ingest, &self.ingest),
        }
    }

    fn driver(&self, node: Node) -> &DriverHandle {
        match (node, &self.edge) {
            (Node::Edge, Some(e)) => &e.driver,
            _ => &self.ingest,
        }
    }
}

#[derive(Default)]
struct Stream {
    /// The publisher's session on the ingest node.
    publisher: Option<SessionId>,
    /// What viewers pull from: the publisher, or the edge end of its relay.
    source: Option<SessionId>,
    /// Relay sessions (ingest end, edge end) to close with the publisher.
    relay: Option<(SessionId, SessionId)>,
    viewers: Vec<SessionId>,
}

/// Streams by name; HTTP resources by the number in their URL.
struct Directory {
    streams: HashMap<String, Stream>,
    resources: HashMap<u64, (Node, SessionId, String)>,
    next_resource: u64,
    /// The node viewers are on.
    viewer_node: Node,
}

impl Directory {
    fn add_resource(&mut self, node: Node, session: SessionId, stream: &str) -> String {
        self.next_resource += 1;
        self.resources
            .insert(self.next_resource, (node, session, stream.to_owned()));
        format!("/session/{}", self.next_resource)
    }

    /// Forgets a session that ended; returns relay sessions to close when it
    /// was a publisher.
    fn forget(&mut self, node: Node, session: SessionId) -> Option<(SessionId, SessionId)> {
        let key = self
            .resources
            .iter()
            .find(|(_, (n, s, _))| *n == node && *s == session)
            .map(|(k, _)| *k)?;
        let (_, _, name) = self.resources.remove(&key)?;
        let stream = self.streams.get_mut(&name)?;
        let mut relay = None;
        if node == Node::Ingest && stream.publisher == Some(session) {
            stream.publisher = None;
            stream.source = None;
            relay = stream.relay.take();
        }
        if node == self.viewer_node {
            stream.viewers.retain(|v| *v != session);
        }
        if stream.publisher.is_none() && stream.viewers.is_empty() {
            self.streams.remove(&name);
        }
        relay
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    location: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            location: None,
            body: body.into_bytes(),
        }
    }

    fn page(html: &'static str) -> Self {
        Self {
            status: 200,
            content_type: "text/html; charset=utf-8",
            location: None,
            body: html.as_bytes().to_vec(),
        }
    }

    fn sdp(location: String, answer: String) -> Self {
        Self {
            status: 201,
            content_type: "application/sdp",
            location: Some(location),
            body: answer.into_bytes(),
        }
    }
}

/// Stream names are path segments we echo in URLs: keep them plain.
fn valid_stream(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn read_sdp(request: &mut tiny_http::Request) -> Result<String, Reply> {
    let is_sdp = request.headers().iter().any(|h| {
        h.field.equiv("Content-Type") && h.value.as_str().trim().starts_with("application/sdp")
    });
    if !is_sdp {
        return Err(Reply::text(415, "Content-Type must be application/sdp"));
    }
    let mut body = String::new();
    match request
        .as_reader()
        .take(MAX_SDP + 1)
        .read_to_string(&mut body)
    {
        Ok(n) if n as u64 > MAX_SDP => Err(Reply::text(413, "SDP offer too large")),
        Ok(_) => Ok(body),
        Err(_) => Err(Reply::text(400, "SDP offer is not UTF-8 text")),
    }
}

/// A publication as viewers see it: the publisher's answer, the session
/// viewers pull from, and the relay sessions (ingest end, edge end).
struct Published {
    publication: sfu::net::driver::Publication,
    source: SessionId,
    relay: Option<(SessionId, SessionId)>,
}

/// Publishes on the ingest node and, in a cascade, relays to the edge.
fn publish(nodes: &Nodes, offer: &str) -> Result<Published, String> {
    let publication = nodes.ingest.publish(offer).map_err(|e| e.to_string())?;
    let Some(edge) = &nodes.edge else {
        let source = publication.session;
        return Ok(Published {
            publication,
            source,
            relay: None,
        });
    };
    let relayed = (|| {
        let offer = nodes.ingest.relay_out(
            publication.session,
            edge.ingest_relay_bind,
            edge.keys.clone(),
        )?;
        let out = offer.session;
        let (edge_session, edge_addr) =
            edge.driver
                .relay_in(offer, edge.edge_relay_bind, edge.keys.clone())?;
        nodes.ingest.relay_connect(out, edge_addr)?;
        Ok::<_, sfu::net::driver::DriverError>((out, edge_session))
    })();
    match relayed {
        Ok((out, edge_session)) => Ok(Published {
            publication,
            source: edge_session,
            relay: Some((out, edge_session)),
        }),
        Err(e) => {
            let _ = nodes.ingest.close(publication.session);
            Err(format!("relay to the edge node: {e}"))
        }
    }
}

fn route(request: &mut tiny_http::Request, nodes: &Nodes, dir: &Mutex<Directory>) -> Reply {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let method = request.method().clone();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    use tiny_http::Method::*;
    match (&method, segments.as_slice()) {
        (Get, [""]) | (Get, ["index.html"]) => Reply::page(include_str!("index.html")),
        (Get, ["publish.html"]) => Reply::page(include_str!("publish.html")),
        (Get, ["watch.html"]) => Reply::page(include_str!("watch.html")),
        (Options, ["whip" | "whep", _]) => Reply {
            status: 204,
            content_type: "text/plain",
            location: None,
            body: Vec::new(),
        },
        (Post, ["whip", name]) => {
            if !valid_stream(name) {
                return Reply::text(400, "stream names are 1-64 letters, digits, '-' or '_'");
            }
            let offer = match read_sdp(request) {
                Ok(o) => o,
                Err(r) => return r,
            };
            let mut d = dir.lock().unwrap_or_else(|e| e.into_inner());
            if d.streams.get(*name).is_some_and(|s| s.publisher.is_some()) {
                return Reply::text(409, format!("stream {name} already has a publisher"));
            }
            let Published {
                publication,
                source,
                relay,
            } = match publish(nodes, &offer) {
                Ok(p) => p,
                Err(e) => return Reply::text(400, e),
            };
            let (_, view_driver) = nodes.viewers();
            let stream = d.streams.entry((*name).to_owned()).or_default();
            stream.publisher = Some(publication.session);
            stream.source = Some(source);
            stream.relay = relay;
            for viewer in stream.viewers.clone() {
                if let Err(e) = view_driver.attach(viewer, source) {
                    eprintln!("attach {viewer} to {name}: {e}");
                }
            }
            let location = d.add_resource(Node::Ingest, publication.session, name);
            Reply::sdp(location, publication.answer)
        }
        (Post, ["whep", name]) => {
            if !valid_stream(name) {
                return Reply::text(400, "stream names are 1-64 letters, digits, '-' or '_'");
            }
            let layer = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("layer="))
                .filter(|l| !l.is_empty())
                .map(str::to_owned);
            let offer = match read_sdp(request) {
                Ok(o) => o,
                Err(r) => return r,
            };
            let mut d = dir.lock().unwrap_or_else(|e| e.into_inner());
            let source = d.streams.get(*name).and_then(|s| s.source);
            let (node, view_driver) = nodes.viewers();
            let viewing = match view_driver.view(&offer, source, layer) {
                Ok(v) => v,
                Err(e) => return Reply::text(400, e.to_string()),
            };
            d.streams
                .entry((*name).to_owned())
                .or_default()
                .viewers
                .push(viewing.session);
            let location = d.add_resource(node, viewing.session, name);
            Reply::sdp(location, viewing.answer)
        }
        (Delete, ["session", id]) => {
            let mut d = dir.lock().unwrap_or_else(|e| e.into_inner());
            let Some((node, session, _)) = id
                .parse::<u64>()
                .ok()
                .and_then(|n| d.resources.get(&n).cloned())
            else {
                return Reply::text(404, "no such session");
            };
            close_relay(nodes, d.forget(node, session));
            match nodes.driver(node).close(session) {
                Ok(()) => Reply::text(200, "closed"),
                Err(e) => Reply::text(404, e.to_string()),
            }
        }
        (Post, ["session", id, "pull", name]) => {
            // An SFU-initiated offer: the session also receives `name`.
            let d = dir.lock().unwrap_or_else(|e| e.into_inner());
            let Some((node, session, _)) = id
                .parse::<u64>()
                .ok()
                .and_then(|n| d.resources.get(&n).cloned())
            else {
                return Reply::text(404, "no such session");
            };
            let Some(source) = d.streams.get(*name).and_then(|s| s.source) else {
                return Reply::text(404, format!("stream {name} has no publisher"));
            };
            if node != nodes.viewers().0 {
                return Reply::text(
                    409,
                    "this session is on the ingest node; pull from a viewer",
                );
            }
            match nodes.driver(node).pull(session, source) {
                Ok(offer) => Reply {
                    status: 200,
                    content_type: "application/sdp",
                    location: None,
                    body: offer.into_bytes(),
                },
                Err(e) => Reply::text(400, e.to_string()),
            }
        }
        (Put, ["session", id, "answer"]) => {
            let answer = match read_sdp(request) {
                Ok(a) => a,
                Err(r) => return r,
            };
            let d = dir.lock().unwrap_or_else(|e| e.into_inner());
            let Some((node, session, _)) = id
                .parse::<u64>()
                .ok()
                .and_then(|n| d.resources.get(&n).cloned())
            else {
                return Reply::text(404, "no such session");
            };
            match nodes.driver(node).answer(session, &answer) {
                Ok(()) => Reply::text(200, "answer applied"),
                Err(e) => Reply::text(400, e.to_string()),
            }
        }
        (Patch, ["session", _]) => {
            Reply::text(405, "trickle ICE is not needed: the server is ICE-lite")
        }
        (_, ["whip" | "whep" | "session", ..]) => Reply::text(405, "method not allowed here"),
        _ => Reply::text(404, "not found"),
    }
}

fn close_relay(nodes: &Nodes, relay: Option<(SessionId, SessionId)>) {
    if let (Some((out, edge_session)), Some(edge)) = (relay, &nodes.edge) {
        let _ = nodes.ingest.close(out);
        let _ = edge.driver.close(edge_session);
    }
}

fn respond(request: tiny_http::Request, reply: Reply) {
    let mut response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    let mut headers = vec![("Content-Type", reply.content_type.to_owned())];
    if let Some(location) = reply.location {
        headers.push(("Location", location));
    }
    if request.method() == &tiny_http::Method::Options {
        headers.push(("Accept-Post", "application/sdp".to_owned()));
        headers.push(("Allow", "OPTIONS, POST".to_owned()));
    }
    for (name, value) in headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    let _ = request.respond(response);
}

/// Serves HTTP on `http` until the process ends. `events` are the nodes'
/// event channels, to forget sessions that end on their own.
pub fn serve(http: SocketAddr, nodes: Nodes, events: Vec<(Node, Events)>) -> Result<(), String> {
    let server = tiny_http::Server::http(http)
        .map(Arc::new)
        .map_err(|e| format!("cannot listen on http {http}: {e}"))?;
    let nodes = Arc::new(nodes);
    let dir = Arc::new(Mutex::new(Directory {
        streams: HashMap::new(),
        resources: HashMap::new(),
        next_resource: 0,
        viewer_node: nodes.viewers().0,
    }));
    for (node, events) in events {
        let dir = Arc::clone(&dir);
        let nodes = Arc::clone(&nodes);
        std::thread::spawn(move || {
            for event in events {
                match event {
                    DriverEvent::Closed { session, reason } => {
                        println!("{node:?} {session} closed: {reason}");
                        let relay = dir
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .forget(node, session);
                        close_relay(&nodes, relay);
                    }
                    DriverEvent::Connected { session } => println!("{node:?} {session} connected"),
                    DriverEvent::SubscriptionEnded { .. } => {}
                }
            }
        });
    }
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            let nodes = Arc::clone(&nodes);
            let dir = Arc::clone(&dir);
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let reply = route(&mut request, &nodes, &dir);
                    respond(request, reply);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
