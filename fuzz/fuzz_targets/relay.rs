//! Arbitrary datagrams from a relay peer's address, on an unkeyed link
//! that relays a real publisher's tracks and receives one relayed track:
//! raw RTP/RTCP, and layer-demand APP packets (`SFUL`) with arbitrary
//! entries, some naming the link's real SSRCs. Nothing panics, the work
//! is bounded by the datagram, and the node keeps its sessions.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sfu_net::{Certificate, Node, NodeConfig};

const PUBLISH: &str = include_str!("../../sfu-net/tests/fixtures/chromium156_publish_offer.sdp");

fn certificate() -> &'static Certificate {
    static CERT: OnceLock<Certificate> = OnceLock::new();
    CERT.get_or_init(|| Certificate::generate().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let local: SocketAddr = "203.0.113.7:8443".parse().unwrap();
    let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    let config = NodeConfig::new(certificate().clone(), [5; 32]).with_candidates(vec![local]);
    let mut node = Node::new(config).unwrap();
    let publisher = node.publish(now, PUBLISH).unwrap().session;
    let link = node.open_relay(now, peer, None, true).unwrap();
    let mut ssrcs = Vec::new();
    for (name, _) in node.published_tracks(publisher) {
        let track = node
            .relay_track(now, link, publisher, &name, &format!("r/{name}"))
            .unwrap();
        ssrcs.extend(track.layers.iter().map(|l| l.ssrc));
    }
    let datagram = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        // A demand packet: the fuzzer's entries, every other one naming a
        // real first-layer SSRC of the link.
        let entries: Vec<&[u8]> = rest.chunks(8).take(80).collect();
        let mut p = vec![0x80 | (mode >> 3 & 1), 204];
        p.extend_from_slice(&(2 + 2 * entries.len() as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 1]);
        p.extend_from_slice(b"SFUL");
        for (i, e) in entries.iter().enumerate() {
            let mut entry = [0u8; 8];
            entry[..e.len()].copy_from_slice(e);
            if i % 2 == 0 && !ssrcs.is_empty() {
                let ssrc = ssrcs[e[0] as usize % ssrcs.len()];
                entry[..4].copy_from_slice(&ssrc.to_be_bytes());
            }
            p.extend_from_slice(&entry);
        }
        if mode & 4 != 0 {
            p.truncate(p.len().saturating_sub(mode as usize >> 4));
        }
        p
    };
    node.handle_datagram(now, peer, local, &datagram);
    node.handle_timeout(now + Duration::from_millis(150));
    assert!(node.has_session(publisher) && node.has_session(link));
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
});
