//! A loss on the publisher leg is NACKed upstream by the shield itself, with
//! no subscriber asking, and retried on the RTT schedule until the repair
//! comes; the NACK → repair round trip becomes the stream's RTT.

mod shield_common;

use std::time::{Duration, Instant};

use sfu_core::{LossRecovery, ShieldConfig};
use shield_common::{Sent, ShieldCall};

fn nack_times(sent: &[(Instant, Vec<u16>)]) -> Vec<Instant> {
    sent.iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn publisher_leg_loss_is_nacked_and_retried_until_repaired() {
    let mut call = ShieldCall::new(&[false; 3]);
    let publisher = call.publisher;
    for seq in [0, 1, 2, 4, 5] {
        call.send(seq, seq == 0);
    }
    let gap_at = call.now;
    call.drain();
    // Retry interval: 1.25 x the initial 100 ms RTT. Run 300 ms: the first
    // NACK after the reorder delay, then two retries.
    let mut log = Vec::new();
    let end = gap_at + Duration::from_millis(300);
    while call.now < end {
        call.advance(Duration::from_millis(1));
        call.timeout();
        let sent = call.drain();
        log.push((call.now, sent.nacked_to(publisher)));
    }
    let times = nack_times(&log);
    assert!(
        log.iter().all(|(_, s)| s.iter().all(|&q| q == 3)),
        "{log:?}"
    );
    assert_eq!(times.len(), 3, "first NACK and two retries: {times:?}");
    assert_eq!(times[0] - gap_at, Duration::from_millis(5), "reorder delay");
    assert_eq!(times[1] - times[0], Duration::from_millis(125));
    assert_eq!(times[2] - times[1], Duration::from_millis(125));

    call.send_rtx(0, 3);
    let repaired = call.drain();
    for v in &call.viewers {
        let got: Vec<u16> = repaired
            .rtp_to(v.session)
            .iter()
            .map(|p| p.sequence_number)
            .collect();
        assert_eq!(got, [3], "the repair is forwarded to every subscriber");
    }
    let mut after = Sent::default();
    call.run_for(
        Duration::from_millis(500),
        Duration::from_millis(5),
        &mut after,
    );
    assert!(after.nacked_to(publisher).is_empty());
    let stats = call.shield().stats();
    assert_eq!(stats.hop.detector.nacks_sent, 3);
    assert_eq!(stats.hop.detector.recovered, 1);
    // Retried, so Karn's rule takes no sample from it.
    assert_eq!(stats.rtt_samples, 0);
}

#[test]
fn the_round_trip_of_a_first_nack_sets_the_retry_schedule() {
    let mut call = ShieldCall::new(&[false]);
    let publisher = call.publisher;
    for seq in [0, 1, 3] {
        call.send(seq, seq == 0);
    }
    call.advance(Duration::from_millis(5));
    call.timeout();
    assert_eq!(call.drain().nacked_to(publisher), [2]);
    call.advance(Duration::from_millis(30));
    call.send_rtx(0, 2);
    let stream = call.stream();
    assert_eq!(call.shield().rtt(stream), Some(Duration::from_millis(30)));
    assert_eq!(call.shield().stats().rtt_samples, 1);

    // The next loss is retried as soon as its repair is overdue: one
    // round trip plus the 1 ms floor of the jitter allowance.
    call.send(4, false);
    call.send(6, false);
    let gap_at = call.now;
    let mut times = Vec::new();
    while call.now < gap_at + Duration::from_millis(200) {
        call.advance(Duration::from_micros(500));
        call.timeout();
        if !call.drain().nacked_to(publisher).is_empty() {
            times.push(call.now);
        }
    }
    assert_eq!(times[0] - gap_at, Duration::from_millis(5));
    assert_eq!(times[1] - times[0], Duration::from_millis(31));
}

#[test]
fn an_explicit_rtt_seeds_the_schedule() {
    let mut call = ShieldCall::new(&[false]);
    call.send(0, true);
    let stream = call.stream();
    assert!(
        call.router
            .loss_recovery_mut()
            .set_rtt(stream, Duration::from_millis(40))
    );
    assert_eq!(call.shield().rtt(stream), Some(Duration::from_millis(40)));
    call.send(2, false);
    let gap_at = call.now;
    let mut times = Vec::new();
    while call.now < gap_at + Duration::from_millis(300) {
        call.advance(Duration::from_millis(1));
        call.timeout();
        if !call.drain().nacked_to(call.publisher).is_empty() {
            times.push(call.now);
        }
    }
    assert_eq!(
        times[1] - times[0],
        Duration::from_millis(41),
        "the seeded 40 ms plus the 1 ms jitter floor"
    );
}

#[test]
fn a_reordered_packet_is_not_nacked() {
    let mut call = ShieldCall::with_config(&[false], ShieldConfig::default());
    call.send(0, true);
    call.send(2, false);
    call.advance(Duration::from_millis(3));
    call.send(1, false);
    let mut sent = Sent::default();
    call.run_for(
        Duration::from_millis(500),
        Duration::from_millis(1),
        &mut sent,
    );
    assert!(sent.nacked_to(call.publisher).is_empty());
    let got: Vec<u16> = sent
        .rtp_to(call.viewers[0].session)
        .iter()
        .map(|p| p.sequence_number)
        .collect();
    assert_eq!(got, [0, 2, 1], "the late packet is forwarded once");
    assert_eq!(call.shield().stats().hop.detector.reordered, 1);
    assert_eq!(call.shield().poll_timeout(), None);
}
