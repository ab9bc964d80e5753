//! RTCP ends at the router: SRs regenerated per subscriber, RRs generated
//! toward publishers, RTT measured, NACKs mapped back to publisher numbers.

mod common;

use std::time::Duration;

use bytes::Bytes;
use sfu_testkit::rtp::{ReportBlock, Rtcp};

fn sr(ssrc: u32, ntp: u64, rtp: u32) -> Bytes {
    Rtcp::new().sr(ssrc, ntp, rtp).bytes()
}

fn rr(sender: u32, about: u32, lsr: u32, dlsr: u32, fraction_lost: u8) -> Bytes {
    let block = ReportBlock {
        fraction_lost,
        lsr,
        dlsr,
        ..ReportBlock::new(about)
    };
    Rtcp::new().rr(sender, &[block]).bytes()
}

fn nack(sender: u32, media: u32, pid: u16, blp: u16) -> Bytes {
    Rtcp::new().nack(sender, media, &[(pid, blp)]).bytes()
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[test]
fn sender_reports_are_regenerated_in_each_subscribers_timeline() {
    let mut call = common::Call::new(2);
    call.send(1, 50_000, common::VP8_KEY);
    call.drain();
    let (ntp, publisher) = (0xE000_0000_8000_0000u64, call.publisher);
    let now = call.now;
    call.router
        .handle_rtcp(now, publisher, sr(0x100, ntp, 53_000))
        .unwrap();
    for (session, _) in call.subscribers.clone() {
        let out = call.router.poll_output();
        let Some(sfu_core::Output::Rtcp { session: s, packet }) = out else {
            panic!("{out:?}")
        };
        assert_eq!(s, session);
        assert_eq!(packet[1], 200);
        let ssrc = u32_at(&packet, 4);
        assert!(ssrc == 0x200 || ssrc == 0x201);
        let sr_ntp = (u64::from(u32_at(&packet, 8)) << 32) | u64::from(u32_at(&packet, 12));
        assert_eq!(sr_ntp, ntp, "the publisher's wallclock is kept");
        // The subscriber's timestamps equal the publisher's here (first segment).
        assert_eq!(u32_at(&packet, 16), 53_000);
        assert_eq!(u32_at(&packet, 20), 1, "packet count");
    }
}

#[test]
fn receiver_reports_to_the_publisher_carry_loss_and_lsr() {
    let mut call = common::Call::new(1);
    let now = call.now;
    call.router
        .handle_rtcp(now, call.publisher, sr(0x100, 0x1234_5678_9ABC_0000, 0))
        .unwrap();
    for seq in [1u16, 2, 3, 5, 6, 7, 8, 9, 10, 11] {
        call.send(seq, u32::from(seq) * 3000, common::VP8_DELTA);
    }
    call.drain();
    let later = now + Duration::from_secs(1);
    call.router.handle_timeout(later);
    let reports = call.rtcp_to(call.publisher);
    let rr = reports
        .iter()
        .find(|p| p[1] == 201)
        .expect("an RR to the publisher");
    assert_eq!(
        u32_at(rr, 4),
        0xAAAA,
        "sender is the router's SSRC for that session"
    );
    assert_eq!(u32_at(rr, 8), 0x100);
    let fraction = rr[12];
    assert_eq!(fraction, (256u32 / 11) as u8);
    assert_eq!(u32_at(rr, 12) & 0xFF_FFFF, 1, "cumulative loss");
    assert_eq!(u32_at(rr, 16) & 0xFFFF, 11, "highest sequence number");
    assert_eq!(u32_at(rr, 24), 0x5678_9ABC, "LSR = middle of the SR's NTP");
    assert_eq!(u32_at(rr, 28), 65_536, "DLSR = 1 s");
}

#[test]
fn rtt_comes_from_subscriber_reports_about_our_sender_reports() {
    let mut call = common::Call::new(1);
    call.send(1, 0, common::VP8_KEY);
    let ntp = 0x0000_0010_0002_0000u64;
    let now = call.now;
    call.router
        .handle_rtcp(now, call.publisher, sr(0x100, ntp, 0))
        .unwrap();
    call.drain();
    let (session, _) = call.subscribers[0];
    // The subscriber held our SR for 50 ms; its RR arrives 130 ms after we sent it.
    let dlsr = 65_536 / 20;
    let later = now + Duration::from_millis(130);
    call.router
        .handle_rtcp(later, session, rr(9, 0x200, (ntp >> 16) as u32, dlsr, 0))
        .unwrap();
    let rtt = call.router.session_rtt(session).unwrap();
    assert!(
        rtt >= Duration::from_millis(79) && rtt <= Duration::from_millis(81),
        "{rtt:?}"
    );
}

#[test]
fn subscriber_nacks_reach_the_publisher_in_its_sequence_numbers() {
    let mut call = common::Call::new(1);
    // The subscriber's numbering starts where the publisher's did, then a
    // padding packet shifts it by one.
    call.send(1000, 0, common::VP8_KEY);
    call.send(1001, 0, &[]);
    call.send(1002, 3000, common::VP8_DELTA);
    call.send(1005, 6000, common::VP8_DELTA);
    call.drain();
    let (session, _) = call.subscribers[0];
    let now = call.now;
    // Subscriber lost its 1002 and 1003 (= publisher 1003, 1004).
    call.router
        .handle_rtcp(now, session, nack(9, 0x200, 1002, 0b1))
        .unwrap();
    let upstream = call.rtcp_to(call.publisher);
    let n = upstream
        .iter()
        .find(|p| p[1] == 205)
        .expect("a NACK upstream");
    assert_eq!(u32_at(n, 8), 0x100);
    assert_eq!(u16::from_be_bytes([n[12], n[13]]), 1003);
    assert_eq!(u16::from_be_bytes([n[14], n[15]]), 0b1);
}

/// 20 subscribers asking every 100 ms for 1 s: with a 500 ms interval, a
/// request the publisher answers (a keyframe arrives) is repeated after
/// the interval, one it leaves unanswered after half of it.
fn plis_upstream(answer: bool) -> (usize, u64) {
    let mut call = common::Call::new(20);
    call.send(1, 0, common::VP8_KEY);
    call.drain();
    let now = call.now;
    let pli = |media: u32| {
        let mut p = vec![0x81, 206, 0, 2, 0, 0, 0, 9];
        p.extend_from_slice(&media.to_be_bytes());
        Bytes::from(p)
    };
    let mut sent = 0;
    for step in 0..10u32 {
        let t = now + Duration::from_millis(100) * step;
        call.now = t;
        for (i, (session, _)) in call.subscribers.clone().into_iter().enumerate() {
            call.router
                .handle_rtcp(t, session, pli(0x200 + i as u32))
                .unwrap();
        }
        let asked = call
            .rtcp_to(call.publisher)
            .iter()
            .filter(|p| p[1] == 206)
            .count();
        sent += asked;
        if answer && asked > 0 {
            call.send(2 + step as u16, 3000 * step, common::VP8_KEY);
            call.drain();
        }
    }
    (sent, call.router.stats().keyframe_requests_suppressed)
}

#[test]
fn many_plis_become_one_upstream_request_per_interval() {
    // Answered: at t = 0 and 500 ms.
    assert_eq!(plis_upstream(true), (2, 198));
    // Unanswered (the request or the keyframe lost): at 0, 300, 600, 900.
    assert_eq!(plis_upstream(false), (4, 196));
}

#[test]
fn a_bandwidth_estimate_steers_simulcast_down() {
    use sfu_core::{
        Codec, CodecConfig, Fallback, LayerConfig, Output, PullConfig, Router, RouterConfig,
        SessionConfig, Simulcast, TrackConfig,
    };
    let now = std::time::Instant::now();
    let mut r = Router::new(RouterConfig::default());
    let a = r.create_session(now, SessionConfig::default()).unwrap();
    let layers = vec![LayerConfig::ssrc(1), LayerConfig::ssrc(2)];
    r.publish_track(
        now,
        a,
        TrackConfig::video("cam", CodecConfig::new(96, Codec::Vp8), layers),
    )
    .unwrap();
    let b = r.create_session(now, SessionConfig::default()).unwrap();
    let pull = PullConfig::new(9, vec![CodecConfig::new(96, Codec::Vp8)])
        .with_policy(Simulcast::new(None, Fallback::Auto));
    r.pull_track(now, b, a, "cam", pull).unwrap();
    // Layer 0 is small, layer 1 large; both start with a keyframe.
    let key_small = common::rtp(1, 96, 1, 0, &[], common::VP8_KEY);
    let mut big = common::VP8_KEY.to_vec();
    big.resize(50_000, 0);
    let key_big = common::rtp(2, 96, 1, 0, &[], &big);
    r.handle_rtp(now, a, key_small).unwrap();
    r.handle_rtp(now, a, key_big).unwrap();
    let last_payload_len = |r: &mut Router| {
        std::iter::from_fn(|| r.poll_output())
            .filter_map(|o| match o {
                Output::Rtp { packet, .. } => Some(packet.payload.len()),
                _ => None,
            })
            .last()
    };
    assert_eq!(
        last_payload_len(&mut r),
        Some(big.len()),
        "the highest layer first"
    );
    r.set_bandwidth_estimate(now, b, 100_000).unwrap();
    r.handle_rtp(now, a, common::rtp(1, 96, 2, 3000, &[], common::VP8_KEY))
        .unwrap();
    assert_eq!(
        last_payload_len(&mut r),
        Some(common::VP8_KEY.len()),
        "down to the layer that fits"
    );
}
