//! Just enough HTTP for the reference pages, without blocking the media
//! loop: connections are read without blocking, each answered once its
//! request is whole, dropped when idle, oversized or answered.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sfu::net::{Node, SessionId};

/// A connection gets this long to send its request.
const IDLE: Duration = Duration::from_secs(5);
/// At most this many connections at once; more wait in the backlog.
const MAX_CONNECTIONS: usize = 64;
/// A request's head and body together.
const MAX_REQUEST: usize = 64 * 1024;

/// The listener and the connections whose requests are still arriving.
pub struct Server {
    listener: TcpListener,
    pending: Vec<(TcpStream, Vec<u8>, Instant)>,
}

impl Server {
    pub fn bind(addr: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            pending: Vec::new(),
        })
    }

    pub fn addr(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|e| e.to_string(), |a: SocketAddr| a.to_string())
    }

    /// Accepts, reads what arrived, answers whole requests; never blocks.
    pub fn poll(&mut self, node: &mut Node, streams: &mut HashMap<String, SessionId>) {
        while self.pending.len() < MAX_CONNECTIONS {
            let Ok((tcp, _)) = self.listener.accept() else {
                break;
            };
            if tcp.set_nonblocking(true).is_ok() {
                self.pending.push((tcp, Vec::new(), Instant::now()));
            }
        }
        let mut chunk = [0u8; 4096];
        let mut i = 0;
        while i < self.pending.len() {
            let (tcp, data, since) = &mut self.pending[i];
            let done = match tcp.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    data.extend_from_slice(&chunk[..n]);
                    match parse(data) {
                        Some((head, body)) => {
                            let _ = tcp.set_nonblocking(false);
                            let _ = tcp.set_write_timeout(Some(Duration::from_secs(2)));
                            let _ = serve(node, streams, tcp, &head, &body);
                            true
                        }
                        None => data.len() > MAX_REQUEST,
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => since.elapsed() > IDLE,
                Err(_) => true,
            };
            if done {
                self.pending.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// One HTTP request: the pages, `POST /whip/{stream}`, `POST /whep/{stream}`.
fn serve(
    node: &mut Node,
    streams: &mut HashMap<String, SessionId>,
    tcp: &mut TcpStream,
    head: &str,
    body: &str,
) -> std::io::Result<()> {
    let line: Vec<&str> = head.split([' ', '?']).take(2).collect();
    let now = Instant::now();
    let (status, kind, reply) = match line.as_slice() {
        ["GET", "/"] => (
            "200 OK",
            "text/html",
            include_str!("../server/pages/index.html").into(),
        ),
        ["GET", "/publish.html"] => (
            "200 OK",
            "text/html",
            include_str!("../server/pages/publish.html").into(),
        ),
        ["GET", "/watch.html"] => (
            "200 OK",
            "text/html",
            include_str!("../server/pages/watch.html").into(),
        ),
        ["POST", path] if path.starts_with("/whip/") => match node.publish(now, body) {
            Ok(p) => {
                streams.insert(path[6..].to_owned(), p.session);
                ("201 Created", "application/sdp", p.answer)
            }
            Err(e) => ("400 Bad Request", "text/plain", e.to_string()),
        },
        ["POST", path] if path.starts_with("/whep/") => {
            let name = &path[6..];
            let pulls = streams
                .get(name)
                .map(|s| node.source_pulls(*s))
                .unwrap_or_default();
            match node.view(now, body, &pulls, None) {
                Ok(v) => ("201 Created", "application/sdp", v.answer),
                Err(e) => ("400 Bad Request", "text/plain", e.to_string()),
            }
        }
        _ => ("404 Not Found", "text/plain", "not found".into()),
    };
    let len = reply.len();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\nLocation: /s\r\nConnection: close\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())?;
    tcp.write_all(reply.as_bytes())
}

/// The request head and body, once both have arrived.
fn parse(data: &[u8]) -> Option<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")?
            .trim()
            .parse()
            .ok()
    });
    (body.len() >= len.unwrap_or(0)).then(|| (head.to_owned(), body.to_owned()))
}
