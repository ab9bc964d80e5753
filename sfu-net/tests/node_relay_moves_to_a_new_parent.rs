//! A cascading tree whose intermediate node dies: node 0 (the origin, a
//! simulcast publisher with audio and three video layers) → node 1 → node 2
//! → node 3, a viewer on node 2 and one on node 3. Node 1 goes silent;
//! node 0 relays the tracks straight to node 2 over a new link, and node 2
//! moves every pull of the old link's tracks onto the new one with
//! `Node::move_pulls` — its viewer's m-sections and its relay onward to
//! node 3. Neither viewer sees a new stream: the same SSRCs, sequence
//! numbers carrying on, the same layers, after a gap of a keyframe's
//! round trip; node 3 does nothing at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_world;
mod relay_layers;

use std::time::{Duration, Instant};

use node_world::{Camera, World, node_addr, peer_addr};
use relay_layers::{RIDS, SimulcastCamera, assert_receives, link, relay};
use sfu_net::{Error, NodeEvent, PullTrack, SessionId};
use sfu_testkit::netem::{LinkConfig, Loss};
use sfu_testkit::peer::PeerConfig;

/// The relay names of the two tracks, the same on every link.
const VIDEO: &str = "v";
const AUDIO: &str = "a";

/// A viewer on `node` of the relayed tracks published by `link`, video on
/// mid "0" (as `relay_layers` reads layers) and audio on mid "1".
fn viewer(w: &mut World, node: usize, peer: usize, link: SessionId, rid: &str) -> usize {
    let p = w.add_peer(
        PeerConfig::new(peer_addr(peer), 900 + peer as u64)
            .receive_video()
            .receive_audio(),
    );
    let offer = w.peers[p].create_offer();
    let pulls = [PullTrack::new(link, VIDEO), PullTrack::new(link, AUDIO)];
    let viewing = w.nodes[node]
        .view(w.now, &offer, &pulls, Some(rid.to_owned()))
        .unwrap();
    w.peers[p].apply_answer(&viewing.answer).unwrap();
    w.flush();
    p
}

/// One packet a viewer received: `(at, ssrc, seq, timestamp)`.
type Seen = (Instant, u32, u16, u32);

/// The media (no RTX) the peer received on `mid`, in arrival order.
fn media(w: &World, peer: usize, mid: &str) -> Vec<Seen> {
    w.peers[peer]
        .received()
        .iter()
        .filter(|r| r.mid.as_deref() == Some(mid) && !r.rtx)
        .map(|r| (r.at, r.ssrc, r.seq, r.timestamp))
        .collect()
}

/// The last packet before `t` and the first at or after it.
fn around(seen: &[Seen], t: Instant) -> (Seen, Seen) {
    let last = *seen.iter().rfind(|s| s.0 < t).expect("media before");
    let first = *seen.iter().find(|s| s.0 >= t).expect("media after");
    (last, first)
}

#[test]
fn the_viewers_below_a_dead_node_carry_on_from_a_new_parent_on_the_same_streams() {
    let mut w = World::new(61, 4);
    let cam = w.add_peer(
        PeerConfig::new(peer_addr(0), 700)
            .send_audio()
            .send_simulcast(&RIDS),
    );
    let source = w.publish(0, cam);
    let tracks = w.nodes[0].published_tracks(source);
    let names: Vec<&str> = tracks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["0", "1"], "audio on mid 0, video on mid 1");

    // The tree: 0 → 1 → 2 → 3.
    let (out01, in01) = link(&mut w, 0, 1);
    let (out12, in12) = link(&mut w, 1, 2);
    let (out23, in23) = link(&mut w, 2, 3);
    for (name, relayed) in [("1", VIDEO), ("0", AUDIO)] {
        relay(&mut w, (0, out01), (1, in01), source, name, relayed);
        relay(&mut w, (1, out12), (2, in12), in01, relayed, relayed);
        relay(&mut w, (2, out23), (3, in23), in12, relayed, relayed);
    }
    let near = viewer(&mut w, 2, 1, in12, "h");
    let far = viewer(&mut w, 3, 2, in23, "f");
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam, near, far])));

    let mut video = SimulcastCamera::new(cam, "1");
    let mut audio = Camera::new(cam, Some("0"), None);
    let mut media_tick = move |w: &mut World| {
        video.tick(w);
        audio.tick(w);
    };
    w.run_with(Duration::from_secs(3), &mut media_tick);
    let since = w.now;
    w.run_with(Duration::from_secs(1), &mut media_tick);
    assert_receives(&w, near, 1, since);
    assert_receives(&w, far, 2, since);

    // Node 1 dies: nothing reaches it or leaves it from now on.
    let dead = LinkConfig::new(Duration::from_millis(10)).with_loss(Loss::Random(1.0));
    for other in [0, 2] {
        w.set_link(node_addr(1), node_addr(other), dead);
        w.set_link(node_addr(other), node_addr(1), dead);
    }
    let died = w.now;
    // The time a cluster takes to notice (heartbeats) and pick node 0.
    w.run_with(Duration::from_secs(1), &mut media_tick);
    let (near_video, near_audio) = (media(&w, near, "0"), media(&w, near, "1"));
    let gone = near_video.iter().rfind(|s| s.0 < died).unwrap().0 + Duration::from_millis(50);
    assert!(
        !near_video.iter().any(|s| s.0 > gone) && !near_audio.iter().any(|s| s.0 > gone),
        "media reached node 2 with node 1 dead"
    );

    // Node 0 relays the tracks to node 2 over a new link.
    let (out02, in02) = link(&mut w, 0, 2);
    for (name, relayed) in [("1", VIDEO), ("0", AUDIO)] {
        relay(&mut w, (0, out02), (2, in02), source, name, relayed);
    }
    let now = w.now;
    // Onto a track node 2 does not publish: refused, nothing moved (the
    // real moves below still find both pulls on the old link).
    let unpublished = w.nodes[2].move_pulls(now, in12, VIDEO, in02, "not-relayed");
    assert!(
        matches!(&unpublished, Err(Error::TrackNotPublished(n)) if n == "not-relayed"),
        "{unpublished:?}"
    );
    let events_at_move = w.events.iter().map(Vec::len).collect::<Vec<_>>();
    let moved_at = w.now;
    for relayed in [VIDEO, AUDIO] {
        let moved = w.nodes[2]
            .move_pulls(now, in12, relayed, in02, relayed)
            .unwrap();
        assert_eq!(moved, 2, "{relayed}: the viewer's section and the relay on");
        w.nodes[2].end_relay_track(now, in12, relayed).unwrap();
    }
    assert_eq!(w.published_names(2, in12), Vec::<String>::new());
    w.flush();
    w.run_with(Duration::from_secs(1), &mut media_tick);

    for (peer, node) in [(near, 2), (far, 3)] {
        for mid in ["0", "1"] {
            let seen = media(&w, peer, mid);
            let (last, first) = around(&seen, moved_at);
            let gap = first.0 - moved_at;
            println!(
                "node {node} mid {mid}: last before {:?} after the death, first after {gap:?} \
                 after the move; seq {} -> {}, ts {} -> {}",
                last.0 - died,
                last.2,
                first.2,
                last.3,
                first.3
            );
            assert_eq!(first.1, last.1, "node {node} mid {mid}: a new SSRC");
            assert_eq!(
                first.2,
                last.2.wrapping_add(1),
                "node {node} mid {mid}: numbering does not carry on"
            );
            // The timestamp moves on by the time without media (the
            // rewriter advances it by the time since the last packet).
            let clock = if mid == "0" { 90_000.0 } else { 48_000.0 };
            let ts_gap = f64::from(first.3.wrapping_sub(last.3)) / clock;
            let wall_gap = (first.0 - last.0).as_secs_f64();
            assert!(
                (ts_gap - wall_gap).abs() < 0.1,
                "node {node} mid {mid}: timestamp moved {ts_gap:.3} s over {wall_gap:.3} s"
            );
            // Measured (seed 61, 10 ms a hop): video 63 ms at node 2 and
            // 73 ms at node 3 — the keyframe request crossing 2 → 0 → the
            // publisher, its next frame (30 fps) and the way back down;
            // audio 31 / 41 ms, its next 20 ms frame and the hops down.
            assert!(
                gap < Duration::from_millis(500),
                "node {node} mid {mid}: {gap:?}"
            );
            // From there on one unbroken stream.
            let after: Vec<_> = seen.iter().filter(|s| s.0 >= moved_at).collect();
            assert!(after.iter().all(|s| s.1 == last.1));
            for pair in after.windows(2) {
                assert_eq!(
                    pair[1].2,
                    pair[0].2.wrapping_add(1),
                    "node {node} mid {mid}"
                );
            }
        }
    }
    let since = w.now;
    w.run_with(Duration::from_secs(2), &mut media_tick);
    assert_receives(&w, near, 1, since);
    assert_receives(&w, far, 2, since);

    // Neither node 2 nor node 3 told anyone a subscription or track ended,
    // and node 3 did nothing: its link and tracks are as they were.
    for node in [2, 3] {
        let ended = w.events[node][events_at_move[node]..]
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    NodeEvent::SubscriptionEnded { .. } | NodeEvent::TrackEnded { .. }
                )
            })
            .count();
        assert_eq!(
            ended,
            0,
            "node {node}: {:?}",
            &w.events[node][events_at_move[node]..]
        );
    }
    assert_eq!(w.published_names(3, in23), [VIDEO, AUDIO]);
    for n in 0..4 {
        assert_eq!(w.nodes[n].stats().relay_demand_dropped, 0, "node {n}");
    }
}
