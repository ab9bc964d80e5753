//! The HTTP side of the reference server (WHIP ingest, WHEP playback, the
//! publish and watch pages), for one node or a cascade (ingest node and
//! edge node joined by a relay link).

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use sfu::net::driver::{DriverHandle, Events};
use sfu::net::{NodeEvent, PullTrack, RelayTrack, SessionId};

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

/// The edge node of a cascade and the relay link between the two.
pub struct Edge {
    /// Its driver.
    pub driver: DriverHandle,
    /// The link's session on the ingest node.
    pub link_out: SessionId,
    /// The link's session on the edge node (publishes the relayed tracks).
    pub link_in: SessionId,
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
    /// What viewers pull, on the viewers' node: the publisher's tracks, or
    /// their relayed copies on the edge end of the link.
    tracks: Vec<PullTrack>,
    /// Names of the relayed copies, to end with the publisher.
    relayed: Vec<String>,
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

    /// Forgets a session that ended; returns the relayed tracks to end
    /// when it was a publisher.
    fn forget(&mut self, node: Node, session: SessionId) -> Vec<String> {
        let Some(key) = self
            .resources
            .iter()
            .find(|(_, (n, s, _))| *n == node && *s == session)
            .map(|(k, _)| *k)
        else {
            return Vec::new();
        };
        let Some((_, _, name)) = self.resources.remove(&key) else {
            return Vec::new();
        };
        let Some(stream) = self.streams.get_mut(&name) else {
            return Vec::new();
        };
        let mut relayed = Vec::new();
        if node == Node::Ingest && stream.publisher == Some(session) {
            stream.publisher = None;
            stream.tracks.clear();
            relayed = std::mem::take(&mut stream.relayed);
        }
        if node == self.viewer_node {
            stream.viewers.retain(|v| *v != session);
        }
        if stream.publisher.is_none() && stream.viewers.is_empty() {
            self.streams.remove(&name);
        }
        relayed
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

/// A publication as viewers see it: the publisher's answer, what viewers
/// pull, and the relayed copies' names.
struct Published {
    session: SessionId,
    answer: String,
    tracks: Vec<PullTrack>,
    relayed: Vec<String>,
}

/// Publishes on the ingest node and, in a cascade, relays every track
/// over the link to the edge node.
fn publish(nodes: &Nodes, stream: &str, offer: &str) -> Result<Published, String> {
    let publication = nodes.ingest.publish(offer).map_err(|e| e.to_string())?;
    let session = publication.session;
    let Some(edge) = &nodes.edge else {
        let tracks = publication
            .tracks
            .iter()
            .map(|name| PullTrack::new(session, name.clone()))
            .collect();
        return Ok(Published {
            session,
            answer: publication.answer,
            tracks,
            relayed: Vec::new(),
        });
    };
    let (link_out, link_in) = (edge.link_out, edge.link_in);
    let mut relayed = Vec::new();
    for name in &publication.tracks {
        let relay_name = format!("{stream}/{name}");
        let name = name.clone();
        let copy = relay_name.clone();
        let track: Result<RelayTrack, _> = nodes
            .ingest
            .call(move |n, now| n.relay_track(now, link_out, session, &name, &copy))
            .and_then(|r| r);
        let accepted = track.and_then(|t| {
            edge.driver
                .call(move |n, now| n.accept_relay_track(now, link_in, t))
                .and_then(|r| r)
        });
        if let Err(e) = accepted {
            let _ = nodes.ingest.close(session);
            end_relayed(nodes, &relayed);
            return Err(format!("relay to the edge node: {e}"));
        }
        relayed.push(relay_name);
    }
    Ok(Published {
        session,
        answer: publication.answer,
        tracks: relayed
            .iter()
            .map(|name| PullTrack::new(link_in, name.clone()))
            .collect(),
        relayed,
    })
}

/// Ends relayed copies on both ends of the link.
fn end_relayed(nodes: &Nodes, relayed: &[String]) {
    let Some(edge) = &nodes.edge else {
        return;
    };
    for name in relayed {
        let (out, inn) = (edge.link_out, edge.link_in);
        let (a, b) = (name.clone(), name.clone());
        let _ = nodes
            .ingest
            .call(move |n, now| n.end_relay_track(now, out, &a));
        let _ = edge
            .driver
            .call(move |n, now| n.end_relay_track(now, inn, &b));
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
            let published = match publish(nodes, name, &offer) {
                Ok(p) => p,
                Err(e) => return Reply::text(400, e),
            };
            let (_, view_driver) = nodes.viewers();
            let stream = d.streams.entry((*name).to_owned()).or_default();
            stream.publisher = Some(published.session);
            stream.tracks = published.tracks;
            stream.relayed = published.relayed;
            for viewer in stream.viewers.clone() {
                let pulls = stream.tracks.clone();
                if let Err(e) = view_driver
                    .call(move |n, now| n.attach(now, viewer, &pulls))
                    .and_then(|r| r)
                {
                    eprintln!("attach {viewer} to {name}: {e}");
                }
            }
            let location = d.add_resource(Node::Ingest, published.session, name);
            Reply::sdp(location, published.answer)
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
            let pulls = d
                .streams
                .get(*name)
                .map(|s| s.tracks.clone())
                .unwrap_or_default();
            let (node, view_driver) = nodes.viewers();
            let viewing = match view_driver
                .call(move |n, now| n.view(now, &offer, &pulls, layer))
                .and_then(|r| r)
            {
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
            end_relayed(nodes, &d.forget(node, session));
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
            let pulls = match d.streams.get(*name) {
                Some(s) if !s.tracks.is_empty() => s.tracks.clone(),
                _ => return Reply::text(404, format!("stream {name} has no publisher")),
            };
            if node != nodes.viewers().0 {
                return Reply::text(
                    409,
                    "this session is on the ingest node; pull from a viewer",
                );
            }
            let pulled = nodes
                .driver(node)
                .call(move |n, now| n.pull_tracks(now, session, &pulls, None))
                .and_then(|r| r);
            match pulled.map(|p| p.description) {
                Ok(Some(offer)) => Reply {
                    status: 200,
                    content_type: "application/sdp",
                    location: None,
                    body: offer.sdp.into_bytes(),
                },
                Ok(None) => Reply::text(409, format!("stream {name} has nothing to add")),
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
                    NodeEvent::Closed { session, reason } => {
                        println!("{node:?} {session} closed: {reason:?}");
                        let relayed = dir
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .forget(node, session);
                        end_relayed(&nodes, &relayed);
                    }
                    NodeEvent::Connected { session } => println!("{node:?} {session} connected"),
                    _ => {}
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
