//! Node A opens a third-party session toward node B, a second instance of
//! our own (ICE-lite, answering) node, as Calls' `thirdparty=true` does
//! toward another SFU: B answers A's offer as it would any client's, A
//! accepts the answer, A's full ICE agent checks as the controlling agent
//! and A is the DTLS client (B answers `a=setup:passive`). Media then
//! flows both ways through both routers: a camera published on B is
//! received by a viewer on A, and one published on A by a viewer on B.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, node_addr, peer_addr, received_on};
use sfu_net::node::ReceiveTrack;
use sfu_net::{NodeEvent, PullTrack, TrackState};
use sfu_testkit::peer::PeerConfig;

const A: usize = 0;
const B: usize = 1;

#[test]
fn a_third_party_session_to_an_ice_lite_node_carries_media_both_ways() {
    let mut w = World::new(13, 2);
    let cam_b = w.add_peer(PeerConfig::new(peer_addr(0), 20).send_audio().send_video());
    let cam_a = w.add_peer(PeerConfig::new(peer_addr(1), 21).send_audio().send_video());
    let viewer_a = w.add_peer(
        PeerConfig::new(peer_addr(2), 22)
            .receive_audio()
            .receive_video(),
    );
    let viewer_b = w.add_peer(
        PeerConfig::new(peer_addr(3), 23)
            .receive_audio()
            .receive_video(),
    );
    let src_b = w.publish(B, cam_b);
    let src_a = w.publish(A, cam_a);

    // A offers: its camera's tracks to B, and two tracks from B.
    let now = w.now;
    let pulls = w.nodes[A].source_pulls(src_a);
    let opened = w.nodes[A]
        .open_third_party(
            now,
            &pulls,
            &[
                ReceiveTrack::audio("b-audio"),
                ReceiveTrack::video("b-video"),
            ],
        )
        .unwrap();
    for t in &opened.tracks {
        assert!(t.result.is_ok(), "{t:?}");
        assert!(t.mid.is_some(), "{t:?}");
    }
    let offer = &opened.offer.sdp;
    assert!(
        !offer.contains("a=ice-lite"),
        "we are a full agent:\n{offer}"
    );
    assert!(offer.contains("a=setup:actpass"));
    assert!(offer.contains("a=group:BUNDLE"));
    assert!(offer.contains("a=rtcp-mux"));
    assert!(offer.contains("a=recvonly") && offer.contains("a=sendonly"));
    assert!(offer.contains(&format!("{} {}", node_addr(A).ip(), node_addr(A).port())));
    let receive_mids: Vec<String> = opened.tracks[pulls.len()..]
        .iter()
        .map(|t| t.mid.clone().unwrap())
        .collect();

    // B answers as for any client: publishes what A sends, and delivers
    // its camera into the sections A receives on.
    let b_session = w.nodes[B].create_session(now).unwrap();
    let answered = w.nodes[B].push_tracks(now, b_session, offer, &[]).unwrap();
    assert_eq!(answered.tracks.len(), 2, "{answered:?}");
    assert!(answered.tracks.iter().all(|t| t.result.is_ok()));
    let answer = answered.description.unwrap().sdp;
    assert!(answer.contains("a=ice-lite"));
    assert!(answer.contains("a=setup:passive"), "B is the DTLS server");
    let into_a = [
        PullTrack::new(src_b, "0").into_mid(&receive_mids[0]),
        PullTrack::new(src_b, "1").into_mid(&receive_mids[1]),
    ];
    let pulled = w.nodes[B]
        .pull_tracks(now, b_session, &into_a, None)
        .unwrap();
    assert!(pulled.description.is_none());
    assert!(pulled.tracks.iter().all(|t| t.result.is_ok()), "{pulled:?}");

    // A accepts: B's tracks become tracks of A's session.
    let accepted = w.nodes[A]
        .accept_answer(now, opened.session, &answer)
        .unwrap();
    let names: Vec<_> = accepted.tracks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["b-audio", "b-video"]);
    for t in &accepted.tracks {
        assert!(matches!(t.result, Ok(TrackState::Active)), "{t:?}");
    }
    w.flush();

    w.view(A, viewer_a, Some(opened.session));
    w.view(B, viewer_b, Some(b_session));
    assert!(w.run_until(Duration::from_secs(5), |w| {
        w.connected(&[cam_a, cam_b, viewer_a, viewer_b])
            && w.events[A].iter().any(
                |e| matches!(e, NodeEvent::Connected { session } if *session == opened.session),
            )
    }));
    // A checked (controlling) and selected the pair toward B's candidate.
    assert_eq!(
        w.nodes[A].endpoint().selected_path(opened.session),
        Some((node_addr(B), node_addr(A)))
    );
    let ice = w.nodes[A].stats().ice;
    assert!(
        ice.checks_sent >= 1 && ice.responses_accepted >= 1,
        "{ice:?}"
    );
    assert_eq!(ice.sessions_failed, 0);
    assert!(
        w.events[B]
            .iter()
            .any(|e| matches!(e, NodeEvent::Connected { session } if *session == b_session))
    );

    let mut camera_a = Camera::new(cam_a, Some("0"), Some("1"));
    let mut camera_b = Camera::new(cam_b, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(3), &mut |w| {
        camera_a.tick(w);
        camera_b.tick(w);
    });
    for viewer in [viewer_a, viewer_b] {
        let audio = received_on(&w, viewer, "0");
        let video = received_on(&w, viewer, "1");
        assert!(
            audio.len() > 100,
            "viewer {viewer}: {} audio packets",
            audio.len()
        );
        assert!(
            video.len() > 150,
            "viewer {viewer}: {} video packets",
            video.len()
        );
        for pair in video.windows(2) {
            assert_eq!(
                pair[1].0,
                pair[0].0.wrapping_add(1),
                "viewer {viewer}: {pair:?}"
            );
        }
    }

    // Consent from our side keeps the session alive well past 30 s, with
    // no media and B never checking.
    w.run(Duration::from_secs(40));
    assert!(!w.closed(A, opened.session), "{}", w.trace);
    assert!(!w.closed(B, b_session), "{}", w.trace);
    assert!(w.nodes[A].stats().ice.checks_sent >= 7);
}
