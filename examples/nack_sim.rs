//! A deterministic lossy-network simulation of the NACK shield: a publisher
//! → SFU A → relay → SFU B → 20 subscribers, running the real `sfu-core`
//! routers (with `sfu-nack`'s shield, or the forward-NACKs baseline) in
//! simulated time, with no sockets. Same seed, same numbers.
//!
//! Run: `cargo run --release --example nack_sim -- [--seed N] [--seconds S]
//! [--loss P] [--burst] [--shield on|off] [--subscribers N] [--jitter-ms J]
//! [--reorder P]`. The last line printed is one JSON object.
//!
//! # Model
//!
//! - Links (each direction separately): one-way delay (20 ms publisher ↔ A,
//!   40 ms A ↔ B, 10 ms B ↔ each subscriber), uniform jitter (0–2 ms by
//!   default, FIFO: jitter never reorders), reordering (1% of packets held
//!   back 0.5–4 ms so later ones overtake them), and loss: i.i.d. with
//!   probability `--loss`, or with `--burst` a Gilbert-Elliott chain with
//!   the same mean loss (bad state loses 75%, good state nothing, mean stay
//!   in the bad state 6 packets). RTCP crosses the same links as RTP, so
//!   NACKs and reports are lost too.
//! - The relay is in-process: on A a subscriber session pulling both tracks
//!   with RTX, on B a publisher session publishing them with those SSRCs.
//! - The publisher sends VP8 at 30 fps (a keyframe of 30 packets every 2 s,
//!   otherwise frames of 2–6 packets, paced 0.25 ms apart) and Opus at
//!   50 pps, keeps a send history, answers NACKs with RTX (audio too: the
//!   simulated endpoints negotiate RTX for both), answers PLI with a
//!   keyframe and sends sender reports every second.
//! - Each subscriber negotiates RTX, decodes it, runs `sfu-nack`'s
//!   `LossDetector` per stream (the receiver logic a browser has), NACKs
//!   SFU B, estimates its RTT from NACK → RTX round trips (first NACKs
//!   only, windowed minimum) and sends receiver reports every second.
//! - `--shield off`: both SFUs run `ForwardNacks` (NACKs forwarded
//!   upstream, retransmissions forwarded down, no cache).
//!
//! # Metrics
//!
//! Media packets are the publisher's original video and audio packets sent
//! after a one-second warm-up (subscriptions start at the first keyframe
//! each hop sees). The run sends media for `--seconds`, then lets one more
//! second pass so late repairs can land.
//!
//! - `delivered_within_deadline`: (subscriber, media packet) pairs where the
//!   packet reached the subscriber within 250 ms of the publisher sending
//!   it, ÷ media packets × subscribers.
//! - `recovery_ms_p50` / `_p99`: over (subscriber, media packet) pairs that
//!   needed a repair (a copy was lost on the way) and arrived at all:
//!   arrival − send − the path's nominal one-way delay (70 ms), i.e. how
//!   late the repair made it. `recovery_ms_p50_{publisher,relay,subscriber}_hop`
//!   split it by the first hop where a copy was lost, next to each hop's
//!   RTT as the routers (relay, subscriber hops) and the publisher
//!   (publisher hop) measured it from RTCP reports.
//! - `publisher_nacks_per_publisher_loss`: distinct sequence numbers the
//!   publisher is asked to repair (NACKs that reached it) ÷ distinct
//!   packets whose original was lost on publisher → A, over the whole run.
//! - `publisher_nack_requests_per_publisher_loss`: every NACKed sequence
//!   number reaching the publisher, retries included, ÷ the same losses.
//! - `repairs_from_nearest_cache`: (subscriber, media packet) pairs where a
//!   copy B sent to the subscriber was lost before it had the packet
//!   (subscriber-hop losses), and the copy that finally delivered it was a
//!   retransmission B served from its cache, ÷ all subscriber-hop losses.
//! - `cache_bytes_max`: the larger of the two nodes' retransmission-cache
//!   peaks (each the sum of its streams' peaks; 0 without the shield).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu::nack::{Arrival, DetectorConfig, LossDetector, NackPair};
use sfu::router::{
    Codec, CodecConfig, ForwardNacks, LayerConfig, LossRecovery, OutboundExtensions, OutboundRtp,
    Output, PullConfig, Router, RouterConfig, RtpPacket, SessionConfig, SessionId, Shield,
    ShieldConfig, ShieldStats, TrackConfig,
};

const VIDEO_PT: u8 = 96;
const VIDEO_RTX_PT: u8 = 97;
const AUDIO_PT: u8 = 111;
const AUDIO_RTX_PT: u8 = 112;
const PUB_SSRC: [u32; 2] = [0x1000, 0x2000];
const PUB_RTX_SSRC: [u32; 2] = [0x1001, 0x2001];
const RELAY_SSRC: [u32; 2] = [0x5000, 0x5100];
const RELAY_RTX_SSRC: [u32; 2] = [0x5001, 0x5101];
const FRAME: Duration = Duration::from_nanos(33_333_333);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
const PACING: Duration = Duration::from_micros(250);
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
const WARMUP: Duration = Duration::from_secs(1);
const DRAIN: Duration = Duration::from_secs(1);
const DEADLINE: Duration = Duration::from_millis(250);
const HISTORY: usize = 4096;
const RTT_WINDOW: usize = 16;

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimOptions {
    /// Seed of every random choice.
    pub seed: u64,
    /// Seconds of media.
    pub seconds: u64,
    /// Mean loss on every link, each direction.
    pub loss: f64,
    /// Gilbert-Elliott burst loss instead of i.i.d.
    pub burst: bool,
    /// Both SFUs run the shield (else `ForwardNacks`).
    pub shield: bool,
    /// Subscribers on SFU B.
    pub subscribers: usize,
    /// One-way delays: publisher ↔ A, A ↔ B, B ↔ subscriber.
    pub delays: [Duration; 3],
    /// Upper bound of the uniform per-packet jitter.
    pub jitter: Duration,
    /// Probability that a packet is held back (reordered).
    pub reorder: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            seconds: 60,
            loss: 0.05,
            burst: false,
            shield: true,
            subscribers: 20,
            delays: [
                Duration::from_millis(20),
                Duration::from_millis(40),
                Duration::from_millis(10),
            ],
            jitter: Duration::from_millis(2),
            reorder: 0.01,
        }
    }
}

impl SimOptions {
    /// Parses the command line (without the program name).
    pub fn from_args<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut o = Self::default();
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or(format!("{flag} needs a value"));
            let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
            match flag.as_str() {
                "--seed" => o.seed = value()?.parse().map_err(|e| bad(&e))?,
                "--seconds" => o.seconds = value()?.parse().map_err(|e| bad(&e))?,
                "--loss" => o.loss = value()?.parse().map_err(|e| bad(&e))?,
                "--burst" => o.burst = true,
                "--shield" => {
                    o.shield = match value()?.as_str() {
                        "on" => true,
                        "off" => false,
                        v => return Err(format!("--shield on|off, not {v}")),
                    }
                }
                "--subscribers" => o.subscribers = value()?.parse().map_err(|e| bad(&e))?,
                "--jitter-ms" => {
                    o.jitter = Duration::from_millis(value()?.parse().map_err(|e| bad(&e))?)
                }
                "--reorder" => o.reorder = value()?.parse().map_err(|e| bad(&e))?,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        if !(0.0..1.0).contains(&o.loss) || !(0.0..=1.0).contains(&o.reorder) {
            return Err("--loss must be in [0, 1), --reorder in [0, 1]".into());
        }
        if o.seconds <= WARMUP.as_secs() || o.subscribers == 0 {
            return Err("--seconds must exceed the 1 s warm-up; --subscribers > 0".into());
        }
        Ok(o)
    }
}

/// Figures of one run; see the module documentation for definitions.
#[derive(Debug, Clone, Default)]
pub struct SimReport {
    /// The seed it ran with.
    pub seed: u64,
    /// Media packets the publisher sent after the warm-up.
    pub media_packets: u64,
    /// See the module documentation.
    pub delivered_within_deadline: f64,
    /// Fraction delivered at all (deadline or not).
    pub delivered_eventually: f64,
    /// See the module documentation.
    pub recovery_ms_p50: f64,
    /// See the module documentation.
    pub recovery_ms_p99: f64,
    /// Recovery p50 by the first hop where a copy was lost:
    /// publisher, relay, subscriber (NaN when none).
    pub recovery_ms_p50_by_hop: [f64; 3],
    /// Pairs recovered, by that hop.
    pub recovered_by_hop: [u64; 3],
    /// Pairs that missed the deadline (late or never), by the first hop
    /// where a copy was lost.
    pub missed_by_hop: [u64; 3],
    /// RTT per hop from RTCP reports: publisher, relay, subscriber (mean).
    pub rtt_ms_by_hop: [f64; 3],
    /// Originals lost on publisher → A.
    pub publisher_losses: u64,
    /// Distinct sequence numbers NACKs asked of the publisher.
    pub publisher_nacked_distinct: u64,
    /// Every NACKed sequence number reaching the publisher.
    pub publisher_nack_requests: u64,
    /// See the module documentation.
    pub publisher_nacks_per_publisher_loss: f64,
    /// See the module documentation.
    pub publisher_nack_requests_per_publisher_loss: f64,
    /// Subscriber-hop losses (pairs).
    pub subscriber_hop_losses: u64,
    /// Of those, repaired by B's cache.
    pub subscriber_hop_cache_repairs: u64,
    /// See the module documentation.
    pub repairs_from_nearest_cache: f64,
    /// See the module documentation.
    pub cache_bytes_max: usize,
    /// The shields' counters on A and B (`None` without the shield).
    pub shield_stats: [Option<ShieldStats>; 2],
    /// NACKed sequence numbers the subscribers sent to B.
    pub subscriber_nacks: u64,
}

impl SimReport {
    /// The report as one line of JSON.
    pub fn to_json(&self, o: &SimOptions) -> String {
        let num = |x: f64| {
            if x.is_finite() {
                serde_json::json!((x * 10_000.0).round() / 10_000.0)
            } else {
                serde_json::Value::Null
            }
        };
        let shield = |s: &Option<ShieldStats>| match s {
            None => serde_json::Value::Null,
            Some(s) => serde_json::json!({
                "losses_seen": s.hop.detector.losses_seen,
                "nacks_sent": s.hop.detector.nacks_sent,
                "nacks_received": s.hop.responder.nacks_received,
                "cache_hits": s.hop.responder.cache_hits,
                "cache_misses": s.hop.responder.cache_misses,
                "upstream_requests": s.hop.responder.upstream_requests,
                "repairs_sent": s.repairs_sent,
                "repairs_forwarded": s.repairs_forwarded,
                "duplicates_dropped": s.duplicates_dropped,
                "gave_ups": s.hop.detector.gave_ups,
                "cache_bytes_max": s.hop.cache_bytes_max,
            }),
        };
        serde_json::json!({
            "seed": o.seed,
            "seconds": o.seconds,
            "loss": o.loss,
            "burst": o.burst,
            "shield": if o.shield { "on" } else { "off" },
            "subscribers": o.subscribers,
            "media_packets": self.media_packets,
            "delivered_within_deadline": num(self.delivered_within_deadline),
            "delivered_eventually": num(self.delivered_eventually),
            "recovery_ms_p50": num(self.recovery_ms_p50),
            "recovery_ms_p99": num(self.recovery_ms_p99),
            "recovery_ms_p50_publisher_hop": num(self.recovery_ms_p50_by_hop[0]),
            "recovery_ms_p50_relay_hop": num(self.recovery_ms_p50_by_hop[1]),
            "recovery_ms_p50_subscriber_hop": num(self.recovery_ms_p50_by_hop[2]),
            "recovered_by_hop": self.recovered_by_hop,
            "missed_by_hop": self.missed_by_hop,
            "rtt_ms_publisher_hop": num(self.rtt_ms_by_hop[0]),
            "rtt_ms_relay_hop": num(self.rtt_ms_by_hop[1]),
            "rtt_ms_subscriber_hop": num(self.rtt_ms_by_hop[2]),
            "publisher_losses": self.publisher_losses,
            "publisher_nacked_distinct": self.publisher_nacked_distinct,
            "publisher_nack_requests": self.publisher_nack_requests,
            "publisher_nacks_per_publisher_loss": num(self.publisher_nacks_per_publisher_loss),
            "publisher_nack_requests_per_publisher_loss":
                num(self.publisher_nack_requests_per_publisher_loss),
            "subscriber_hop_losses": self.subscriber_hop_losses,
            "repairs_from_nearest_cache": num(self.repairs_from_nearest_cache),
            "subscriber_nacks": self.subscriber_nacks,
            "cache_bytes_max": self.cache_bytes_max,
            "node_a": shield(&self.shield_stats[0]),
            "node_b": shield(&self.shield_stats[1]),
        })
        .to_string()
    }
}

/// Runs one simulation.
pub fn run(opts: SimOptions) -> SimReport {
    if opts.shield {
        World::<Shield>::new(opts).run()
    } else {
        World::<ForwardNacks>::new(opts).run()
    }
}

#[allow(dead_code)]
fn main() {
    let opts = match SimOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nack_sim: {e}");
            std::process::exit(2);
        }
    };
    let report = run(opts);
    println!(
        "shield {}, loss {}{}, seed {}, {} s: {:.4} delivered within 250 ms, recovery p50 {:.1} ms p99 {:.1} ms",
        if opts.shield { "on" } else { "off" },
        opts.loss,
        if opts.burst { " (burst)" } else { "" },
        opts.seed,
        opts.seconds,
        report.delivered_within_deadline,
        report.recovery_ms_p50,
        report.recovery_ms_p99,
    );
    println!("{}", report.to_json(&opts));
}

// ---------------------------------------------------------------- recovery

/// The two loss-recovery hooks the simulation compares.
trait Recovery: LossRecovery + Sized {
    fn make() -> Self;
    fn shield_stats(&self) -> Option<ShieldStats>;
}

impl Recovery for Shield {
    fn make() -> Self {
        Shield::new(ShieldConfig::default()).expect("the default shield configuration is valid")
    }
    fn shield_stats(&self) -> Option<ShieldStats> {
        Some(self.stats())
    }
}

impl Recovery for ForwardNacks {
    fn make() -> Self {
        ForwardNacks
    }
    fn shield_stats(&self) -> Option<ShieldStats> {
        None
    }
}

// -------------------------------------------------------------- randomness

/// SplitMix64: small, seedable, good enough for a network model.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn upto(&mut self, d: Duration) -> Duration {
        d.mul_f64(self.unit())
    }
}

// ------------------------------------------------------------------- links

/// One direction of one link.
struct Link {
    delay: Duration,
    jitter: Duration,
    reorder: f64,
    loss: f64,
    /// Gilbert-Elliott: (in the bad state, P(good → bad), P(bad → good)).
    burst: Option<(bool, f64, f64)>,
    rng: Rng,
    last_arrival: Duration,
}

const BAD_STATE_LOSS: f64 = 0.75;
const BAD_STATE_PACKETS: f64 = 6.0;

impl Link {
    fn new(o: &SimOptions, delay: Duration, id: u64) -> Self {
        let burst = o.burst.then(|| {
            let bad_share = (o.loss / BAD_STATE_LOSS).min(0.999);
            let leave = 1.0 / BAD_STATE_PACKETS;
            (false, bad_share * leave / (1.0 - bad_share), leave)
        });
        Self {
            delay,
            jitter: o.jitter,
            reorder: o.reorder,
            loss: o.loss,
            burst,
            rng: Rng::new(o.seed, id),
            last_arrival: Duration::ZERO,
        }
    }

    /// When a packet sent at `at` arrives, or `None` if it is lost.
    fn send(&mut self, at: Duration) -> Option<Duration> {
        let lost = match &mut self.burst {
            None => self.rng.chance(self.loss),
            Some((bad, enter, leave)) => {
                let flip = if *bad { *leave } else { *enter };
                if self.rng.chance(flip) {
                    *bad = !*bad;
                }
                *bad && self.rng.chance(BAD_STATE_LOSS)
            }
        };
        let jitter = self.rng.upto(self.jitter);
        let held = self.rng.chance(self.reorder);
        let extra = Duration::from_micros(500) + self.rng.upto(Duration::from_micros(3500));
        if lost {
            return None;
        }
        let arrival = at + self.delay + jitter;
        if held {
            // Later packets overtake this one.
            return Some(arrival + extra);
        }
        self.last_arrival = self.last_arrival.max(arrival);
        Some(self.last_arrival)
    }
}

// ------------------------------------------------------------------ events

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    A(SessionId),
    B(SessionId),
    Publisher,
    Subscriber(usize),
}

struct Delivery {
    to: Node,
    rtcp: bool,
    data: Bytes,
    /// A retransmission B served from its cache.
    from_cache: bool,
}

// ---------------------------------------------------------------- packets

fn rtp_bytes(ssrc: u32, pt: u8, seq: u16, ts: u32, marker: bool, payload: Bytes) -> Bytes {
    Bytes::from(
        OutboundRtp {
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            extensions: OutboundExtensions::default(),
            rtx_osn: None,
            payload,
        }
        .to_vec(),
    )
}

/// The publisher's packet number, carried at payload bytes 2..6.
fn id_in_payload(payload: &[u8]) -> Option<u32> {
    payload
        .get(2..6)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The packet number of an RTP datagram (RTX or not).
fn id_of_datagram(data: &Bytes) -> Option<u32> {
    let p = RtpPacket::parse(data.clone()).ok()?;
    let payload = p.payload_slice();
    if matches!(p.payload_type, VIDEO_RTX_PT | AUDIO_RTX_PT) {
        id_in_payload(payload.get(2..)?)
    } else {
        id_in_payload(payload)
    }
}

fn nack_rtcp(sender: u32, media: u32, pairs: &[NackPair]) -> Bytes {
    let mut p = vec![0x81, 205];
    p.extend_from_slice(&((2 + pairs.len()) as u16).to_be_bytes());
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&media.to_be_bytes());
    for pair in pairs {
        p.extend_from_slice(&pair.pid.to_be_bytes());
        p.extend_from_slice(&pair.blp.to_be_bytes());
    }
    Bytes::from(p)
}

fn ntp_at(t: Duration) -> u64 {
    ((3_900_000_000u64 + t.as_secs()) << 32) | ((u64::from(t.subsec_nanos()) << 32) / 1_000_000_000)
}

fn q16(d: Duration) -> u32 {
    ((d.as_nanos() << 16) / 1_000_000_000) as u32
}

fn from_q16(v: u32) -> Duration {
    Duration::from_nanos((u64::from(v) * 1_000_000_000) >> 16)
}

/// Receiver report blocks: (ssrc, highest ext seq, LSR, DLSR).
fn receiver_report(sender: u32, blocks: &[(u32, u32, u32, u32)]) -> Bytes {
    let mut p = vec![0x80 | blocks.len() as u8, 201];
    p.extend_from_slice(&((1 + 6 * blocks.len()) as u16).to_be_bytes());
    p.extend_from_slice(&sender.to_be_bytes());
    for &(ssrc, highest, lsr, dlsr) in blocks {
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(&highest.to_be_bytes());
        p.extend_from_slice(&[0; 4]);
        p.extend_from_slice(&lsr.to_be_bytes());
        p.extend_from_slice(&dlsr.to_be_bytes());
    }
    Bytes::from(p)
}

/// The packets of an RTCP compound: (packet type, FMT/count, body after
/// the 4-byte header).
fn rtcp_packets(data: &[u8]) -> Vec<(u8, u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let len = 4 * (1 + usize::from(u16::from_be_bytes([rest[2], rest[3]])));
        let Some(p) = rest.get(..len) else { break };
        out.push((p[1], p[0] & 0x1f, &p[4..]));
        rest = &rest[len..];
    }
    out
}

fn be32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
}

/// Report blocks of an SR/RR body, as (ssrc, LSR, DLSR).
fn report_blocks(body: &[u8], count: u8, offset: usize) -> Vec<(u32, u32, u32)> {
    (0..usize::from(count))
        .map(|k| offset + 24 * k)
        .filter(|&at| body.len() >= at + 24)
        .map(|at| (be32(body, at), be32(body, at + 16), be32(body, at + 20)))
        .collect()
}

/// Windowed minimum of NACK → repair samples, first NACKs only.
#[derive(Default)]
struct RttMin {
    samples: VecDeque<Duration>,
}

impl RttMin {
    fn push(&mut self, d: Duration) -> Duration {
        if self.samples.len() == RTT_WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
        self.samples.iter().min().copied().unwrap_or(d)
    }
}

// --------------------------------------------------------------- endpoints

struct Publisher {
    seq: [u16; 2],
    rtx_seq: [u16; 2],
    frame: u32,
    keyframe_due: bool,
    next_video: Duration,
    next_audio: Duration,
    /// (stream, seq) → (payload, timestamp, marker), bounded by `order`.
    history: HashMap<(usize, u16), (Bytes, u32, bool)>,
    order: VecDeque<(usize, u16)>,
    /// (stream, seq) → packet number, for NACK accounting.
    nacked: HashSet<(usize, u16)>,
    nack_requests: u64,
    sent_srs: VecDeque<(u32, Duration)>,
    rtt_samples: Vec<Duration>,
    rng: Rng,
}

struct Viewer {
    session: SessionId,
    ssrc: [u32; 2],
    rtx_ssrc: [u32; 2],
    rtcp_ssrc: u32,
    detectors: [LossDetector; 2],
    /// (stream, seq) → (first NACK at, NACKed again).
    nacked_at: HashMap<(usize, u16), (Duration, bool)>,
    rtt: RttMin,
    /// Per stream: last SR's LSR and when it came.
    last_sr: [Option<(u32, Duration)>; 2],
    nacks_sent: u64,
}

impl Viewer {
    fn stream_of(&self, ssrc: u32) -> Option<(usize, bool)> {
        (0..2).find_map(|s| {
            if self.ssrc[s] == ssrc {
                Some((s, false))
            } else if self.rtx_ssrc[s] == ssrc {
                Some((s, true))
            } else {
                None
            }
        })
    }
}

/// What the metrics need about one media packet.
#[derive(Clone, Copy, Default)]
struct PacketLog {
    sent_at: Duration,
    measured: bool,
    pub_lost: bool,
    relay_seen: bool,
    relay_lost: bool,
}

#[derive(Clone, Copy, Default)]
struct Reception {
    arrival: Option<Duration>,
    first_copy_seen: bool,
    first_copy_lost: bool,
    cache_repaired: bool,
}

// ------------------------------------------------------------------- world

struct World<R: Recovery> {
    o: SimOptions,
    t0: Instant,
    now: Duration,
    a: Router<R>,
    b: Router<R>,
    a_pub: SessionId,
    a_relay: SessionId,
    b_relay: SessionId,
    publisher: Publisher,
    viewers: Vec<Viewer>,
    viewer_by_session: HashMap<SessionId, usize>,
    pub_to_a: Link,
    a_to_pub: Link,
    a_to_b: Link,
    b_to_a: Link,
    b_to_sub: Vec<Link>,
    sub_to_b: Vec<Link>,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: HashMap<u64, Delivery>,
    order: u64,
    next_report: Duration,
    packets: Vec<PacketLog>,
    receptions: Vec<Vec<Reception>>,
    publisher_losses: u64,
}

fn pull(ssrc: [u32; 2], rtx: [u32; 2], video: bool) -> PullConfig {
    let (s, codec) = if video {
        (
            0,
            CodecConfig::new(VIDEO_PT, Codec::Vp8).with_rtx(VIDEO_RTX_PT),
        )
    } else {
        (
            1,
            CodecConfig::new(AUDIO_PT, Codec::Opus).with_rtx(AUDIO_RTX_PT),
        )
    };
    PullConfig::new(ssrc[s], vec![codec]).with_rtx(rtx[s])
}

fn tracks(ssrc: [u32; 2], rtx: [u32; 2]) -> [TrackConfig; 2] {
    let video = TrackConfig::video(
        "cam",
        CodecConfig::new(VIDEO_PT, Codec::Vp8).with_rtx(VIDEO_RTX_PT),
        vec![LayerConfig::ssrc(ssrc[0]).with_rtx(rtx[0])],
    );
    let mut audio = TrackConfig::audio("mic", ssrc[1], AUDIO_PT);
    audio.codecs = vec![CodecConfig::new(AUDIO_PT, Codec::Opus).with_rtx(AUDIO_RTX_PT)];
    audio.layers = vec![LayerConfig::ssrc(ssrc[1]).with_rtx(rtx[1])];
    [video, audio]
}

impl<R: Recovery> World<R> {
    fn new(o: SimOptions) -> Self {
        let t0 = Instant::now();
        let mut a = Router::with_loss_recovery(RouterConfig::default(), R::make());
        let mut b = Router::with_loss_recovery(RouterConfig::default(), R::make());
        let session = |r: &mut Router<R>| {
            r.create_session(t0, SessionConfig::default())
                .expect("session")
        };
        let a_pub = session(&mut a);
        let a_relay = session(&mut a);
        let b_relay = session(&mut b);
        for (router, publisher, ssrc, rtx) in [
            (&mut a, a_pub, PUB_SSRC, PUB_RTX_SSRC),
            (&mut b, b_relay, RELAY_SSRC, RELAY_RTX_SSRC),
        ] {
            for t in tracks(ssrc, rtx) {
                router.publish_track(t0, publisher, t).expect("publish");
            }
        }
        for (video, name) in [(true, "cam"), (false, "mic")] {
            a.pull_track(
                t0,
                a_relay,
                a_pub,
                name,
                pull(RELAY_SSRC, RELAY_RTX_SSRC, video),
            )
            .expect("relay pull");
        }
        let mut viewers = Vec::new();
        let mut viewer_by_session = HashMap::new();
        let detector = || LossDetector::new(DetectorConfig::default()).expect("detector");
        for i in 0..o.subscribers {
            let s = session(&mut b);
            let base = 0x6000_0000 + 16 * i as u32;
            let ssrc = [base, base + 2];
            let rtx_ssrc = [base + 1, base + 3];
            for (video, name) in [(true, "cam"), (false, "mic")] {
                b.pull_track(t0, s, b_relay, name, pull(ssrc, rtx_ssrc, video))
                    .expect("subscriber pull");
            }
            viewer_by_session.insert(s, i);
            viewers.push(Viewer {
                session: s,
                ssrc,
                rtx_ssrc,
                rtcp_ssrc: base + 15,
                detectors: [detector(), detector()],
                nacked_at: HashMap::new(),
                rtt: RttMin::default(),
                last_sr: [None; 2],
                nacks_sent: 0,
            });
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        let [d_pub, d_relay, d_sub] = o.delays;
        Self {
            t0,
            now: Duration::ZERO,
            a,
            b,
            a_pub,
            a_relay,
            b_relay,
            publisher: Publisher {
                seq: [1000, 30_000],
                rtx_seq: [0, 0],
                frame: 0,
                keyframe_due: true,
                next_video: Duration::ZERO,
                next_audio: Duration::from_millis(3),
                history: HashMap::new(),
                order: VecDeque::new(),
                nacked: HashSet::new(),
                nack_requests: 0,
                sent_srs: VecDeque::new(),
                rtt_samples: Vec::new(),
                rng: Rng::new(o.seed, 1),
            },
            viewers,
            viewer_by_session,
            pub_to_a: Link::new(&o, d_pub, 10),
            a_to_pub: Link::new(&o, d_pub, 11),
            a_to_b: Link::new(&o, d_relay, 12),
            b_to_a: Link::new(&o, d_relay, 13),
            b_to_sub: (0..o.subscribers)
                .map(|i| Link::new(&o, d_sub, 100 + 2 * i as u64))
                .collect(),
            sub_to_b: (0..o.subscribers)
                .map(|i| Link::new(&o, d_sub, 101 + 2 * i as u64))
                .collect(),
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            order: 0,
            next_report: Duration::from_millis(500),
            packets: Vec::new(),
            receptions: vec![Vec::new(); o.subscribers],
            publisher_losses: 0,
            o,
        }
    }

    fn instant(&self) -> Instant {
        self.t0 + self.now
    }

    fn since_t0(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.t0)
    }

    fn schedule(&mut self, at: Duration, d: Delivery) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order)));
        self.pending.insert(self.order, d);
    }

    fn run(mut self) -> SimReport {
        let send_end = Duration::from_secs(self.o.seconds);
        let end = send_end + DRAIN;
        let mut last = Duration::ZERO;
        let mut stuck = 0u32;
        loop {
            let mut next = end;
            if let Some(Reverse((at, _))) = self.queue.peek() {
                next = next.min(*at);
            }
            if self.publisher.next_video < send_end {
                next = next.min(self.publisher.next_video);
            }
            if self.publisher.next_audio < send_end {
                next = next.min(self.publisher.next_audio);
            }
            next = next.min(self.next_report);
            for t in [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
            {
                next = next.min(self.since_t0(t));
            }
            for v in &self.viewers {
                for d in &v.detectors {
                    if let Some(t) = d.poll_timeout() {
                        next = next.min(self.since_t0(t));
                    }
                }
            }
            if next >= end {
                break;
            }
            self.now = next.max(self.now);
            stuck = if self.now == last { stuck + 1 } else { 0 };
            assert!(stuck < 100_000, "simulation stuck at {:?}", self.now);
            last = self.now;
            self.step(send_end);
        }
        self.report()
    }

    fn step(&mut self, send_end: Duration) {
        let now = self.now;
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > now {
                break;
            }
            self.queue.pop();
            if let Some(d) = self.pending.remove(&id) {
                self.deliver(d);
            }
        }
        if self.publisher.next_video <= now && now < send_end {
            self.send_frame();
            self.publisher.next_video += FRAME;
        }
        if self.publisher.next_audio <= now && now < send_end {
            self.send_audio();
            self.publisher.next_audio += AUDIO_INTERVAL;
        }
        if self.next_report <= now {
            self.send_reports();
            self.next_report += REPORT_INTERVAL;
        }
        let instant = self.instant();
        if self.a.poll_timeout().is_some_and(|t| t <= instant) {
            self.a.handle_timeout(instant);
            self.drain_a();
        }
        if self.b.poll_timeout().is_some_and(|t| t <= instant) {
            self.b_call(|b, now| b.handle_timeout(now));
        }
        for i in 0..self.viewers.len() {
            let due = self.viewers[i]
                .detectors
                .iter()
                .any(|d| d.poll_timeout().is_some_and(|t| t <= instant));
            if due {
                for d in &mut self.viewers[i].detectors {
                    d.handle_timeout(instant);
                }
                self.viewer_nacks(i);
            }
        }
    }

    // ------------------------------------------------------- publisher

    fn publish(&mut self, stream: usize, payload: Bytes, ts: u32, marker: bool, at: Duration) {
        let p = &mut self.publisher;
        let seq = p.seq[stream];
        p.seq[stream] = seq.wrapping_add(1);
        if p.order.len() == HISTORY
            && let Some(old) = p.order.pop_front()
        {
            p.history.remove(&old);
        }
        p.order.push_back((stream, seq));
        p.history
            .insert((stream, seq), (payload.clone(), ts, marker));
        let pt = [VIDEO_PT, AUDIO_PT][stream];
        let data = rtp_bytes(PUB_SSRC[stream], pt, seq, ts, marker, payload);
        let lost = match self.pub_to_a.send(at) {
            Some(arrival) => {
                let d = Delivery {
                    to: Node::A(self.a_pub),
                    rtcp: false,
                    data,
                    from_cache: false,
                };
                self.schedule(arrival, d);
                false
            }
            None => true,
        };
        if lost {
            self.publisher_losses += 1;
        }
        if let Some(log) = self.packets.last_mut() {
            log.pub_lost = lost;
        }
    }

    /// A new packet number for a media packet sent at `at`.
    fn new_packet(&mut self, at: Duration) -> u32 {
        let id = self.packets.len() as u32;
        self.packets.push(PacketLog {
            sent_at: at,
            measured: at >= WARMUP,
            ..PacketLog::default()
        });
        for r in &mut self.receptions {
            r.push(Reception::default());
        }
        id
    }

    fn send_frame(&mut self) {
        let p = &mut self.publisher;
        let key = p.keyframe_due || p.frame.is_multiple_of(60);
        p.keyframe_due = false;
        let count = if key {
            30
        } else {
            2 + (p.rng.next() % 5) as usize
        };
        let ts = p.frame.wrapping_mul(3000);
        p.frame += 1;
        let start = self.now;
        for k in 0..count {
            let at = start + PACING * k as u32;
            let id = self.new_packet(at);
            let mut body = Vec::with_capacity(1200);
            body.push(if k == 0 { 0x10 } else { 0x00 });
            body.push(if key { 0x00 } else { 0x01 });
            body.extend_from_slice(&id.to_be_bytes());
            body.resize(if key { 1200 } else { 1000 }, 0xAB);
            self.publish(0, Bytes::from(body), ts, k + 1 == count, at);
        }
    }

    fn send_audio(&mut self) {
        let at = self.now;
        let id = self.new_packet(at);
        let mut body = vec![0xfc, 0x00];
        body.extend_from_slice(&id.to_be_bytes());
        body.resize(100, 0x5A);
        let ts = (at.as_micros() * 48 / 1000) as u32;
        self.publish(1, Bytes::from(body), ts, false, at);
    }

    fn send_to_a_rtcp(&mut self, data: Bytes) {
        if let Some(arrival) = self.pub_to_a.send(self.now) {
            let d = Delivery {
                to: Node::A(self.a_pub),
                rtcp: true,
                data,
                from_cache: false,
            };
            self.schedule(arrival, d);
        }
    }

    fn publisher_rtcp(&mut self, data: &Bytes) {
        let mut answers = Vec::new();
        for (pt, fmt, body) in rtcp_packets(data) {
            match (pt, fmt) {
                (205, 1) => {
                    let media = be32(body, 4);
                    let Some(stream) = PUB_SSRC.iter().position(|s| *s == media) else {
                        continue;
                    };
                    for fci in body.get(8..).unwrap_or_default().chunks_exact(4) {
                        let pair = NackPair {
                            pid: u16::from_be_bytes([fci[0], fci[1]]),
                            blp: u16::from_be_bytes([fci[2], fci[3]]),
                        };
                        for seq in pair.seqs() {
                            self.publisher.nack_requests += 1;
                            self.publisher.nacked.insert((stream, seq));
                            answers.push((stream, seq));
                        }
                    }
                }
                (206, 1) => self.publisher.keyframe_due = true,
                (201, count) => {
                    for (_, lsr, dlsr) in report_blocks(body, count, 4) {
                        let sent = self.publisher.sent_srs.iter().find(|(l, _)| *l == lsr);
                        if let Some(&(_, at)) = sent.filter(|_| lsr != 0) {
                            let rtt = self.now.saturating_sub(at).saturating_sub(from_q16(dlsr));
                            self.publisher.rtt_samples.push(rtt);
                        }
                    }
                }
                _ => {}
            }
        }
        for (stream, seq) in answers {
            let Some((payload, ts, marker)) = self.publisher.history.get(&(stream, seq)).cloned()
            else {
                continue;
            };
            let p = &mut self.publisher;
            let rtx_seq = p.rtx_seq[stream];
            p.rtx_seq[stream] = rtx_seq.wrapping_add(1);
            let mut body = seq.to_be_bytes().to_vec();
            body.extend_from_slice(&payload);
            let pt = [VIDEO_RTX_PT, AUDIO_RTX_PT][stream];
            let data = rtp_bytes(PUB_RTX_SSRC[stream], pt, rtx_seq, ts, marker, body.into());
            if let Some(arrival) = self.pub_to_a.send(self.now) {
                let d = Delivery {
                    to: Node::A(self.a_pub),
                    rtcp: false,
                    data,
                    from_cache: false,
                };
                self.schedule(arrival, d);
            }
        }
    }

    fn send_reports(&mut self) {
        let ntp = ntp_at(self.now);
        let lsr = (ntp >> 16) as u32;
        if self.publisher.sent_srs.len() == 8 {
            self.publisher.sent_srs.pop_front();
        }
        self.publisher.sent_srs.push_back((lsr, self.now));
        for (ssrc, khz) in [(PUB_SSRC[0], 90), (PUB_SSRC[1], 48)] {
            let rtp = (self.now.as_micros() * khz / 1000) as u32;
            let mut p = vec![0x80, 200, 0, 6];
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend_from_slice(&ntp.to_be_bytes());
            p.extend_from_slice(&rtp.to_be_bytes());
            p.extend_from_slice(&[0; 8]);
            self.send_to_a_rtcp(Bytes::from(p));
        }
        for i in 0..self.viewers.len() {
            let v = &self.viewers[i];
            let blocks: Vec<(u32, u32, u32, u32)> = (0..2)
                .map(|s| {
                    let (lsr, dlsr) = v.last_sr[s]
                        .map_or((0, 0), |(lsr, at)| (lsr, q16(self.now.saturating_sub(at))));
                    let highest = v.detectors[s].highest().unwrap_or(0) as u32;
                    (v.ssrc[s], highest, lsr, dlsr)
                })
                .collect();
            let rr = receiver_report(v.rtcp_ssrc, &blocks);
            self.viewer_to_b(i, rr);
        }
    }

    // ---------------------------------------------------------- viewers

    fn viewer_to_b(&mut self, i: usize, data: Bytes) {
        if let Some(arrival) = self.sub_to_b[i].send(self.now) {
            let d = Delivery {
                to: Node::B(self.viewers[i].session),
                rtcp: true,
                data,
                from_cache: false,
            };
            self.schedule(arrival, d);
        }
    }

    fn viewer_rtp(&mut self, i: usize, data: Bytes, from_cache: bool) {
        let now = self.now;
        let instant = self.instant();
        let Ok(p) = RtpPacket::parse(data) else {
            return;
        };
        let v = &mut self.viewers[i];
        let Some((stream, rtx)) = v.stream_of(p.ssrc) else {
            return;
        };
        let payload = p.payload_slice();
        let (seq, media) = if rtx {
            let Some((osn, rest)) = payload.split_first_chunk::<2>() else {
                return;
            };
            (u16::from_be_bytes(*osn), rest)
        } else {
            (p.sequence_number, payload)
        };
        match v.detectors[stream].handle_packet(instant, seq) {
            Arrival::Duplicate => return,
            Arrival::Filled { after_nack: true } => {
                // Karn's rule, and RTX only: a plain packet may be a late
                // original.
                if let Some((at, retried)) = v.nacked_at.remove(&(stream, seq))
                    && !retried
                    && rtx
                {
                    let rtt = v.rtt.push(now.saturating_sub(at));
                    v.detectors[stream].set_rtt(rtt);
                }
            }
            _ => {}
        }
        if let Some(id) = id_in_payload(media)
            && let Some(r) = self.receptions[i].get_mut(id as usize)
            && r.arrival.is_none()
        {
            r.arrival = Some(now);
            r.cache_repaired = r.first_copy_lost && from_cache;
        }
        self.viewer_nacks(i);
    }

    fn viewer_nacks(&mut self, i: usize) {
        let now = self.now;
        let instant = self.instant();
        for stream in 0..2 {
            let v = &mut self.viewers[i];
            let mut pairs = Vec::new();
            while let Some(pair) = v.detectors[stream].poll_nack(instant) {
                for seq in pair.seqs() {
                    v.nacks_sent += 1;
                    v.nacked_at
                        .entry((stream, seq))
                        .and_modify(|e| e.1 = true)
                        .or_insert((now, false));
                }
                pairs.push(pair);
            }
            if pairs.is_empty() {
                continue;
            }
            // Forget first-NACK times of packets never repaired.
            v.nacked_at
                .retain(|_, (at, _)| now.saturating_sub(*at) < Duration::from_secs(2));
            let data = nack_rtcp(v.rtcp_ssrc, v.ssrc[stream], &pairs);
            self.viewer_to_b(i, data);
        }
    }

    fn viewer_rtcp(&mut self, i: usize, data: &Bytes) {
        let now = self.now;
        let v = &mut self.viewers[i];
        for (pt, _, body) in rtcp_packets(data) {
            if pt != 200 {
                continue;
            }
            let ssrc = be32(body, 0);
            let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
            if let Some((s, false)) = v.stream_of(ssrc) {
                v.last_sr[s] = Some(((ntp >> 16) as u32, now));
            }
        }
    }

    // ----------------------------------------------------------- routers

    fn deliver(&mut self, d: Delivery) {
        let instant = self.instant();
        match d.to {
            Node::A(session) => {
                // Dropped input is counted by the router; the network model
                // only produces well-formed packets.
                let _ = if d.rtcp {
                    self.a.handle_rtcp(instant, session, d.data)
                } else {
                    self.a.handle_rtp(instant, session, d.data)
                };
                self.drain_a();
            }
            Node::B(session) => {
                let (rtcp, data) = (d.rtcp, d.data);
                self.b_call(move |b, now| {
                    let _ = if rtcp {
                        b.handle_rtcp(now, session, data)
                    } else {
                        b.handle_rtp(now, session, data)
                    };
                });
            }
            Node::Publisher => self.publisher_rtcp(&d.data),
            Node::Subscriber(i) => {
                if d.rtcp {
                    self.viewer_rtcp(i, &d.data);
                } else {
                    self.viewer_rtp(i, d.data, d.from_cache);
                }
            }
        }
    }

    fn drain_a(&mut self) {
        while let Some(out) = self.a.poll_output() {
            let (session, rtcp, data) = match out {
                Output::Rtp {
                    session, packet, ..
                } => (session, false, Bytes::from(packet.to_vec())),
                Output::Rtcp { session, packet } => (session, true, packet),
            };
            if session == self.a_pub {
                if let Some(at) = self.a_to_pub.send(self.now) {
                    let d = Delivery {
                        to: Node::Publisher,
                        rtcp,
                        data,
                        from_cache: false,
                    };
                    self.schedule(at, d);
                }
                continue;
            }
            let id = if rtcp { None } else { id_of_datagram(&data) };
            let arrival = self.a_to_b.send(self.now);
            if let Some(log) = id.and_then(|id| self.packets.get_mut(id as usize))
                && !log.relay_seen
            {
                log.relay_seen = true;
                log.relay_lost = arrival.is_none();
            }
            if let Some(at) = arrival {
                let d = Delivery {
                    to: Node::B(self.b_relay),
                    rtcp,
                    data,
                    from_cache: false,
                };
                self.schedule(at, d);
            }
        }
    }

    /// Runs `f` on router B and routes what it sent. Retransmissions the
    /// shield asked for are queued after everything else a call produces,
    /// so the last `retransmissions_sent` RTP outputs of the call are the
    /// ones B served from its cache.
    fn b_call(&mut self, f: impl FnOnce(&mut Router<R>, Instant)) {
        let before = self.b.stats().retransmissions_sent;
        let now = self.instant();
        f(&mut self.b, now);
        let from_cache = (self.b.stats().retransmissions_sent - before) as usize;
        let outputs: Vec<Output> = std::iter::from_fn(|| self.b.poll_output()).collect();
        let rtp_total = outputs
            .iter()
            .filter(|o| matches!(o, Output::Rtp { .. }))
            .count();
        let mut rtp_index = 0;
        for out in outputs {
            let (session, rtcp, data, id, cached) = match out {
                Output::Rtp {
                    session, packet, ..
                } => {
                    rtp_index += 1;
                    let cached = rtp_index + from_cache > rtp_total;
                    let id = id_in_payload(&packet.payload);
                    (session, false, Bytes::from(packet.to_vec()), id, cached)
                }
                Output::Rtcp { session, packet } => (session, true, packet, None, false),
            };
            if session == self.b_relay {
                if let Some(at) = self.b_to_a.send(self.now) {
                    let d = Delivery {
                        to: Node::A(self.a_relay),
                        rtcp,
                        data,
                        from_cache: false,
                    };
                    self.schedule(at, d);
                }
                continue;
            }
            let Some(&i) = self.viewer_by_session.get(&session) else {
                continue;
            };
            let arrival = self.b_to_sub[i].send(self.now);
            if let Some(r) = id.and_then(|id| self.receptions[i].get_mut(id as usize))
                && r.arrival.is_none()
                && !r.first_copy_seen
            {
                r.first_copy_seen = true;
                r.first_copy_lost = arrival.is_none();
            }
            if let Some(at) = arrival {
                let d = Delivery {
                    to: Node::Subscriber(i),
                    rtcp,
                    data,
                    from_cache: cached,
                };
                self.schedule(at, d);
            }
        }
    }

    // ------------------------------------------------------------ report

    fn report(self) -> SimReport {
        let nominal: Duration = self.o.delays.iter().sum();
        let mut measured = 0u64;
        let (mut in_time, mut eventually) = (0u64, 0u64);
        let mut recovery: Vec<f64> = Vec::new();
        let mut by_hop: [Vec<f64>; 3] = Default::default();
        let mut missed_by_hop = [0u64; 3];
        let (mut hop_losses, mut cache_repairs) = (0u64, 0u64);
        for (id, log) in self.packets.iter().enumerate() {
            if !log.measured {
                continue;
            }
            measured += 1;
            for r in self.receptions.iter().filter_map(|r| r.get(id)) {
                if r.first_copy_lost {
                    hop_losses += 1;
                    cache_repairs += u64::from(r.cache_repaired);
                }
                let hop = if log.pub_lost {
                    Some(0)
                } else if log.relay_lost {
                    Some(1)
                } else if r.first_copy_lost {
                    Some(2)
                } else {
                    None
                };
                let on_time = r
                    .arrival
                    .is_some_and(|a| a.saturating_sub(log.sent_at) <= DEADLINE);
                in_time += u64::from(on_time);
                if let (false, Some(hop)) = (on_time, hop) {
                    missed_by_hop[hop] += 1;
                }
                let (Some(arrival), Some(hop)) = (r.arrival, hop) else {
                    eventually += u64::from(r.arrival.is_some());
                    continue;
                };
                eventually += 1;
                let late = arrival.saturating_sub(log.sent_at).saturating_sub(nominal);
                let ms = late.as_secs_f64() * 1000.0;
                recovery.push(ms);
                by_hop[hop].push(ms);
            }
        }
        let pairs = (measured * self.o.subscribers as u64) as f64;
        let percentile = |v: &mut Vec<f64>, q: f64| {
            if v.is_empty() {
                return f64::NAN;
            }
            v.sort_by(f64::total_cmp);
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            v[rank - 1]
        };
        let mean_ms = |v: &[Duration]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / v.len() as f64
            }
        };
        let sub_rtts: Vec<Duration> = self
            .viewers
            .iter()
            .filter_map(|v| self.b.session_rtt(v.session))
            .collect();
        let relay_rtt: Vec<Duration> = self.a.session_rtt(self.a_relay).into_iter().collect();
        let stats = [
            self.a.loss_recovery().shield_stats(),
            self.b.loss_recovery().shield_stats(),
        ];
        let losses = self.publisher_losses as f64;
        let distinct = self.publisher.nacked.len() as u64;
        SimReport {
            seed: self.o.seed,
            media_packets: measured,
            delivered_within_deadline: in_time as f64 / pairs,
            delivered_eventually: eventually as f64 / pairs,
            recovery_ms_p50: percentile(&mut recovery, 0.50),
            recovery_ms_p99: percentile(&mut recovery, 0.99),
            recovery_ms_p50_by_hop: [
                percentile(&mut by_hop[0], 0.5),
                percentile(&mut by_hop[1], 0.5),
                percentile(&mut by_hop[2], 0.5),
            ],
            recovered_by_hop: [
                by_hop[0].len() as u64,
                by_hop[1].len() as u64,
                by_hop[2].len() as u64,
            ],
            missed_by_hop,
            rtt_ms_by_hop: [
                mean_ms(&self.publisher.rtt_samples),
                mean_ms(&relay_rtt),
                mean_ms(&sub_rtts),
            ],
            publisher_losses: self.publisher_losses,
            publisher_nacked_distinct: distinct,
            publisher_nack_requests: self.publisher.nack_requests,
            publisher_nacks_per_publisher_loss: distinct as f64 / losses,
            publisher_nack_requests_per_publisher_loss: self.publisher.nack_requests as f64
                / losses,
            subscriber_hop_losses: hop_losses,
            subscriber_hop_cache_repairs: cache_repairs,
            repairs_from_nearest_cache: cache_repairs as f64 / hop_losses.max(1) as f64,
            cache_bytes_max: stats
                .iter()
                .flatten()
                .map(|s| s.hop.cache_bytes_max)
                .max()
                .unwrap_or(0),
            shield_stats: stats,
            subscriber_nacks: self.viewers.iter().map(|v| v.nacks_sent).sum(),
        }
    }
}
