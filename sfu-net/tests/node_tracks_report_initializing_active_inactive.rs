//! What a session's tracks are doing, as the Calls API's `GET
//! sessions/{id}` reports it: a pushed track is initializing until its
//! first RTP, active while it flows, inactive when it stops; a pull is
//! initializing until the client answers, the session connects and its
//! track flows, then follows its track, and stays listed (inactive) once
//! its track is closed.

mod node_world;

use std::time::Duration;

use node_world::{Camera, World, peer_addr};
use sfu_net::{
    Error, PullTrack, PushTrack, SessionId, TrackInfo, TrackLocation, TrackState, TrackStatus,
};
use sfu_testkit::peer::PeerConfig;

type Row = (
    TrackLocation,
    Option<String>,
    SessionId,
    String,
    TrackStatus,
);

fn rows(w: &World, session: SessionId) -> Vec<Row> {
    w.nodes[0]
        .session_tracks(w.now, session)
        .unwrap()
        .into_iter()
        .map(|t: TrackInfo| (t.location, t.mid, t.session, t.name, t.status))
        .collect()
}

fn row(
    location: TrackLocation,
    mid: Option<&str>,
    session: SessionId,
    name: &str,
    status: TrackStatus,
) -> Row {
    (
        location,
        mid.map(str::to_owned),
        session,
        name.to_owned(),
        status,
    )
}

#[test]
fn a_push_and_a_pull_go_from_initializing_to_active_to_inactive() {
    use TrackLocation::{Local, Remote};
    use TrackStatus::{Active, Inactive, Initializing};

    let mut w = World::new(24, 1);
    let publisher = w.add_peer(PeerConfig::new(peer_addr(0), 240).send_audio().send_video());
    let viewer = w.add_peer(PeerConfig::new(peer_addr(1), 241));

    // Calls: sessions/new, then tracks/new with location local.
    let sp = w.nodes[0].create_session(w.now).unwrap();
    let offer = w.peers[publisher].create_offer();
    let pushed = w.nodes[0]
        .push_tracks(
            w.now,
            sp,
            &offer,
            &[PushTrack::new("0", "mic"), PushTrack::new("1", "cam")],
        )
        .unwrap();
    w.peers[publisher]
        .apply_answer(pushed.sdp().unwrap())
        .unwrap();
    w.flush();
    let local = |status| {
        vec![
            row(Local, Some("0"), sp, "mic", status),
            row(Local, Some("1"), sp, "cam", status),
        ]
    };
    assert_eq!(rows(&w, sp), local(Initializing));

    // Calls: tracks/new with location remote; the node offers.
    let sv = w.nodes[0].create_session(w.now).unwrap();
    let pulled = w.nodes[0]
        .pull_tracks(
            w.now,
            sv,
            &[PullTrack::new(sp, "mic"), PullTrack::new(sp, "cam")],
            None,
        )
        .unwrap();
    let mids: Vec<String> = pulled
        .tracks
        .iter()
        .map(|t| t.mid.clone().expect("a mid in the node's offer"))
        .collect();
    let remote = |status| {
        vec![
            row(Remote, Some(&mids[0]), sp, "mic", status),
            row(Remote, Some(&mids[1]), sp, "cam", status),
        ]
    };
    assert_eq!(rows(&w, sv), remote(Initializing), "before the answer");

    // Calls: renegotiate with the client's answer; not connected yet.
    let answer = w.peers[viewer]
        .accept_offer(pulled.sdp().expect("an offer"))
        .unwrap();
    w.nodes[0].apply_answer(w.now, sv, &answer).unwrap();
    assert_eq!(
        rows(&w, sv),
        remote(Initializing),
        "answered, not connected"
    );

    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[0, 1])));
    assert_eq!(rows(&w, sp), local(Initializing), "connected, no RTP yet");
    assert_eq!(
        rows(&w, sv),
        remote(Initializing),
        "its track has no RTP yet"
    );

    let mut camera = Camera::new(publisher, Some("0"), Some("1"));
    w.run_with(Duration::from_secs(2), &mut |w| camera.tick(w));
    assert_eq!(rows(&w, sp), local(Active));
    assert_eq!(rows(&w, sv), remote(Active));

    // The publisher stops sending.
    w.run(Duration::from_secs(2));
    assert_eq!(rows(&w, sp), local(Inactive));
    assert_eq!(rows(&w, sv), remote(Inactive));

    // And sends again.
    w.run_with(Duration::from_millis(500), &mut |w| camera.tick(w));
    assert_eq!(rows(&w, sp), local(Active));
    assert_eq!(rows(&w, sv), remote(Active));

    // A pull of a track not published yet waits, with no section.
    let waiting = w.nodes[0]
        .pull_tracks(w.now, sv, &[PullTrack::new(sp, "screen")], None)
        .unwrap();
    assert_eq!(
        waiting.tracks[0].result.as_ref().ok(),
        Some(&TrackState::Waiting)
    );
    let mut expected = remote(Active);
    expected.push(row(Remote, None, sp, "screen", Initializing));
    assert_eq!(rows(&w, sv), expected);

    // The publisher closes its camera: the pull of it stays listed, inactive.
    w.nodes[0]
        .close_tracks(w.now, sp, &["1".to_owned()], None, true)
        .unwrap();
    w.run_with(Duration::from_millis(100), &mut |w| camera.tick(w));
    assert_eq!(rows(&w, sp), vec![row(Local, Some("0"), sp, "mic", Active)]);
    assert_eq!(
        rows(&w, sv),
        vec![
            row(Remote, Some(&mids[0]), sp, "mic", Active),
            row(Remote, Some(&mids[1]), sp, "cam", Inactive),
            row(Remote, None, sp, "screen", Initializing),
        ]
    );

    // A session that is gone is unknown.
    w.nodes[0].close_session(w.now, sv).unwrap();
    assert!(matches!(
        w.nodes[0].session_tracks(w.now, sv),
        Err(Error::UnknownSession)
    ));
}
