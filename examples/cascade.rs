//! Two SFU nodes in one process joined by a relay link: publishers connect
//! to the ingest node over WHIP, viewers to the edge node over WHEP, and
//! every stream crosses the link once however many viewers watch it. Each
//! node runs its own NACK shield, so a loss on the link is repaired on the
//! link. Same pages and HTTP API as `whip_whep`.
//!
//! ```sh
//! cargo run --release --example cascade -- [--http 127.0.0.1:8080] [--udp 127.0.0.1:8443] [--edge-udp 127.0.0.1:8444] [--srtp]
//! ```

#[path = "whip_whep/server.rs"]
mod server;

use std::net::SocketAddr;

use sfu::net::SrtpProfile;
use sfu::net::driver::{Driver, DriverConfig, RelayKeys};

fn main() {
    let mut http = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut udp = SocketAddr::from(([127, 0, 0, 1], 8443));
    let mut edge_udp = SocketAddr::from(([127, 0, 0, 1], 8444));
    let mut srtp = false;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> SocketAddr {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs an address")))
        };
        match flag.as_str() {
            "--http" => http = value("--http"),
            "--udp" => udp = value("--udp"),
            "--edge-udp" => edge_udp = value("--edge-udp"),
            "--srtp" => srtp = true,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let start = |addr: SocketAddr| {
        Driver::spawn(DriverConfig::new(addr)).unwrap_or_else(|e| {
            eprintln!("cannot start a node on udp {addr}: {e}");
            std::process::exit(1);
        })
    };
    let (ingest, edge) = (start(udp), start(edge_udp));
    let keys = srtp.then(|| {
        RelayKeys::generate(SrtpProfile::AeadAes128Gcm).unwrap_or_else(|e| {
            eprintln!("relay keys: {e}");
            std::process::exit(1);
        })
    });
    println!(
        "cascade: WHIP/WHEP on http://{http}/ — ingest node udp {}, edge node udp {}, relay {}",
        ingest.local_addr(),
        edge.local_addr(),
        if srtp { "SRTP" } else { "plain RTP" }
    );
    let nodes = server::Nodes {
        ingest: ingest.handle(),
        edge: Some(server::Edge {
            driver: edge.handle(),
            ingest_relay_bind: SocketAddr::new(udp.ip(), 0),
            edge_relay_bind: SocketAddr::new(edge_udp.ip(), 0),
            keys,
        }),
    };
    let events = vec![
        (server::Node::Ingest, ingest.events().clone()),
        (server::Node::Edge, edge.events().clone()),
    ];
    if let Err(e) = server::serve(http, nodes, events) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: cascade [--http ADDR] [--udp ADDR] [--edge-udp ADDR] [--srtp]");
    std::process::exit(2);
}
