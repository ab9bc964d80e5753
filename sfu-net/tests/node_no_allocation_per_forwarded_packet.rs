//! The whole node's hot path, socket to socket: an SRTP packet from the
//! publisher goes in (`handle_datagram`: decrypt, route, rewrite, encrypt
//! per viewer) and ten SRTP datagrams come out (`poll_transmit`), with no
//! allocation per packet once the call is in its steady state. Timers run
//! between packets, uncounted: they are not per packet.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr};
use sfu_testkit::alloc::{Counting, count, uncounted};
use sfu_testkit::peer::PeerConfig;

#[global_allocator]
static GLOBAL: Counting = Counting;

const VIEWERS: usize = 10;

#[test]
fn a_forwarded_packet_allocates_nothing_in_the_steady_state() {
    let mut w = World::new(3, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 30).send_video());
    let viewers: Vec<usize> = (1..=VIEWERS)
        .map(|i| w.add_peer(PeerConfig::new(peer_addr(i), 30 + i as u64).receive_video()))
        .collect();
    let source = w.publish(0, publisher);
    for &v in &viewers {
        w.view(0, v, Some(source));
    }
    let all: Vec<usize> = (0..=VIEWERS).collect();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&all)));
    // A second of the call through the world: caches, rings and queues
    // reach their working size.
    let mut camera = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(1), &mut |w| camera.tick(w));

    // The publisher's next packets, straight into the node.
    let mut packets = Vec::new();
    for k in 0..600u64 {
        let now = w.now + Duration::from_millis(k * 11);
        w.peers[publisher]
            .send_vp8_frame(now, "0", None, false, 1)
            .unwrap();
        while let Some((_, d)) = w.peers[publisher].poll_transmit() {
            if (128..192).contains(&d[0]) {
                packets.push((now, d));
            }
        }
    }
    let (warm, measured) = packets.split_at(300);
    let node = &mut w.nodes[0];
    let mut forward = |now, d: &[u8]| {
        node.handle_datagram(now, peer_addr(0), node_addr(0), d);
        let mut sent = 0;
        while let Some(t) = node.poll_transmit() {
            sent += 1;
            drop(t);
        }
        uncounted(|| {
            while node.poll_event().is_some() {}
            if node.poll_timeout().is_some_and(|t| t <= now) {
                node.handle_timeout(now);
            }
            while node.poll_transmit().is_some() {}
        });
        sent
    };
    for (now, d) in warm {
        forward(*now, d);
    }
    let (sent, allocations) = count(|| {
        measured
            .iter()
            .map(|(now, d)| forward(*now, d))
            .sum::<usize>()
    });
    println!(
        "{} packets in, {sent} datagrams out, {allocations} allocations",
        measured.len()
    );
    assert!(
        sent >= measured.len() * VIEWERS,
        "only {sent} datagrams forwarded"
    );
    assert_eq!(allocations, 0, "allocations on the forwarding path");
}
