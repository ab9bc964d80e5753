//! The router's gauges of published tracks and subscriptions follow what
//! it holds: a pull waiting for its track counts, a closed track takes its
//! subscriptions with it, a closed session its tracks and pulls.

use std::time::Instant;

use sfu_core::{Codec, CodecConfig, PullConfig, Router, RouterConfig, SessionConfig, TrackConfig};

fn opus_pull(ssrc: u32) -> PullConfig {
    PullConfig::new(ssrc, vec![CodecConfig::new(111, Codec::Opus)])
}

#[test]
fn gauges_count_tracks_and_subscriptions_as_they_come_and_go() {
    let now = Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let gauges = |r: &Router| (r.track_count(), r.subscription_count());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    let c = r.create_session(now, SessionConfig::default()).unwrap();
    assert_eq!(gauges(&r), (0, 0));

    // A pull before its track is published is a subscription already.
    let waiting = r.pull_track(now, b, a, "mic", opus_pull(5)).unwrap();
    assert_eq!(gauges(&r), (0, 1));
    r.publish_track(now, a, TrackConfig::audio("mic", 1, 111))
        .unwrap();
    r.publish_track(now, a, TrackConfig::audio("mic2", 2, 111))
        .unwrap();
    assert_eq!(gauges(&r), (2, 1));
    r.pull_track(now, c, a, "mic", opus_pull(6)).unwrap();
    r.pull_track(now, c, a, "mic2", opus_pull(7)).unwrap();
    assert_eq!(gauges(&r), (2, 3));

    r.close_subscription(waiting).unwrap();
    assert_eq!(gauges(&r), (2, 2));
    r.close_track(now, a, "mic2").unwrap();
    assert_eq!(gauges(&r), (1, 1));
    r.close_session(now, a).unwrap();
    assert_eq!(gauges(&r), (0, 0));

    // A waiting pull goes with the session that made it.
    r.pull_track(now, c, b, "cam", opus_pull(8)).unwrap();
    assert_eq!(gauges(&r), (0, 1));
    r.close_session(now, c).unwrap();
    assert_eq!(gauges(&r), (0, 0));
}
