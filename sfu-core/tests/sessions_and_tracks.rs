//! Sessions push and pull tracks by (session, name); pulls may wait for a
//! track; closing ends delivery with events; every refusal is a typed error.

mod common;

use std::time::Instant;

use sfu_core::{
    Codec, CodecConfig, EndReason, Error, Limit, Limits, PullConfig, Router, RouterConfig,
    RouterEvent, SessionConfig, SubscriptionStatus, TrackConfig,
};

fn opus_pull(ssrc: u32) -> PullConfig {
    PullConfig::new(ssrc, vec![CodecConfig::new(111, Codec::Opus)])
}

#[test]
fn pulling_before_publish_waits_then_activates() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    let sub = r.pull_track(now, b, a, "mic", opus_pull(5)).unwrap();
    assert_eq!(
        r.subscription(sub).unwrap().status,
        SubscriptionStatus::Waiting
    );
    r.publish_track(now, a, TrackConfig::audio("mic", 1, 111))
        .unwrap();
    assert_eq!(
        r.subscription(sub).unwrap().status,
        SubscriptionStatus::Active
    );
    let events: Vec<RouterEvent> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(events.contains(&RouterEvent::SubscriptionActive {
        subscriber: b,
        subscription: sub
    }));
    r.handle_rtp(now, a, common::rtp(1, 111, 7, 960, &[], &[1, 2]))
        .unwrap();
    assert!(r.poll_output().is_some());
}

#[test]
fn typed_errors_for_bad_requests() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    r.publish_track(now, a, TrackConfig::audio("mic", 1, 111))
        .unwrap();
    assert!(matches!(
        r.publish_track(now, a, TrackConfig::audio("mic", 2, 111)),
        Err(Error::DuplicateTrackName { .. })
    ));
    assert_eq!(
        r.publish_track(now, a, TrackConfig::audio("other", 1, 111)),
        Err(Error::DuplicateSsrc(1))
    );
    assert_eq!(
        r.pull_track(now, a, a, "mic", opus_pull(9)).unwrap_err(),
        Error::PullOwnTrack(a)
    );
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    r.close_session(now, b).unwrap();
    assert_eq!(
        r.pull_track(now, a, b, "x", opus_pull(9)).unwrap_err(),
        Error::UnknownSession(b)
    );
    assert_eq!(
        r.close_track(now, b, "x").unwrap_err(),
        Error::UnknownSession(b)
    );
    assert!(matches!(
        r.close_track(now, a, "nope"),
        Err(Error::UnknownTrack { .. })
    ));
    let mut four = TrackConfig::audio("v", 3, 111);
    four.kind = sfu_core::MediaKind::Video;
    four.layers = (10..14).map(sfu_core::LayerConfig::ssrc).collect();
    assert_eq!(
        r.publish_track(now, a, four),
        Err(Error::LimitExceeded(Limit::Layers))
    );
}

#[test]
fn limits_are_enforced() {
    let now = Instant::now();
    let limits = Limits::default()
        .with_max_sessions(3)
        .with_max_tracks_per_session(1)
        .with_max_subscriptions_per_session(1);
    let mut r = Router::new(RouterConfig::default().with_limits(limits));
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    let _c = r.create_session(now, SessionConfig::default()).unwrap();
    assert_eq!(
        r.create_session(now, SessionConfig::default()).unwrap_err(),
        Error::LimitExceeded(Limit::Sessions)
    );
    r.publish_track(now, a, TrackConfig::audio("one", 1, 111))
        .unwrap();
    assert_eq!(
        r.publish_track(now, a, TrackConfig::audio("two", 2, 111))
            .unwrap_err(),
        Error::LimitExceeded(Limit::TracksPerSession)
    );
    r.pull_track(now, b, a, "one", opus_pull(5)).unwrap();
    assert_eq!(
        r.pull_track(now, b, a, "later", opus_pull(6)).unwrap_err(),
        Error::LimitExceeded(Limit::SubscriptionsPerSession)
    );
}

#[test]
fn closing_a_track_ends_delivery_with_an_event() {
    let mut call = common::Call::new(3);
    call.send(1, 0, common::VP8_KEY);
    assert_eq!(call.drain().len(), 3);
    let now = call.now;
    call.router.close_track(now, call.publisher, "cam").unwrap();
    let ended: Vec<RouterEvent> = std::iter::from_fn(|| call.router.poll_event()).collect();
    for (s, sub) in &call.subscribers {
        assert!(
            ended
                .iter()
                .any(|e| matches!(e, RouterEvent::SubscriptionEnded {
            subscriber,
            subscription,
            reason: EndReason::TrackClosed,
            resume: Some(_),
        } if subscriber == s && subscription == sub))
        );
        assert!(call.router.subscription(*sub).is_none());
    }
    let late = common::rtp(0x100, 96, 2, 0, &[], common::VP8_DELTA);
    assert_eq!(
        call.router.handle_rtp(now, call.publisher, late),
        Err(Error::UnknownSsrc(0x100))
    );
    assert!(call.drain().is_empty());
}

#[test]
fn closing_the_publisher_session_ends_waiting_pulls_too() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    let waiting = r.pull_track(now, b, a, "later", opus_pull(5)).unwrap();
    r.close_session(now, a).unwrap();
    let events: Vec<RouterEvent> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(events.contains(&RouterEvent::SubscriptionEnded {
        subscriber: b,
        subscription: waiting,
        reason: EndReason::PublisherClosed,
        resume: None,
    }));
}

#[test]
fn unsubscribing_stops_delivery_to_that_subscriber_only() {
    let mut call = common::Call::new(2);
    let (_, first) = call.subscribers[0];
    call.router.close_subscription(first).unwrap();
    call.send(1, 0, common::VP8_KEY);
    assert_eq!(call.drain().len(), 1);
}

#[test]
fn a_resumed_pull_continues_numbering_across_a_publisher_restart() {
    let mut call = common::Call::new(1);
    let (viewer, _) = call.subscribers[0];
    call.send(5000, 90_000, common::VP8_KEY);
    call.send(5001, 93_000, common::VP8_DELTA);
    call.drain();
    let now = call.now;
    call.router.close_session(now, call.publisher).unwrap();
    let resume = std::iter::from_fn(|| call.router.poll_event())
        .find_map(|e| match e {
            RouterEvent::SubscriptionEnded { resume, .. } => resume,
            _ => None,
        })
        .expect("a resume point");
    // The publisher comes back with new numbering one second later.
    let later = now + std::time::Duration::from_secs(1);
    let publisher = call
        .router
        .create_session(later, SessionConfig::default())
        .unwrap();
    call.router
        .publish_track(
            later,
            publisher,
            TrackConfig::video(
                "cam",
                CodecConfig::new(96, Codec::Vp8),
                vec![sfu_core::LayerConfig::ssrc(0x900)],
            ),
        )
        .unwrap();
    let pull = PullConfig::new(0x200, vec![CodecConfig::new(100, Codec::Vp8)]).resume(resume);
    call.router
        .pull_track(later, viewer, publisher, "cam", pull)
        .unwrap();
    let p = common::rtp(0x900, 96, 17, 1234, &[], common::VP8_KEY);
    call.router.handle_rtp(later, publisher, p).unwrap();
    let Some(sfu_core::Output::Rtp { packet, .. }) = call.router.poll_output() else {
        panic!()
    };
    assert_eq!(packet.ssrc, 0x200);
    assert_eq!(packet.sequence_number, 5002);
    assert_eq!(packet.timestamp, 93_000 + 90_000);
}
