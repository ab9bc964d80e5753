//! The world: two routers, the relay between them, the publisher, the
//! viewers and the links, driven in simulated time from one event queue.

mod metrics;
mod publisher;
mod routers;
mod viewers;

use sfu_testkit::netem::{Link, LinkConfig, Loss};

use super::*;

// ------------------------------------------------------------------- links

/// One direction of one link: the kit's netem model, on the simulation's
/// clock (time since the world's start).
pub(crate) struct SimLink {
    link: Link<()>,
    t0: Instant,
}

impl SimLink {
    pub(crate) fn new(o: &SimOptions, t0: Instant, delay: Duration, id: u64) -> Self {
        let loss = if o.burst {
            Loss::burst(o.loss)
        } else {
            // Drawn even at zero loss, so a seed names one schedule.
            Loss::Random(o.loss)
        };
        let config = LinkConfig::new(delay)
            .with_jitter(o.jitter)
            .with_reorder(o.reorder)
            .with_loss(loss);
        Self {
            link: Link::new(config, Rng::splitmix_stream(o.seed, id)),
            t0,
        }
    }

    /// When a packet sent at `at` arrives, or `None` if it is lost.
    pub(crate) fn send(&mut self, at: Duration) -> Option<Duration> {
        let arrival = self.link.transit(self.t0 + at).arrival?;
        Some(arrival - self.t0)
    }
}

// ------------------------------------------------------------------ events

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    A(SessionId),
    B(SessionId),
    Publisher,
    Subscriber(usize),
}

pub(crate) struct Delivery {
    pub(crate) to: Node,
    pub(crate) rtcp: bool,
    pub(crate) data: Bytes,
    /// A retransmission B served from its cache.
    pub(crate) from_cache: bool,
}

// ------------------------------------------------------------------- world

pub(crate) struct World<R: Recovery> {
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
    pub_to_a: SimLink,
    a_to_pub: SimLink,
    a_to_b: SimLink,
    b_to_a: SimLink,
    b_to_sub: Vec<SimLink>,
    sub_to_b: Vec<SimLink>,
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
    pub(crate) fn new(o: SimOptions) -> Self {
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
                rng: Rng::splitmix_stream(o.seed, 1),
            },
            viewers,
            viewer_by_session,
            pub_to_a: SimLink::new(&o, t0, d_pub, 10),
            a_to_pub: SimLink::new(&o, t0, d_pub, 11),
            a_to_b: SimLink::new(&o, t0, d_relay, 12),
            b_to_a: SimLink::new(&o, t0, d_relay, 13),
            b_to_sub: (0..o.subscribers)
                .map(|i| SimLink::new(&o, t0, d_sub, 100 + 2 * i as u64))
                .collect(),
            sub_to_b: (0..o.subscribers)
                .map(|i| SimLink::new(&o, t0, d_sub, 101 + 2 * i as u64))
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

    pub(crate) fn instant(&self) -> Instant {
        self.t0 + self.now
    }

    pub(crate) fn since_t0(&self, t: Instant) -> Duration {
        t.saturating_duration_since(self.t0)
    }

    pub(crate) fn schedule(&mut self, at: Duration, d: Delivery) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order)));
        self.pending.insert(self.order, d);
    }

    pub(crate) fn run(mut self) -> SimReport {
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

    pub(crate) fn step(&mut self, send_end: Duration) {
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
}
