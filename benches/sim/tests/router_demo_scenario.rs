//! The router demo's scenario, checked: 50 subscribers of a 3-layer
//! simulcast publisher, preferences changing halfway, keyframe-request
//! bursts, and the publisher leaving at the end.

use std::sync::OnceLock;
use std::time::Duration;

use sfu_core::EndReason;
use sfu_sim::router_demo as demo;
use sfu_sim::router_demo::{DemoOptions, DemoReport};

fn report() -> &'static DemoReport {
    static REPORT: OnceLock<DemoReport> = OnceLock::new();
    REPORT.get_or_init(|| demo::run(DemoOptions::default()))
}

#[test]
fn every_subscriber_sees_continuous_sequence_numbers() {
    for (i, s) in report().subscribers.iter().enumerate() {
        assert!(
            s.video.len() > 500,
            "subscriber {i} got {} video packets",
            s.video.len()
        );
        for w in s.video.windows(2) {
            assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "subscriber {i}: {w:?}");
            assert_eq!(w[1].ssrc, w[0].ssrc);
        }
        for w in s.audio_seqs.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1), "subscriber {i} audio");
        }
    }
}

#[test]
fn timestamps_are_continuous_across_switches() {
    for (i, s) in report().subscribers.iter().enumerate() {
        for w in s.video.windows(2) {
            let frames = i64::from(w[1].frame) - i64::from(w[0].frame);
            let ticks = i64::from(w[1].ts.wrapping_sub(w[0].ts) as i32);
            assert!(
                (ticks - 3000 * frames).abs() <= 1,
                "subscriber {i}: {frames} frames apart but {ticks} ticks: {w:?}"
            );
        }
    }
}

#[test]
fn each_switch_lands_on_a_keyframe() {
    let mut switches = 0;
    for (i, s) in report().subscribers.iter().enumerate() {
        assert!(
            s.video[0].keyframe_start,
            "subscriber {i} started mid-frame"
        );
        for w in s.video.windows(2) {
            if w[1].layer != w[0].layer {
                switches += 1;
                assert!(
                    w[1].keyframe_start,
                    "subscriber {i} switched off a keyframe: {w:?}"
                );
            }
        }
        // The router reported every switch it made (the start included).
        let seen = 1 + s
            .video
            .windows(2)
            .filter(|w| w[1].layer != w[0].layer)
            .count();
        assert_eq!(s.switch_events, seen, "subscriber {i}");
    }
    assert!(switches > 0);
}

#[test]
fn subscribers_end_on_their_preferred_layer() {
    for (i, s) in report().subscribers.iter().enumerate() {
        let want = ["q", "h", "f"]
            .iter()
            .position(|r| *r == s.second_preference)
            .unwrap();
        let last = s.video.last().unwrap();
        assert_eq!(usize::from(last.layer), want, "subscriber {i}");
    }
}

#[test]
fn upstream_keyframe_requests_respect_the_interval() {
    let r = report();
    assert!(r.subscriber_keyframe_requests >= 100);
    for layer in 0..3 {
        let times: Vec<Duration> = r
            .upstream_keyframe_requests
            .iter()
            .filter(|(_, l)| *l == layer)
            .map(|(t, _)| *t)
            .collect();
        assert!(
            !times.is_empty(),
            "layer {layer} was never asked for a keyframe"
        );
        for w in times.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(500),
                "layer {layer}: {w:?}"
            );
        }
    }
    // 50 subscribers asking at once became at most one request per layer.
    assert!(r.upstream_keyframe_requests.len() < r.subscriber_keyframe_requests / 5);
    assert!(r.stats.keyframe_requests_suppressed > 0);
}

#[test]
fn closing_the_publisher_ends_every_subscription() {
    let r = report();
    for (i, s) in r.subscribers.iter().enumerate() {
        assert_eq!(
            s.ended,
            vec![EndReason::PublisherClosed; 2],
            "subscriber {i}"
        );
    }
    assert_eq!(r.sessions_left, r.subscribers.len());
}
