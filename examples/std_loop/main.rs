//! The node driven by a plain `std::net` loop on one thread — no mio, no
//! driver — to show any loop can run it: a socket, a deadline, and the
//! node's contract (an input, then drain transmits and events). A bare
//! WHIP/WHEP endpoint (`http.rs`) serves the reference pages beside it.
//!
//! `cargo run --release --example std_loop -- [--http 127.0.0.1:8080] [--udp 127.0.0.1:8443]`

mod http;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sfu::net::{Certificate, Node, NodeConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().collect();
    let arg = |flag: &str, default: &'static str| {
        let at = argv.iter().position(|a| a == flag);
        at.and_then(|i| argv.get(i + 1))
            .map_or(default, |v| v.as_str())
            .to_owned()
    };
    let udp = UdpSocket::bind(arg("--udp", "127.0.0.1:8443"))?;
    let mut http = http::Server::bind(arg("--http", "127.0.0.1:8080"))?;
    let local = udp.local_addr()?;
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| "no OS randomness")?;
    let config = NodeConfig::new(Certificate::generate()?, seed).with_candidates(vec![local]);
    let mut node = Node::new(config)?;
    let mut streams = HashMap::new();
    println!("std_loop: http://{} — media on udp {local}", http.addr());
    let mut buf = [0u8; 2048];
    loop {
        http.poll(&mut node, &mut streams);
        // The contract: after every input, drain transmits and events.
        while let Some(t) = node.poll_transmit() {
            let _ = udp.send_to(&t.contents, t.destination);
        }
        while node.poll_event().is_some() {}
        // Wait for a datagram or the node's deadline (at most 10 ms: HTTP).
        let deadline = node
            .poll_timeout()
            .unwrap_or(Instant::now() + Duration::from_secs(1));
        let wait = deadline.saturating_duration_since(Instant::now());
        udp.set_read_timeout(Some(
            wait.clamp(Duration::from_millis(1), Duration::from_millis(10)),
        ))?;
        match udp.recv_from(&mut buf) {
            Ok((n, from)) => node.handle_datagram(Instant::now(), from, local, &buf[..n]),
            Err(_) if Instant::now() >= deadline => node.handle_timeout(Instant::now()),
            Err(_) => {}
        }
    }
}
