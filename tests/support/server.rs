//! The reference server as a real process on loopback: start it with
//! both its ports chosen by the kernel, and speak plain HTTP/1.1 to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The bearer secret of app `one` of every [`start`]ed server.
pub const SECRET: &str = "hostile-test-secret-0123456789";

/// A running server, killed when dropped.
pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server (optionally under `prlimit --nofile=N`) with `extra`
/// flags. Both its ports are the kernel's choice (`:0`): ports picked
/// beforehand by the test can be taken by a parallel test before the
/// server binds them (a CI run lost its UDP port that way).
pub fn start(nofile: Option<u32>, extra: &[&str]) -> Server {
    let binary = super::example_binary("server");
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    let mut child = command
        .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .args([
            "--app",
            &format!("one:{SECRET}"),
            "--app",
            "two:another-secret-0123456789",
        ])
        .args(["--log", "warn"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server example (cargo test builds it) and prlimit (util-linux)");
    // The first line names the bound address once the listener is up:
    // "sfu server on http://127.0.0.1:PORT/ — media on udp ...".
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let first = match lines.next() {
        Some(Ok(line)) => line,
        _ => {
            let status = child.wait();
            panic!("the server did not come up: {status:?}");
        }
    };
    let http: SocketAddr = first
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the server's first line: {first:?}"));
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, http }
}

/// One request on a fresh connection; `None` if nothing came back in 5 s.
pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&server.http, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    // The server may answer (413) and close before the body is all sent.
    let _ = s.write_all(body.as_bytes());
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

pub fn get(server: &Server, path: &str) -> Option<(u16, String)> {
    request(server, "GET", path, &[], "")
}

pub fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

pub fn error_code(body: &str) -> String {
    json(body)["errorCode"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// POSTs an SDP offer and returns the `Location` of a `201`.
pub fn post_location(server: &Server, path: &str, sdp: &str) -> Option<String> {
    let mut s = TcpStream::connect(server.http).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 201") {
        return None;
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .map(|l| l.trim().to_owned())
}
