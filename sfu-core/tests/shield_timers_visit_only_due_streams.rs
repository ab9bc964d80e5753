//! The shield's timers cost nothing while nothing is due, however many
//! streams have missing packets: `poll_timeout` reads the earliest of a
//! per-stream deadline heap instead of walking every missing entry of every
//! stream, and `handle_timeout` runs only the streams whose deadline has
//! passed.
//!
//! 200 streams (10 sessions x 20 tracks) each miss 500 packets (100 000
//! missing entries in all). After their first NACKs, 5 000 driver-loop turns
//! of `poll_timeout` + `handle_timeout` 1 µs apart find nothing due.

mod shield_common;

use std::time::Duration;

use sfu_core::{LossRecovery, ShieldConfig};
use shield_common::Hop;

const SESSIONS: usize = 10;
const TRACKS: usize = 20;
const TURNS: u32 = 5000;

#[test]
fn driver_turns_with_nothing_due_do_not_walk_the_missing_packets() {
    let mut hop = Hop::new(ShieldConfig::default());
    let mut streams = Vec::new();
    for _ in 0..SESSIONS {
        let (session, ssrcs) = hop.publisher(TRACKS);
        streams.extend(ssrcs.into_iter().map(|ssrc| (session, ssrc)));
    }
    for &(session, ssrc) in &streams {
        hop.send(session, ssrc, 0);
        hop.send(session, ssrc, 501);
    }
    assert_eq!(hop.router.loss_recovery().stream_count(), SESSIONS * TRACKS);
    // The first NACK of every stream, after the reorder delay.
    hop.now += Duration::from_millis(5);
    hop.router.handle_timeout(hop.now);
    while hop.router.poll_output().is_some() {}
    let before = hop.router.loss_recovery().stats();
    assert_eq!(before.hop.detector.nacks_sent, 200 * 500);
    assert_eq!(before.timer_runs, 200, "each stream's timers ran once");

    for _ in 0..TURNS {
        hop.now += Duration::from_micros(1);
        let _ = hop.router.poll_timeout();
        hop.router.handle_timeout(hop.now);
    }
    let after = hop.router.loss_recovery().stats();
    assert_eq!(after.timer_runs, before.timer_runs, "no stream was due");
    assert_eq!(
        after.hop.detector.nacks_sent,
        before.hop.detector.nacks_sent
    );
    // The next deadline is the first retry (1.25 x the 100 ms initial RTT).
    let next = hop.router.loss_recovery().poll_timeout().unwrap();
    assert!(next > hop.now);
    hop.now = next;
    hop.router.handle_timeout(hop.now);
    let retried = hop.router.loss_recovery().stats();
    assert_eq!(retried.hop.detector.nacks_sent, 2 * 200 * 500);
    assert_eq!(retried.timer_runs, 400);
}
