//! The world: two routers, the relay between them, the publisher, the
//! viewers and the links, driven in simulated time from one event queue.

mod metrics;
mod routers;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_core::{Router, RouterConfig, SessionId};

use super::{Recovery, SimOptions, SimReport};
use crate::model::{
    DRAIN, PUB_RTX_SSRC, PUB_SSRC, Publisher, REPORT_INTERVAL, Relay, Schedule, SimLink,
    StuckGuard, TRACK_NAMES, Viewer, ViewerPacket, WARMUP, Wakeups, earliest, open_relay,
    relay_ssrcs, session, tracks,
};
use metrics::{PacketLog, Reception};

// ------------------------------------------------------------------ events

pub(crate) enum Delivery {
    A {
        session: SessionId,
        rtcp: bool,
        data: Bytes,
    },
    B {
        session: SessionId,
        rtcp: bool,
        data: Bytes,
    },
    Publisher(Bytes),
    SubscriberRtp {
        i: usize,
        packet: ViewerPacket,
        /// A retransmission B served from its cache.
        from_cache: bool,
    },
    SubscriberRtcp {
        i: usize,
        data: Bytes,
    },
}

// ------------------------------------------------------------------- world

pub(crate) struct World<R: Recovery> {
    o: SimOptions,
    t0: Instant,
    now: Duration,
    a: Router<R>,
    b: Router<R>,
    a_pub: SessionId,
    relay: Relay,
    publisher: Publisher,
    viewers: Vec<Viewer>,
    viewer_by_session: HashMap<SessionId, usize>,
    wakeups: Wakeups,
    /// Reused by `Wakeups::run_due`.
    ran: Vec<usize>,
    pub_to_a: SimLink,
    a_to_pub: SimLink,
    a_to_b: SimLink,
    b_to_a: SimLink,
    b_to_sub: Vec<SimLink>,
    sub_to_b: Vec<SimLink>,
    queue: Schedule<Delivery>,
    next_report: Duration,
    packets: Vec<PacketLog>,
    receptions: Vec<Vec<Reception>>,
    publisher_losses: u64,
}

impl<R: Recovery> World<R> {
    pub(crate) fn new(o: SimOptions) -> Self {
        let t0 = Instant::now();
        let mut a = Router::with_loss_recovery(RouterConfig::default(), R::make());
        let mut b = Router::with_loss_recovery(RouterConfig::default(), R::make());
        let a_pub = session(&mut a, t0);
        for t in tracks(PUB_SSRC, PUB_RTX_SSRC) {
            a.publish_track(t0, a_pub, t).expect("publish");
        }
        let relay = open_relay(t0, (&mut a, [Some(a_pub); 2]), &mut b, relay_ssrcs(0));
        let mut viewers = Vec::new();
        let mut viewer_by_session = HashMap::new();
        for i in 0..o.subscribers {
            let v = Viewer::new(session(&mut b, t0), i);
            for (stream, name) in TRACK_NAMES.iter().enumerate() {
                b.pull_track(t0, v.session, relay.down, name, v.pull(stream))
                    .expect("subscriber pull");
            }
            viewer_by_session.insert(v.session, i);
            viewers.push(v);
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        let [d_pub, d_relay, d_sub] = o.delays;
        let m = o.link_model();
        Self {
            t0,
            now: Duration::ZERO,
            a,
            b,
            a_pub,
            relay,
            publisher: Publisher::new(o.seed),
            viewers,
            viewer_by_session,
            wakeups: Wakeups::new(o.subscribers),
            ran: Vec::new(),
            pub_to_a: SimLink::new(&m, t0, d_pub, 10),
            a_to_pub: SimLink::new(&m, t0, d_pub, 11),
            a_to_b: SimLink::new(&m, t0, d_relay, 12),
            b_to_a: SimLink::new(&m, t0, d_relay, 13),
            b_to_sub: (0..o.subscribers)
                .map(|i| SimLink::new(&m, t0, d_sub, 100 + 2 * i as u64))
                .collect(),
            sub_to_b: (0..o.subscribers)
                .map(|i| SimLink::new(&m, t0, d_sub, 101 + 2 * i as u64))
                .collect(),
            queue: Schedule::new(),
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

    pub(crate) fn run(mut self) -> SimReport {
        let send_end = Duration::from_secs(self.o.seconds);
        let end = send_end + DRAIN;
        let mut guard = StuckGuard::default();
        while let Some(next) = earliest(
            self.t0,
            end,
            [
                self.queue.next_at(),
                self.publisher.next_send(send_end),
                Some(self.next_report),
            ],
            [
                self.a.poll_timeout(),
                self.b.poll_timeout(),
                self.wakeups.next(),
            ],
        ) {
            self.now = next.max(self.now);
            guard.check(self.now);
            self.step(send_end);
        }
        self.report()
    }

    pub(crate) fn step(&mut self, send_end: Duration) {
        let now = self.now;
        while let Some(d) = self.queue.pop_due(now) {
            self.deliver(d);
        }
        self.publisher.send_due(now, send_end);
        self.drain_publisher();
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
        let mut ran = std::mem::take(&mut self.ran);
        self.wakeups.run_due(instant, &mut self.viewers, &mut ran);
        for &v in &ran {
            self.viewer_nacks(v);
        }
        self.ran = ran;
    }

    // ------------------------------------------------------- the publisher

    /// Sends what the publisher has queued to A.
    fn drain_publisher(&mut self) {
        while let Some(sent) = self.publisher.poll_transmit() {
            let (at, rtcp, data, id) = sent.into_parts(self.now);
            if let Some(id) = id {
                debug_assert_eq!(id as usize, self.packets.len());
                self.packets.push(PacketLog {
                    sent_at: at,
                    measured: at >= WARMUP,
                    ..PacketLog::default()
                });
                for r in &mut self.receptions {
                    r.push(Reception::default());
                }
            }
            let arrival = self.pub_to_a.send(at);
            if let Some(t) = arrival {
                let d = Delivery::A {
                    session: self.a_pub,
                    rtcp,
                    data,
                };
                self.queue.push(t, d);
            }
            if id.is_some() {
                let lost = arrival.is_none();
                self.publisher_losses += u64::from(lost);
                if let Some(log) = self.packets.last_mut() {
                    log.pub_lost = lost;
                }
            }
        }
    }

    fn send_reports(&mut self) {
        self.publisher.send_reports(self.now);
        self.drain_publisher();
        for i in 0..self.viewers.len() {
            let rr = self.viewers[i].receiver_report(self.now);
            self.viewer_to_b(i, rr);
        }
    }

    // --------------------------------------------------------- the viewers

    fn viewer_to_b(&mut self, i: usize, data: Bytes) {
        if let Some(arrival) = self.sub_to_b[i].send(self.now) {
            let d = Delivery::B {
                session: self.viewers[i].session,
                rtcp: true,
                data,
            };
            self.queue.push(arrival, d);
        }
    }

    fn viewer_rtp(&mut self, i: usize, packet: ViewerPacket, from_cache: bool) {
        let (now, instant) = (self.now, self.instant());
        if self.viewers[i].handle_rtp(now, instant, packet) {
            if let Some(r) = packet
                .id
                .and_then(|id| self.receptions[i].get_mut(id as usize))
                && r.arrival.is_none()
            {
                r.arrival = Some(now);
                r.cache_repaired = r.first_copy_lost && from_cache;
            }
            self.viewer_nacks(i);
        }
        self.wakeups.arm(i, self.viewers[i].poll_timeout());
    }

    fn viewer_nacks(&mut self, i: usize) {
        let (now, instant) = (self.now, self.instant());
        for nack in self.viewers[i].nacks(now, instant).into_iter().flatten() {
            self.viewer_to_b(i, nack);
        }
        self.wakeups.arm(i, self.viewers[i].poll_timeout());
    }
}
