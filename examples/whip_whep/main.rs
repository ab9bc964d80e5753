//! The reference server: WHIP ingest and WHEP playback over HTTP, media on
//! one UDP port for every peer, with a publish page and a watch page to try
//! it in a browser. With `--edge-udp` it runs two nodes joined by a relay
//! link (a cascade): publishers on the ingest node, viewers on the edge
//! node, every stream crossing the link once however many watch it.
//!
//! ```sh
//! cargo run --release --example whip_whep -- [--http 127.0.0.1:8080] [--udp ADDR] [--udp-other-family ADDR] [--public-ip IP]... [--edge-udp ADDR [--srtp]]
//! ```
//!
//! - By default media listens on port 8443 of every interface (IPv4 and
//!   IPv6) and announces the interface addresses browsers use; `--udp`
//!   pins one address, `--public-ip` announces another (NAT).
//! - `POST /whip/{stream}` (`application/sdp`) publishes: `201 Created`
//!   with a `Location` to `DELETE` when done. A second publisher on a live
//!   stream gets `409 Conflict`.
//! - `POST /whep/{stream}[?layer=q|h|f]` plays; viewers may come before the
//!   publisher and stay across its restarts.
//! - `POST /session/{id}/pull/{stream}` returns an SFU offer that adds
//!   `stream`'s tracks to a session; `PUT /session/{id}/answer` applies the
//!   client's answer (renegotiation, as in Cloudflare's Calls API).
//! - `/` links to `publish.html` and `watch.html`.

mod server;

use std::net::{IpAddr, SocketAddr};

use sfu::net::driver::{Driver, DriverConfig};
use sfu::net::{RelayKeys, SrtpProfile};

const USAGE: &str = "usage: whip_whep [--http ADDR] [--udp ADDR] [--udp-other-family ADDR] \
                     [--public-ip IP]... [--edge-udp ADDR [--srtp]]";

#[derive(Default)]
struct Args {
    http: Option<SocketAddr>,
    udp: Vec<SocketAddr>,
    public_ips: Vec<IpAddr>,
    edge_udp: Option<SocketAddr>,
    srtp: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--srtp" {
            args.srtp = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let addr = || {
            value
                .parse::<SocketAddr>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--http" => args.http = Some(addr()?),
            "--udp" | "--udp-other-family" => args.udp.push(addr()?),
            "--edge-udp" => args.edge_udp = Some(addr()?),
            "--public-ip" => args.public_ips.push(
                value
                    .parse()
                    .map_err(|e| format!("--public-ip {value}: {e}"))?,
            ),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn start(config: DriverConfig, what: &str) -> Driver {
    Driver::spawn(config).unwrap_or_else(|e| {
        eprintln!("cannot start the {what} node: {e}");
        std::process::exit(1);
    })
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("{e}\n{USAGE}");
        std::process::exit(2);
    });
    // Pages that use the camera need a secure context: localhost or HTTPS.
    let http = args
        .http
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut config = if args.udp.is_empty() {
        DriverConfig::all_interfaces(8443)
    } else {
        let mut c = DriverConfig::new(args.udp[0]);
        c.sockets = args.udp.clone();
        c
    };
    config.announce = args.public_ips.clone();
    let ingest = start(config, "media");
    let candidates: Vec<String> = ingest.candidates().iter().map(|c| c.to_string()).collect();
    let edge = args
        .edge_udp
        .map(|addr| start(DriverConfig::new(addr), "edge"));
    let nodes = server::Nodes {
        ingest: ingest.handle(),
        edge: edge.as_ref().map(|e| link(&ingest, e, args.srtp)),
    };
    match &edge {
        None => println!(
            "WHIP/WHEP on http://{http}/ — media on udp {}",
            candidates.join(", ")
        ),
        Some(e) => println!(
            "cascade: WHIP/WHEP on http://{http}/ — ingest node udp {}, edge node udp {}, relay {}",
            candidates.join(", "),
            e.local_addr(),
            if args.srtp { "SRTP" } else { "plain RTP" }
        ),
    }
    let mut events = vec![(server::Node::Ingest, ingest.events().clone())];
    if let Some(e) = &edge {
        events.push((server::Node::Edge, e.events().clone()));
    }
    if let Err(e) = server::serve(http, nodes, events) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

/// Opens the relay link between the ingest and the edge node (both in this
/// process, so over loopback), SRTP-keyed when asked.
fn link(ingest: &Driver, edge: &Driver, srtp: bool) -> server::Edge {
    let loopback = |d: &Driver| {
        let a = d.local_addr();
        if a.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        } else {
            a
        }
    };
    let (ingest_addr, edge_addr) = (loopback(ingest), loopback(edge));
    let keys = srtp.then(|| {
        let profile = SrtpProfile::AeadAes128Gcm;
        let mut material = vec![0u8; profile.keying_material_len()];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut material)
            .unwrap_or_else(|_| fail("no OS randomness for the relay keys"));
        RelayKeys::new(profile, material).unwrap_or_else(|e| fail(&e.to_string()))
    });
    let open = |d: &Driver, remote: SocketAddr, initiator: bool| {
        let keys = keys.clone();
        d.handle()
            .call(move |n, now| n.open_relay(now, remote, keys.as_ref(), initiator))
            .and_then(|r| r)
            .unwrap_or_else(|e| fail(&format!("relay link: {e}")))
    };
    server::Edge {
        driver: edge.handle(),
        link_out: open(ingest, edge_addr, true),
        link_in: open(edge, ingest_addr, false),
    }
}

fn fail(problem: &str) -> ! {
    eprintln!("{problem}");
    std::process::exit(1);
}
