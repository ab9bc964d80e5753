//! The layer demand a relay link's peer sends (RTCP APP "SFUL") is
//! hostile input like any: packets of the wrong shape (lengths, padding,
//! subtype, more entries than allowed) are dropped whole and entries
//! naming SSRCs the link does not carry are dropped alone, each counted;
//! nothing panics, and what was wanted before keeps flowing. The test
//! plays the downstream node itself, on an unkeyed link.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_world;
mod relay_layers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use node_world::{World, node_addr};
use relay_layers::{SimulcastCamera, simulcast_publisher};
use sfu_testkit::rng::Rng;

fn downstream() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 200], 8443))
}

/// A demand APP packet as the downstream node writes one.
fn app(entries: &[(u32, u8)]) -> Vec<u8> {
    let mut p = vec![0x80, 204];
    p.extend_from_slice(&(2 + 2 * entries.len() as u16).to_be_bytes());
    p.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
    p.extend_from_slice(b"SFUL");
    for (ssrc, wanted) in entries {
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[*wanted, 0, 0, 0]);
    }
    p
}

/// RTP packets the downstream address received, per SSRC, since the last call.
fn received(w: &mut World) -> HashMap<u32, usize> {
    let mut counts = HashMap::new();
    for d in w.sinks.get_mut(&downstream()).unwrap().drain(..) {
        if !(200..=206).contains(&d[1]) {
            *counts
                .entry(u32::from_be_bytes(d[8..12].try_into().unwrap()))
                .or_default() += 1;
        }
    }
    counts
}

#[test]
fn hostile_demand_packets_are_dropped_and_counted_and_change_nothing() {
    let mut w = World::new(61, 1);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    w.add_sink(downstream());
    let now = w.now;
    let link = w.nodes[0]
        .open_relay(now, downstream(), None, true)
        .unwrap();
    let track = w.nodes[0]
        .relay_track(now, link, source, "0", "cam")
        .unwrap();
    let [q, h, f] = [0, 1, 2].map(|i| track.layers[i].ssrc);
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam])));
    let mut camera = SimulcastCamera::new(cam, "0");
    let mut second = |w: &mut World| {
        w.run_with(Duration::from_secs(1), &mut |w| camera.tick(w));
        received(w)
    };
    // No demand yet: every layer flows.
    second(&mut w);
    let flowing = second(&mut w);
    assert!(
        flowing[&q] >= 25 && flowing[&h] >= 55 && flowing[&f] >= 85,
        "{flowing:?}"
    );

    // The downstream node wants q only.
    let demand = |w: &mut World, p: &[u8]| {
        let now = w.now;
        w.nodes[0].handle_datagram(now, downstream(), node_addr(0), p);
    };
    demand(&mut w, &app(&[(q, 0b001)]));
    second(&mut w);
    let only_q = second(&mut w);
    assert!(only_q[&q] >= 25 && only_q.len() == 1, "{only_q:?}");

    // Misshapen packets, every one asking for every layer of the track.
    let valid = app(&[(q, 0b111)]);
    let mut padded = valid.clone();
    padded[0] |= 0x20;
    let mut subtype = valid.clone();
    subtype[0] |= 0x01;
    let mut overrun = valid.clone();
    overrun[2..4].copy_from_slice(&0xffffu16.to_be_bytes());
    let mut ragged = valid.clone();
    ragged.extend_from_slice(&[0; 4]);
    ragged[2..4].copy_from_slice(&5u16.to_be_bytes());
    let too_many = app(&vec![(q, 0b111); 65]);
    let hostile = [padded, subtype, overrun, ragged, too_many];
    let before = w.nodes[0].stats();
    for p in &hostile {
        demand(&mut w, p);
    }
    let after = w.nodes[0].stats();
    assert_eq!(
        after.relay_demand_dropped,
        before.relay_demand_dropped + hostile.len() as u64
    );
    // Another RTP version is not RTCP at all: the link drops the datagram.
    let mut version = valid.clone();
    version[0] = 0x40;
    demand(&mut w, &version);
    assert_eq!(w.nodes[0].stats().relay_dropped, after.relay_dropped + 1);
    // An entry for an SSRC the link does not carry (or one that is not a
    // track's first layer) is dropped; the packet's others apply.
    demand(
        &mut w,
        &app(&[(0xdead_beef, 0b111), (h, 0b111), (q, 0b101)]),
    );
    assert_eq!(
        w.nodes[0].stats().relay_demand_dropped,
        after.relay_demand_dropped + 2
    );
    second(&mut w);
    let q_and_f = second(&mut w);
    assert!(
        q_and_f[&q] >= 25 && q_and_f[&f] >= 85 && !q_and_f.contains_key(&h),
        "{q_and_f:?}"
    );

    // Noise shaped like the demand: random lengths, flags and bodies.
    let mut rng = Rng::new(61);
    let before = w.nodes[0].stats();
    for _ in 0..20_000 {
        let mut p = vec![0x80 | (rng.byte() & 0x3f), 204, rng.byte(), rng.byte()];
        p.extend_from_slice(&rng.next_u32().to_be_bytes());
        p.extend_from_slice(b"SFUL");
        let body = rng.below(1400);
        p.extend(rng.bytes(body));
        demand(&mut w, &p);
    }
    let after = w.nodes[0].stats();
    println!(
        "noise: {} dropped",
        after.relay_demand_dropped - before.relay_demand_dropped
    );
    assert!(after.relay_demand_dropped >= before.relay_demand_dropped + 19_000);
    // What was wanted still flows, and the link still listens.
    second(&mut w);
    let still = second(&mut w);
    assert!(
        still[&q] >= 25 && still[&f] >= 85 && !still.contains_key(&h),
        "{still:?}"
    );
    demand(&mut w, &app(&[(q, 0b010)]));
    second(&mut w);
    let only_h = second(&mut w);
    assert!(only_h[&h] >= 55 && only_h.len() == 1, "{only_h:?}");
}
