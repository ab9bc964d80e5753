//! The reference server: WHIP ingest and WHEP playback over HTTP, media on
//! one UDP port, with a publish page and a watch page to try it in a
//! browser.
//!
//! ```sh
//! cargo run --release --example whip_whep -- [--http 127.0.0.1:8080] [--udp 127.0.0.1:8443] [--public-ip IP]
//! ```
//!
//! - `POST /whip/{stream}` (`application/sdp`) publishes; `201 Created`
//!   with a `Location` to `DELETE` when done. A second publisher on a live
//!   stream gets `409 Conflict`.
//! - `POST /whep/{stream}[?layer=q|h|f]` plays; viewers may come before the
//!   publisher and stay across its restarts.
//! - `/` has links to `publish.html` and `watch.html`.

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use sfu::net::driver::{Driver, DriverConfig, DriverEvent, DriverHandle};
use sfu::router::SessionId;

/// Largest SDP body we read.
const MAX_SDP: u64 = 64 * 1024;

#[derive(Default)]
struct Stream {
    publisher: Option<SessionId>,
    viewers: Vec<SessionId>,
}

/// Streams by name, and which stream each session belongs to.
#[derive(Default)]
struct Directory {
    streams: HashMap<String, Stream>,
    session_stream: HashMap<SessionId, String>,
}

impl Directory {
    fn forget(&mut self, session: SessionId) {
        if let Some(name) = self.session_stream.remove(&session)
            && let Some(stream) = self.streams.get_mut(&name)
        {
            if stream.publisher == Some(session) {
                stream.publisher = None;
            }
            stream.viewers.retain(|v| *v != session);
            if stream.publisher.is_none() && stream.viewers.is_empty() {
                self.streams.remove(&name);
            }
        }
    }
}

struct Args {
    http: SocketAddr,
    udp: SocketAddr,
    public_ip: Option<IpAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        http: "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?,
        udp: "127.0.0.1:8443".parse().map_err(|e| format!("{e}"))?,
        public_ip: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--http" => args.http = value.parse().map_err(|e| format!("--http {value}: {e}"))?,
            "--udp" => args.udp = value.parse().map_err(|e| format!("--udp {value}: {e}"))?,
            "--public-ip" => {
                args.public_ip = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--public-ip {value}: {e}"))?,
                )
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
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

fn route(request: &mut tiny_http::Request, driver: &DriverHandle, dir: &Mutex<Directory>) -> Reply {
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
            let publication = match driver.publish(&offer) {
                Ok(p) => p,
                Err(e) => return Reply::text(400, e.to_string()),
            };
            let stream = d.streams.entry((*name).to_owned()).or_default();
            stream.publisher = Some(publication.session);
            for viewer in stream.viewers.clone() {
                if let Err(e) = driver.attach(viewer, publication.session) {
                    eprintln!("attach {viewer} to {name}: {e}");
                }
            }
            d.session_stream
                .insert(publication.session, (*name).to_owned());
            Reply::sdp(
                format!("/session/{}", publication.session.as_u64()),
                publication.answer,
            )
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
            let source = d.streams.get(*name).and_then(|s| s.publisher);
            let viewing = match driver.view(&offer, source, layer) {
                Ok(v) => v,
                Err(e) => return Reply::text(400, e.to_string()),
            };
            d.streams
                .entry((*name).to_owned())
                .or_default()
                .viewers
                .push(viewing.session);
            d.session_stream.insert(viewing.session, (*name).to_owned());
            Reply::sdp(
                format!("/session/{}", viewing.session.as_u64()),
                viewing.answer,
            )
        }
        (Delete, ["session", id]) => {
            let mut d = dir.lock().unwrap_or_else(|e| e.into_inner());
            let Some(session) = id
                .parse::<u64>()
                .ok()
                .and_then(|n| d.session_stream.keys().copied().find(|s| s.as_u64() == n))
            else {
                return Reply::text(404, "no such session");
            };
            d.forget(session);
            match driver.close(session) {
                Ok(()) => Reply::text(200, "closed"),
                Err(e) => Reply::text(404, e.to_string()),
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

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\nusage: whip_whep [--http ADDR] [--udp ADDR] [--public-ip IP]");
            std::process::exit(2);
        }
    };
    let mut config = DriverConfig::new(args.udp);
    config.public_ip = args.public_ip;
    let driver = match Driver::spawn(config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot start the SFU on udp {}: {e}", args.udp);
            std::process::exit(1);
        }
    };
    let server = match tiny_http::Server::http(args.http) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("cannot listen on http {}: {e}", args.http);
            std::process::exit(1);
        }
    };
    println!(
        "WHIP/WHEP on http://{}/ — media on udp {}",
        args.http,
        driver.local_addr()
    );
    let dir = Arc::new(Mutex::new(Directory::default()));

    // Sessions that end on their own (consent lost, close_notify) leave the directory.
    let events = driver.events().clone();
    let dir_events = Arc::clone(&dir);
    std::thread::spawn(move || {
        for event in events {
            match event {
                DriverEvent::Closed { session, reason } => {
                    println!("{session} closed: {reason}");
                    dir_events
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .forget(session);
                }
                DriverEvent::Connected { session } => println!("{session} connected"),
                DriverEvent::SubscriptionEnded { .. } => {}
            }
        }
    });

    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            let handle = driver.handle();
            let dir = Arc::clone(&dir);
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let reply = route(&mut request, &handle, &dir);
                    respond(request, reply);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}
