//! Calls-style pulls: a viewer of one stream pulls a second publisher's
//! tracks through an offer of the node's; its answer starts delivery on
//! the new mids, the first stream flowing on.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, peer_addr, received_on};
use sfu_net::{PullTrack, SdpType};
use sfu_testkit::peer::PeerConfig;

#[test]
fn a_viewer_pulls_a_second_stream_by_sfu_offer() {
    let mut w = World::new(3, 1);
    let a = w.add_peer(PeerConfig::new(peer_addr(0), 40).send_audio().send_video());
    let b = w.add_peer(PeerConfig::new(peer_addr(1), 41).send_audio().send_video());
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(2), 42)
            .receive_audio()
            .receive_video(),
    );
    let (sa, sb) = (w.publish(0, a), w.publish(0, b));
    let sv = w.view(0, viewer, Some(sa));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1, 2])));

    let pulls: Vec<PullTrack> = w.nodes[0].source_pulls(sb);
    let pulled = w.nodes[0].pull_tracks(w.now, sv, &pulls, None).unwrap();
    let offer = pulled.description.expect("an offer of the node's");
    assert_eq!(offer.kind, SdpType::Offer);
    let mids: Vec<String> = pulled
        .tracks
        .iter()
        .map(|t| t.mid.clone().expect("each pull has a mid"))
        .collect();
    assert_eq!(mids.len(), 2);
    assert!(!mids.contains(&"0".to_owned()) && !mids.contains(&"1".to_owned()));
    let answer = w.peers[viewer].accept_offer(&offer.sdp).unwrap();
    w.nodes[0].apply_answer(w.now, sv, &answer).unwrap();

    let mut cams = [
        Camera::new(a, Some("0"), Some("1")),
        Camera::new(b, Some("0"), Some("1")),
    ];
    w.run_with(Duration::from_secs(3), &mut |w| {
        for c in &mut cams {
            c.tick(w);
        }
    });
    assert!(received_on(&w, viewer, "1").len() > 200);
    for mid in &mids {
        let got = received_on(&w, viewer, mid);
        assert!(got.len() > 100, "mid {mid}: {} packets", got.len());
    }
}

#[test]
fn a_pull_before_publish_waits_then_asks_for_negotiation() {
    let mut w = World::new(4, 1);
    let viewer = w.add_peer(PeerConfig::new(peer_addr(0), 50).receive_audio());
    let sv = w.view(0, viewer, None);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(1), 51).send_video());
    let sp = w.nodes[0].create_session(w.now).unwrap();
    // The viewer pulls a track the publisher has not pushed yet.
    let waiting = w.nodes[0]
        .pull_tracks(w.now, sv, &[PullTrack::new(sp, "cam")], None)
        .unwrap();
    assert!(waiting.description.is_none());
    assert_eq!(
        waiting.tracks[0].result.as_ref().ok(),
        Some(&sfu_net::TrackState::Waiting)
    );
    // Now it is pushed under that name (Calls: tracks/new, location local).
    let offer = w.peers[publisher].create_offer();
    let pushed = w.nodes[0]
        .push_tracks(w.now, sp, &offer, &[sfu_net::PushTrack::new("0", "cam")])
        .unwrap();
    assert!(pushed.tracks[0].result.is_ok());
    w.peers[publisher]
        .apply_answer(pushed.sdp().unwrap())
        .unwrap();
    w.flush();
    assert!(w.events[0].iter().any(|e| matches!(e,
        sfu_net::NodeEvent::NegotiationNeeded { session } if *session == sv)));
    let offer = w.nodes[0]
        .create_offer(w.now, sv)
        .unwrap()
        .expect("an offer");
    let answer = w.peers[viewer].accept_offer(&offer.sdp).unwrap();
    w.nodes[0].apply_answer(w.now, sv, &answer).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let mut cam = Camera::new(publisher, None, Some("0"));
    w.run_with(Duration::from_secs(2), &mut |w| cam.tick(w));
    let video: usize = w.peers[viewer]
        .received()
        .iter()
        .filter(|r| r.mid.as_deref() != Some("0"))
        .count();
    assert!(video > 100, "{video} packets of the pulled track");
}

/// Calls-style closes: with `force` the section stays negotiated and idle
/// (a later pull fills it without SDP); without, the node offers the
/// section stopped (port 0) and the client's answer retires it.
#[test]
fn closed_pulls_stop_by_offer_or_stay_idle_when_forced() {
    let mut w = World::new(13, 1);
    let a = w.add_peer(PeerConfig::new(peer_addr(0), 110).send_audio().send_video());
    let viewer = w.add_peer(
        PeerConfig::new(peer_addr(1), 111)
            .receive_audio()
            .receive_video(),
    );
    let sa = w.publish(0, a);
    let sv = w.view(0, viewer, Some(sa));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    let now = w.now;
    // Forced: no SDP; the video section is idle and takes the track again.
    let forced = w.nodes[0]
        .close_tracks(now, sv, &["1".to_owned()], None, true)
        .unwrap();
    assert!(forced.description.is_none());
    assert!(forced.tracks[0].result.is_ok());
    let again = w.nodes[0]
        .pull_tracks(now, sv, &[PullTrack::new(sa, "1").into_mid("1")], None)
        .unwrap();
    assert!(again.description.is_none() && again.tracks[0].result.is_ok());
    // Not forced: the node offers the audio section stopped.
    let closed = w.nodes[0]
        .close_tracks(now, sv, &["0".to_owned()], None, false)
        .unwrap();
    let offer = closed.description.expect("an offer stopping the section");
    assert_eq!(offer.kind, SdpType::Offer);
    assert!(offer.sdp.contains("m=audio 0 "), "{}", offer.sdp);
    let answer = w.peers[viewer].accept_offer(&offer.sdp).unwrap();
    w.nodes[0].apply_answer(now, sv, &answer).unwrap();
    let mut cam = Camera::new(a, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(2), &mut |w| cam.tick(w));
    assert!(
        received_on(&w, viewer, "1").len() > 100,
        "video flows again after the forced close"
    );
    assert!(
        received_on(&w, viewer, "0").is_empty(),
        "the closed audio pull delivers nothing"
    );
    // The stopped audio section cannot be pulled into any more.
    let refused = w.nodes[0]
        .pull_tracks(w.now, sv, &[PullTrack::new(sa, "0").into_mid("0")], None)
        .unwrap();
    assert!(refused.tracks[0].result.is_err());
}
