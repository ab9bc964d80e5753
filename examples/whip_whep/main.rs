//! The reference server: WHIP ingest and WHEP playback over HTTP, media on
//! one UDP port for every peer, with a publish page and a watch page to try
//! it in a browser.
//!
//! ```sh
//! cargo run --release --example whip_whep -- [--http 127.0.0.1:8080] [--udp 127.0.0.1:8443] [--udp-other-family [::1]:8443] [--public-ip IP]
//! ```
//!
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

struct Args {
    http: SocketAddr,
    udp: SocketAddr,
    udp_other: Option<SocketAddr>,
    public_ip: Option<IpAddr>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        http: SocketAddr::from(([127, 0, 0, 1], 8080)),
        udp: SocketAddr::from(([127, 0, 0, 1], 8443)),
        udp_other: None,
        public_ip: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--http" => args.http = value.parse().map_err(|e| format!("--http {value}: {e}"))?,
            "--udp" => args.udp = value.parse().map_err(|e| format!("--udp {value}: {e}"))?,
            "--udp-other-family" => {
                args.udp_other = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--udp-other-family {value}: {e}"))?,
                )
            }
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

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!(
            "{e}\nusage: whip_whep [--http ADDR] [--udp ADDR] [--udp-other-family ADDR] [--public-ip IP]"
        );
        std::process::exit(2);
    });
    let mut config = DriverConfig::new(args.udp);
    config.public_ip = args.public_ip;
    config.bind_other_family = args.udp_other;
    let driver = Driver::spawn(config).unwrap_or_else(|e| {
        eprintln!("cannot start the SFU on udp {}: {e}", args.udp);
        std::process::exit(1);
    });
    match driver.local_addr_other_family() {
        Some(other) => println!(
            "WHIP/WHEP on http://{}/ — media on udp {} and {other}",
            args.http,
            driver.local_addr()
        ),
        None => println!(
            "WHIP/WHEP on http://{}/ — media on udp {}",
            args.http,
            driver.local_addr()
        ),
    }
    let nodes = server::Nodes {
        ingest: driver.handle(),
        edge: None,
    };
    let events = vec![(server::Node::Ingest, driver.events().clone())];
    if let Err(e) = server::serve(args.http, nodes, events) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
