//! A hostile viewer cannot turn NACKs into a retransmission flood: the
//! scenario measured on a node (issue 10, item 1), at the shield.
//!
//! The publisher sends 100 packets/s of 1 000-byte payloads (~0.8 Mbit/s).
//! One viewer sends 100 RTCP compounds at 20 per second, each an RR and
//! five generic NACKs of 64 `(PID, BLP = 0xFFFF)` pairs, PID 16 packets
//! behind the newest it received: 5 440 requests per compound for the 17
//! newest packets, all in the cache. Another viewer loses one packet now and
//! then and NACKs it as a browser would.
//!
//! The bound asserted: what the flooder is retransmitted stays within its
//! budget, one burst (64 KiB) plus a quarter of the stream's bytes over the
//! flood (so at most 25 % more than the stream itself, whatever it asks),
//! and no packet is retransmitted to it twice within 100 ms. The honest
//! viewer's repairs all arrive.

mod shield_common;

use std::time::Duration;

use bytes::Bytes;
use sfu_testkit::rtp::Rtcp;
use shield_common::{MEDIA_SSRC, ShieldCall};

const PAYLOAD: usize = 1000;
const COMPOUNDS: usize = 100;

fn packet(seq: u16) -> Bytes {
    let mut payload = ShieldCall::payload(seq, seq == 0);
    payload.resize(PAYLOAD, 7);
    shield_common::rtp(MEDIA_SSRC, 96, seq, u32::from(seq) * 3000, &payload)
}

/// RR + five NACKs of 64 pairs, each naming `pid..=pid + 16`.
fn flood_compound(sender: u32, media: u32, pid: u16) -> Bytes {
    let pairs = [(pid, 0xFFFF); 64];
    let mut rtcp = Rtcp::new().rr(sender, &[]);
    for _ in 0..5 {
        rtcp = rtcp.nack(sender, media, &pairs);
    }
    rtcp.bytes()
}

#[test]
fn a_nack_flood_gets_no_more_than_its_budget() {
    let mut call = ShieldCall::new(&[true, true]);
    let (flooder, honest) = (call.viewers[0], call.viewers[1]);
    let (flooder_rtx, _) = flooder.rtx.unwrap();
    let (honest_rtx, _) = honest.rtx.unwrap();
    let mut seq = 0u16;
    let mut newest_to_flooder = 0u16;
    let mut stream_bytes = 0usize;
    let mut nack_bytes = 0usize;
    let mut compounds = 0usize;
    let mut honest_lost = Vec::new();
    let mut honest_repaired = Vec::new();
    let mut retransmitted_bytes = 0usize;
    let mut retransmissions = 0usize;
    let mut sent_at: std::collections::HashMap<u16, Vec<std::time::Instant>> = Default::default();
    let mut buf = [0u8; 1500];

    // 10 ms ticks: one packet each; a compound every fifth tick.
    for tick in 0..(COMPOUNDS * 5 + 50) {
        let p = packet(seq);
        call.router
            .handle_rtp(call.now, call.publisher, p.clone())
            .unwrap();
        if tick >= 50 {
            stream_bytes += p.len();
        }
        seq = seq.wrapping_add(1);
        if tick >= 50 && tick % 5 == 0 && compounds < COMPOUNDS {
            let c = flood_compound(0x9000, flooder.ssrc, newest_to_flooder.wrapping_sub(16));
            nack_bytes += c.len();
            compounds += 1;
            call.router
                .handle_rtcp(call.now, flooder.session, c)
                .unwrap();
        }
        // The honest viewer "loses" one packet in 20 and NACKs it.
        if tick >= 50 && tick % 20 == 7 {
            let lost = seq.wrapping_sub(3);
            honest_lost.push(lost);
            call.nack(1, &[lost]);
        }
        call.timeout();
        for (session, out) in call.drain().rtp {
            if session == flooder.session {
                if out.ssrc == flooder_rtx {
                    let len = out.write_to(&mut buf).unwrap();
                    retransmitted_bytes += len;
                    retransmissions += 1;
                    sent_at
                        .entry(out.rtx_osn.unwrap_or(out.sequence_number))
                        .or_default()
                        .push(call.now);
                } else if out.ssrc == flooder.ssrc {
                    newest_to_flooder = out.sequence_number;
                }
            } else if session == honest.session && out.ssrc == honest_rtx {
                honest_repaired.push(out.rtx_osn.unwrap_or(out.sequence_number));
            }
        }
        call.advance(Duration::from_millis(10));
    }

    let per_compound = retransmissions as f64 / compounds as f64;
    let stats = call.shield().stats();
    println!(
        "{compounds} compounds, {nack_bytes} NACK bytes; {retransmissions} retransmissions \
         ({per_compound:.1} per compound), {retransmitted_bytes} bytes \
         ({:.2}x the NACK bytes, {:.2}x the stream's {stream_bytes}); {:?}",
        retransmitted_bytes as f64 / nack_bytes as f64,
        retransmitted_bytes as f64 / stream_bytes as f64,
        stats.hop.responder,
    );
    assert_eq!(compounds, COMPOUNDS);
    let budget = 64 * 1024 + stream_bytes / 4;
    assert!(
        retransmitted_bytes <= budget,
        "{retransmitted_bytes} bytes retransmitted to the flooder, budget {budget}"
    );
    for (seq, times) in &sent_at {
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(100),
                "packet {seq} retransmitted twice within 100 ms: {times:?}"
            );
        }
    }
    honest_repaired.sort_unstable();
    honest_lost.sort_unstable();
    assert_eq!(
        honest_repaired, honest_lost,
        "every honest NACK is answered"
    );
}
