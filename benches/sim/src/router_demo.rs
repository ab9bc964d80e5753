//! The router in simulated time: one publisher sending three VP8 simulcast
//! layers (announced by RID, as Chromium does) and Opus audio, fifty
//! subscribers with mixed layer preferences, some changing their mind
//! halfway, and every subscriber asking for keyframes at once. Prints what
//! each subscriber received and how many keyframe requests reached the
//! publisher.
//!
//! Run: `cargo run --release -p sfu-sim --bin router_demo [-- --subscribers N --seconds S]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{
    Codec, CodecConfig, EndReason, ExtensionMap, Fallback, Hint, LayerConfig, Output, PullConfig,
    Router, RouterConfig, RouterEvent, RouterStats, RtpPacket, SessionConfig, Simulcast,
    SubscriptionId, TrackConfig,
};
use sfu_testkit::rtp::{Rtcp, Rtp, vp8_descriptor};

const RIDS: [&str; 3] = ["q", "h", "f"];
const PACKETS_PER_FRAME: [usize; 3] = [1, 2, 4];
const VP8_PT: u8 = 96;
const OPUS_PT: u8 = 111;
const FRAME: Duration = Duration::from_nanos(33_333_333);

/// What the demo is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Number of subscribers.
    pub subscribers: usize,
    /// Simulated seconds; preferences change halfway, the publisher leaves at the end.
    pub seconds: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            subscribers: 50,
            seconds: 20,
        }
    }
}

/// One video packet as a subscriber received it.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Simulated time of delivery.
    pub at: Duration,
    /// Sequence number after rewriting.
    pub seq: u16,
    /// Timestamp after rewriting.
    pub ts: u32,
    /// SSRC after rewriting.
    pub ssrc: u32,
    /// The layer the publisher sent it on (carried in the payload).
    pub layer: u8,
    /// The publisher's frame number (carried in the payload).
    pub frame: u32,
    /// It begins a VP8 keyframe.
    pub keyframe_start: bool,
}

/// Everything one subscriber saw.
#[derive(Debug, Clone)]
pub struct SubscriberLog {
    /// Preferred RID before the change.
    pub first_preference: &'static str,
    /// Preferred RID after the change (same if unchanged).
    pub second_preference: &'static str,
    /// Video packets in arrival order.
    pub video: Vec<Received>,
    /// Audio packets' sequence numbers.
    pub audio_seqs: Vec<u16>,
    /// `LayerSwitched` events.
    pub switch_events: usize,
    /// Why each of its subscriptions ended.
    pub ended: Vec<EndReason>,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Per subscriber.
    pub subscribers: Vec<SubscriberLog>,
    /// Keyframe requests that reached the publisher: (time, layer).
    pub upstream_keyframe_requests: Vec<(Duration, usize)>,
    /// Keyframe requests subscribers sent.
    pub subscriber_keyframe_requests: usize,
    /// Router counters at the end.
    pub stats: RouterStats,
    /// Sessions left in the router at the end.
    pub sessions_left: usize,
}

struct Layer {
    ssrc: u32,
    seq: u16,
    ts_base: u32,
    keyframe_due: bool,
}

struct Sub {
    session: sfu_core::SessionId,
    video: SubscriptionId,
    audio: SubscriptionId,
    log: SubscriberLog,
}

fn vp8_payload(layer: usize, frame: u32, index: usize, count: usize, key: bool) -> Bytes {
    let mut p = Vec::with_capacity(64);
    // Payload descriptor: S=1 and partition 0 on the frame's first packet.
    p.push(vp8_descriptor(index == 0));
    // VP8 frame tag: bit 0 clear on keyframes (RFC 6386 §9.1).
    p.push(if key { 0x00 } else { 0x01 });
    p.push(layer as u8);
    p.extend_from_slice(&frame.to_be_bytes());
    p.push(index as u8);
    p.push(count as u8);
    p.resize(if key { 900 } else { 300 * (layer + 1) }, 0xAB);
    Bytes::from(p)
}

fn rtp(
    ssrc: u32,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    exts: &[(u8, &[u8])],
    payload: Bytes,
) -> Bytes {
    Rtp::new(ssrc, pt, seq, ts)
        .marker(marker)
        .extensions(exts)
        .payload(&payload)
        .bytes()
}

fn sender_report(ssrc: u32, ntp: u64, rtp_ts: u32) -> Bytes {
    Rtcp::new().sr(ssrc, ntp, rtp_ts).bytes()
}

fn pli(sender: u32, media: u32) -> Bytes {
    Rtcp::new().pli(sender, media).bytes()
}

/// Which media SSRC a PLI (PT 206, FMT 1) is about.
fn pli_media_ssrc(packet: &[u8]) -> Option<u32> {
    let b = packet.get(..12)?;
    (b[0] & 0x1f == 1 && b[1] == 206).then(|| u32::from_be_bytes([b[8], b[9], b[10], b[11]]))
}

fn video_ssrc(subscriber: usize) -> u32 {
    0x2000_0000 + subscriber as u32
}

fn ntp_at(t: Duration) -> u64 {
    // An arbitrary wallclock origin; only differences matter.
    ((3_900_000_000u64 + t.as_secs()) << 32) | ((u64::from(t.subsec_nanos()) << 32) / 1_000_000_000)
}

/// Runs the scenario and returns what everyone saw.
pub fn run(opts: DemoOptions) -> DemoReport {
    let t0 = Instant::now();
    let mut router = Router::new(RouterConfig::default());
    let ext = ExtensionMap::chromium_defaults();
    let publisher = router
        .create_session(
            t0,
            SessionConfig {
                extensions: ext,
                rtcp_ssrc: None,
            },
        )
        .expect("publisher session");
    let layers_cfg = RIDS.iter().map(|r| LayerConfig::rid(*r)).collect();
    router
        .publish_track(
            t0,
            publisher,
            TrackConfig::video(
                "cam",
                CodecConfig::new(VP8_PT, Codec::Vp8).with_rtx(97),
                layers_cfg,
            )
            .with_mid("1"),
        )
        .expect("publish video");
    router
        .publish_track(
            t0,
            publisher,
            TrackConfig::audio("mic", 0xA0D1, OPUS_PT).with_mid("0"),
        )
        .expect("publish audio");

    let mut layers: Vec<Layer> = (0..3)
        .map(|i| Layer {
            ssrc: 0x1000_0000 + i as u32,
            seq: 65_000 + 200 * i as u16, // wraps early
            ts_base: 1_000_000 * (i as u32 + 1),
            keyframe_due: true,
        })
        .collect();
    let mut audio_seq: u16 = 1;

    let choices: [(&str, Fallback); 5] = [
        ("f", Fallback::Auto),
        ("h", Fallback::Auto),
        ("q", Fallback::LeastBandwidth),
        ("h", Fallback::None),
        ("f", Fallback::LeastBandwidth),
    ];
    let mut subs: Vec<Sub> = Vec::new();
    let mut by_subscription: HashMap<SubscriptionId, usize> = HashMap::new();
    for i in 0..opts.subscribers {
        let session = router
            .create_session(
                t0,
                SessionConfig {
                    extensions: ext,
                    rtcp_ssrc: None,
                },
            )
            .expect("subscriber session");
        let (pref, fallback) = choices[i % choices.len()];
        // Subscribers negotiated their own payload types.
        let video = router
            .pull_track(
                t0,
                session,
                publisher,
                "cam",
                PullConfig::new(video_ssrc(i), vec![CodecConfig::new(100, Codec::Vp8)])
                    .with_mid("0")
                    .with_policy(Simulcast::new(Some(pref.into()), fallback)),
            )
            .expect("pull video");
        let audio = router
            .pull_track(
                t0,
                session,
                publisher,
                "mic",
                PullConfig::new(
                    0x3000_0000 + i as u32,
                    vec![CodecConfig::new(109, Codec::Opus)],
                )
                .with_mid("1"),
            )
            .expect("pull audio");
        by_subscription.insert(video, i);
        by_subscription.insert(audio, i);
        let second = if i % 5 == 0 {
            ["q", "h", "f"][(i / 5) % 3]
        } else {
            pref
        };
        subs.push(Sub {
            session,
            video,
            audio,
            log: SubscriberLog {
                first_preference: pref,
                second_preference: second,
                video: Vec::new(),
                audio_seqs: Vec::new(),
                switch_events: 0,
                ended: Vec::new(),
            },
        });
    }

    let end = Duration::from_secs(opts.seconds);
    let mut upstream = Vec::new();
    let mut subscriber_plis = 0;
    let mut next_frame = Duration::ZERO;
    let mut frame_no: u32 = 0;
    let mut next_audio = Duration::ZERO;
    let mut next_sr = Duration::from_millis(100);
    let mut next_pli_burst = Duration::from_secs(2);
    let mut changed = false;
    let mut t = Duration::ZERO;
    while t < end {
        let now = t0 + t;
        if router.poll_timeout().is_some_and(|d| d <= now) {
            router.handle_timeout(now);
        }
        if t >= next_sr {
            for l in &layers {
                let rtp_ts = l.ts_base.wrapping_add((t.as_secs_f64() * 90_000.0) as u32);
                let _ =
                    router.handle_rtcp(now, publisher, sender_report(l.ssrc, ntp_at(t), rtp_ts));
            }
            next_sr += Duration::from_secs(1);
        }
        if t >= next_frame {
            let ts_offset = frame_no.wrapping_mul(3000);
            for (i, l) in layers.iter_mut().enumerate() {
                let key = std::mem::take(&mut l.keyframe_due);
                let count = PACKETS_PER_FRAME[i] + if key { 2 } else { 0 };
                for k in 0..count {
                    let payload = vp8_payload(i, frame_no, k, count, key);
                    let packet = rtp(
                        l.ssrc,
                        VP8_PT,
                        l.seq,
                        l.ts_base.wrapping_add(ts_offset),
                        k + 1 == count,
                        &[(4, b"1"), (10, RIDS[i].as_bytes())],
                        payload,
                    );
                    l.seq = l.seq.wrapping_add(1);
                    router
                        .handle_rtp(now, publisher, packet)
                        .expect("publisher packet");
                }
            }
            frame_no += 1;
            next_frame += FRAME;
        }
        if t >= next_audio {
            let packet = rtp(
                0xA0D1,
                OPUS_PT,
                audio_seq,
                u32::from(audio_seq) * 960,
                false,
                &[(1, &[0x30])],
                Bytes::from_static(&[0xfc, 1, 2, 3]),
            );
            audio_seq = audio_seq.wrapping_add(1);
            router
                .handle_rtp(now, publisher, packet)
                .expect("audio packet");
            next_audio += Duration::from_millis(20);
        }
        if t >= next_pli_burst {
            // Every subscriber asks for a keyframe at the same moment.
            for (i, s) in subs.iter().enumerate() {
                let _ = router.handle_rtcp(now, s.session, pli(1, video_ssrc(i)));
                subscriber_plis += 1;
            }
            next_pli_burst += Duration::from_secs(5);
        }
        if !changed && t >= end / 2 {
            changed = true;
            for s in &subs {
                if s.log.first_preference != s.log.second_preference {
                    router
                        .hint(s.video, Hint::PreferRid(s.log.second_preference.into()))
                        .expect("hint");
                }
            }
        }
        drain(
            &mut router,
            t,
            publisher,
            &mut layers,
            &mut subs,
            &by_subscription,
            &mut upstream,
        );
        t += Duration::from_millis(1);
    }
    router
        .close_session(t0 + end, publisher)
        .expect("close publisher");
    drain(
        &mut router,
        end,
        publisher,
        &mut layers,
        &mut subs,
        &by_subscription,
        &mut upstream,
    );
    DemoReport {
        subscribers: subs.into_iter().map(|s| s.log).collect(),
        upstream_keyframe_requests: upstream,
        subscriber_keyframe_requests: subscriber_plis,
        stats: router.stats(),
        sessions_left: router.session_count(),
    }
}

fn drain(
    router: &mut Router,
    t: Duration,
    publisher: sfu_core::SessionId,
    layers: &mut [Layer],
    subs: &mut [Sub],
    by_subscription: &HashMap<SubscriptionId, usize>,
    upstream: &mut Vec<(Duration, usize)>,
) {
    while let Some(out) = router.poll_output() {
        match out {
            Output::Rtcp { session, packet } if session == publisher => {
                if let Some(ssrc) = pli_media_ssrc(&packet)
                    && let Some(i) = layers.iter().position(|l| l.ssrc == ssrc)
                {
                    layers[i].keyframe_due = true;
                    upstream.push((t, i));
                }
            }
            Output::Rtcp { .. } => {}
            Output::Rtp {
                subscription,
                packet,
                ..
            } => {
                let Some(&i) = by_subscription.get(&subscription) else {
                    continue;
                };
                let sub = &mut subs[i];
                let parsed =
                    RtpPacket::parse(Bytes::from(packet.to_vec())).expect("router output parses");
                if subscription == sub.audio {
                    sub.log.audio_seqs.push(parsed.sequence_number);
                    continue;
                }
                let p = parsed.payload_slice();
                sub.log.video.push(Received {
                    at: t,
                    seq: parsed.sequence_number,
                    ts: parsed.timestamp,
                    ssrc: parsed.ssrc,
                    layer: p[2],
                    frame: u32::from_be_bytes([p[3], p[4], p[5], p[6]]),
                    keyframe_start: sfu_core::starts_keyframe(Codec::Vp8, p),
                });
            }
        }
    }
    while let Some(ev) = router.poll_event() {
        match ev {
            RouterEvent::LayerSwitched { subscription, .. } => {
                if let Some(&i) = by_subscription.get(&subscription)
                    && subs[i].video == subscription
                {
                    subs[i].log.switch_events += 1;
                }
            }
            RouterEvent::SubscriptionEnded {
                subscription,
                reason,
                ..
            } => {
                if let Some(&i) = by_subscription.get(&subscription) {
                    subs[i].log.ended.push(reason);
                }
            }
            _ => {}
        }
    }
}
