//! Just enough HTTP for the reference pages: one request per connection.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sfu::net::{Node, SessionId};

/// One HTTP request: the pages, `POST /whip/{stream}`, `POST /whep/{stream}`.
pub fn serve(
    node: &mut Node,
    streams: &mut HashMap<String, SessionId>,
    mut tcp: TcpStream,
) -> std::io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(2)))?;
    let Some((head, body)) = read_request(&mut tcp) else {
        return Ok(());
    };
    let line: Vec<&str> = head.split([' ', '?']).take(2).collect();
    let now = Instant::now();
    let (status, kind, reply) = match line.as_slice() {
        ["GET", "/"] => (
            "200 OK",
            "text/html",
            include_str!("../whip_whep/index.html").into(),
        ),
        ["GET", "/publish.html"] => (
            "200 OK",
            "text/html",
            include_str!("../whip_whep/publish.html").into(),
        ),
        ["GET", "/watch.html"] => (
            "200 OK",
            "text/html",
            include_str!("../whip_whep/watch.html").into(),
        ),
        ["POST", path] if path.starts_with("/whip/") => match node.publish(now, &body) {
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
            match node.view(now, &body, &pulls, None) {
                Ok(v) => ("201 Created", "application/sdp", v.answer),
                Err(e) => ("400 Bad Request", "text/plain", e.to_string()),
            }
        }
        _ => ("404 Not Found", "text/plain", "not found".into()),
    };
    let len = reply.len();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\nLocation: /s\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())?;
    tcp.write_all(reply.as_bytes())
}

/// The request head and body, at most 64 KiB in all.
fn read_request(tcp: &mut TcpStream) -> Option<(String, String)> {
    let (mut data, mut chunk) = (Vec::new(), [0u8; 4096]);
    while data.len() <= 64 * 1024 {
        let n = tcp.read(&mut chunk).ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&data);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len = head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")?
                .trim()
                .parse()
                .ok()
        });
        if body.len() >= len.unwrap_or(0) {
            return Some((head.to_owned(), body.to_owned()));
        }
    }
    None
}
