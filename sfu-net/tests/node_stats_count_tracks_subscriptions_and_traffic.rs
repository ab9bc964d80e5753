//! What `/metrics` reads from a node: gauges of published tracks and
//! subscriptions that follow publishes, pulls and closes, and counters of
//! the datagrams and bytes through the node's two doors (every datagram
//! handed in, every transmit polled out), relay links included.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr, received_on};
use sfu_net::PullTrack;
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_publish_and_a_pull_show_as_one_track_one_subscription_and_growing_traffic() {
    let mut w = World::new(31, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 310).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 311).receive_video());
    let fresh = w.nodes[0].stats();
    assert_eq!((fresh.tracks, fresh.subscriptions), (0, 0));
    assert_eq!((fresh.datagrams_received, fresh.bytes_received), (0, 0));
    assert_eq!((fresh.datagrams_sent, fresh.bytes_sent), (0, 0));

    let source = w.publish(0, publisher);
    assert_eq!(w.nodes[0].stats().tracks, 1);
    let sv = w.view(0, viewer, Some(source));
    let s = w.nodes[0].stats();
    assert_eq!((s.tracks, s.subscriptions), (1, 1));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));

    // Media flows: every RTP packet in is a datagram in, every one
    // forwarded a datagram out, each at least an RTP header long.
    let before = w.nodes[0].stats();
    let seen = received_on(&w, viewer, "0").len();
    let mut camera = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));
    let after = w.nodes[0].stats();
    let rtp_in = after.router.rtp_received - before.router.rtp_received;
    let rtp_out = after.router.rtp_forwarded - before.router.rtp_forwarded;
    let delivered = (received_on(&w, viewer, "0").len() - seen) as u64;
    assert!(
        rtp_in > 150 && delivered > 150,
        "{rtp_in} in, {delivered} delivered"
    );
    let datagrams_in = after.datagrams_received - before.datagrams_received;
    let datagrams_out = after.datagrams_sent - before.datagrams_sent;
    assert!(datagrams_in >= rtp_in, "{datagrams_in} < {rtp_in}");
    assert!(datagrams_out >= rtp_out.max(delivered), "{datagrams_out}");
    assert!(after.bytes_received - before.bytes_received >= 12 * datagrams_in);
    assert!(after.bytes_sent - before.bytes_sent >= 12 * datagrams_out);
    // Counted at the node's door, the endpoint's own count is the same
    // when there is no relay link.
    assert_eq!(after.datagrams_received, after.endpoint.datagrams);

    // Exactly: a junk datagram in is one datagram and its length …
    let (now, to) = (w.now, node_addr(0));
    w.nodes[0].handle_datagram(now, peer_addr(9), to, &[0xff; 100]);
    let junk = w.nodes[0].stats();
    assert_eq!(junk.datagrams_received, after.datagrams_received + 1);
    assert_eq!(junk.bytes_received, after.bytes_received + 100);
    assert_eq!(junk.endpoint.unknown_kind, after.endpoint.unknown_kind + 1);

    // … and what is polled out (the viewer's close_notify) is what counts.
    w.nodes[0].close_session(now, sv).unwrap();
    let (mut datagrams, mut bytes) = (0, 0);
    while let Some(t) = w.nodes[0].poll_transmit() {
        datagrams += 1;
        bytes += t.contents.len() as u64;
    }
    let closed = w.nodes[0].stats();
    assert!(datagrams > 0);
    assert_eq!(closed.datagrams_sent, junk.datagrams_sent + datagrams);
    assert_eq!(closed.bytes_sent, junk.bytes_sent + bytes);
    assert_eq!((closed.tracks, closed.subscriptions), (1, 0));

    w.nodes[0].close_session(now, source).unwrap();
    let s = w.nodes[0].stats();
    assert_eq!((s.tracks, s.subscriptions), (0, 0));
}

#[test]
fn relay_links_count_as_tracks_subscriptions_and_traffic() {
    let mut w = World::new(32, 2);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 320).send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 321).receive_video());
    let now = w.now;
    let out = w.nodes[0]
        .open_relay(now, node_addr(1), None, true)
        .unwrap();
    let inn = w.nodes[1]
        .open_relay(now, node_addr(0), None, false)
        .unwrap();
    let source = w.publish(0, publisher);
    let track = w.nodes[0]
        .relay_track(now, out, source, "0", "cam")
        .unwrap();
    w.nodes[1].accept_relay_track(now, inn, track).unwrap();
    let offer = w.peers[viewer].create_offer();
    let viewing = w.nodes[1]
        .view(now, &offer, &[PullTrack::new(inn, "cam")], None)
        .unwrap();
    w.peers[viewer].apply_answer(&viewing.answer).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let mut camera = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));
    assert!(received_on(&w, viewer, "0").len() > 150);

    // Ingest: the client's track, pulled by the link. Edge: the link's
    // track, pulled by the viewer.
    let (ingest, edge) = (w.nodes[0].stats(), w.nodes[1].stats());
    assert_eq!((ingest.tracks, ingest.subscriptions), (1, 1));
    assert_eq!((edge.tracks, edge.subscriptions), (1, 1));
    // The edge's media came over the link, past the endpoint: the node
    // counts it, the endpoint does not.
    let relayed_in = edge.datagrams_received - edge.endpoint.datagrams;
    assert!(
        relayed_in >= edge.router.rtp_received && edge.router.rtp_received > 150,
        "{relayed_in} relayed, {} RTP",
        edge.router.rtp_received
    );
    assert!(edge.bytes_received >= 12 * edge.datagrams_received);
    // The ingest sent the link's datagrams besides the publisher's RTCP.
    assert!(
        ingest.datagrams_sent >= relayed_in,
        "{}",
        ingest.datagrams_sent
    );
    assert!(ingest.bytes_sent > 12 * relayed_in);
}
