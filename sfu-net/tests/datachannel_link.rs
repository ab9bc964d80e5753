//! Two data-channel associations back to back on netem links in simulated
//! time: the SFU side (DTLS server) and a peer (DTLS client), each
//! direction with its own seeded damage. Shared by the `datachannel_*`
//! tests through `#[path]`; it has no tests of its own.
#![allow(dead_code, missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use sfu_net::datachannel::{
    Association, AssociationConfig, ChannelId, Event, MessageKind, Reliability, SctpRole,
};
use sfu_net::srtp::DtlsRole;
use sfu_testkit::netem::{Link, LinkConfig, Loss};
use sfu_testkit::rng::Rng;

/// The longest simulated step: time moves to the next delivery or timer,
/// or this far when none is due sooner.
pub const TICK: Duration = Duration::from_millis(10);

/// One side of the pair and what it has seen.
pub struct Side {
    pub assoc: Association,
    pub events: Vec<Event>,
    /// While false, the side stops reading events (and so messages): the
    /// SCTP receive window fills and flow-controls the other side.
    pub reads: bool,
    /// Messages among `events`.
    pub received: usize,
    /// When each message event was polled, in order.
    pub arrivals: Vec<Instant>,
}

impl Side {
    /// Messages received on `channel`, in arrival order.
    pub fn messages(&self, channel: ChannelId) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message {
                    channel: c,
                    payload,
                    ..
                } if *c == channel => Some(payload.clone()),
                _ => None,
            })
            .collect()
    }

    /// The channels the peer opened on this side, in order.
    pub fn opened_by_peer(&self) -> Vec<(ChannelId, String, Reliability)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ChannelOpen {
                    channel,
                    label,
                    reliability,
                    by_peer: true,
                    ..
                } => Some((*channel, label.clone(), *reliability)),
                _ => None,
            })
            .collect()
    }

    pub fn connected(&self) -> bool {
        self.events.contains(&Event::Connected)
    }
}

/// The SFU (`sfu`, DTLS server) and a peer (`peer`, DTLS client).
pub struct Pair {
    pub sfu: Side,
    pub peer: Side,
    /// SFU to peer.
    pub down: Link<Bytes>,
    /// Peer to SFU.
    pub up: Link<Bytes>,
    pub now: Instant,
}

/// A link with this i.i.d. loss and 20 ms one-way delay.
pub fn lossy(loss: f64, seed: u64, stream: u64) -> Link<Bytes> {
    let config = LinkConfig::new(Duration::from_millis(20)).with_loss(if loss > 0.0 {
        Loss::Random(loss)
    } else {
        Loss::None
    });
    Link::new(config, Rng::splitmix_stream(seed, stream))
}

impl Pair {
    /// A pair where `initiator` sends INIT, with clean links.
    pub fn new(initiator: Initiator, config: AssociationConfig) -> Self {
        Self::with_links(initiator, config, lossy(0.0, 1, 0), lossy(0.0, 1, 1))
    }

    pub fn with_links(
        initiator: Initiator,
        config: AssociationConfig,
        down: Link<Bytes>,
        up: Link<Bytes>,
    ) -> Self {
        let now = Instant::now();
        let (sfu_role, peer_role) = match initiator {
            Initiator::Sfu => (SctpRole::Initiate, SctpRole::Accept),
            Initiator::Peer => (SctpRole::Accept, SctpRole::Initiate),
        };
        let side = |role, sctp| Side {
            assoc: Association::new(config.clone(), role, sctp, now),
            events: Vec::new(),
            reads: true,
            received: 0,
            arrivals: Vec::new(),
        };
        Pair {
            sfu: side(DtlsRole::Server, sfu_role),
            peer: side(DtlsRole::Client, peer_role),
            down,
            up,
            now,
        }
    }

    /// Moves packets and events until nothing more happens at `now`.
    pub fn settle(&mut self) {
        loop {
            let mut progress = false;
            for (side, link) in [
                (&mut self.sfu, &mut self.down),
                (&mut self.peer, &mut self.up),
            ] {
                while side.reads
                    && let Some(event) = side.assoc.poll_event()
                {
                    if matches!(event, Event::Message { .. }) {
                        side.received += 1;
                        side.arrivals.push(self.now);
                    }
                    side.events.push(event);
                    progress = true;
                }
                while let Some(packet) = side.assoc.poll_transmit() {
                    // The default MTU: the DTLS record fits 1150 bytes.
                    assert!(packet.len() <= 1100, "{} byte SCTP packet", packet.len());
                    link.send(self.now, packet);
                    progress = true;
                }
            }
            while let Some(packet) = self.down.poll(self.now) {
                self.peer.assoc.handle_input(self.now, &packet);
                progress = true;
            }
            while let Some(packet) = self.up.poll(self.now) {
                self.sfu.assoc.handle_input(self.now, &packet);
                progress = true;
            }
            for side in [&mut self.sfu, &mut self.peer] {
                if side.assoc.poll_timeout().is_some_and(|t| t <= self.now) {
                    side.assoc.handle_timeout(self.now);
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Everything due on the link: deliveries both ways and both
    /// associations' timers.
    fn deadlines(&self) -> impl Iterator<Item = Instant> + use<> {
        [
            self.down.next_delivery(),
            self.up.next_delivery(),
            self.sfu.assoc.poll_timeout(),
            self.peer.assoc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
    }

    /// Moves simulated time to the next thing due (a delivery, a timer),
    /// at most [`TICK`] on.
    pub fn tick(&mut self) {
        self.settle();
        let next = self
            .deadlines()
            .min()
            .map_or(self.now + TICK, |t| t.clamp(self.now, self.now + TICK));
        self.now = next.max(self.now + Duration::from_micros(1));
        self.settle();
    }

    /// Moves simulated time to `until`, stopping at every delivery and
    /// timer on the way.
    pub fn advance_to(&mut self, until: Instant) {
        while self.now < until {
            self.settle();
            let next = self
                .deadlines()
                .filter(|t| *t > self.now)
                .min()
                .map_or(until, |t| t.min(until));
            self.now = next;
            self.settle();
        }
    }

    /// Ticks until `done` holds; panics after `limit` of simulated time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "not done after {limit:?} of simulated time");
            self.tick();
        }
    }

    /// Connects, then opens a channel from the peer (as a browser does) and
    /// waits until both sides have it. Returns the channel.
    pub fn connect_and_open(&mut self, label: &str, reliability: Reliability) -> ChannelId {
        self.run_until(Duration::from_secs(10), |p| {
            p.sfu.assoc.is_connected() && p.peer.assoc.is_connected()
        });
        let channel = self
            .peer
            .assoc
            .open_channel(label, "", reliability)
            .expect("open");
        self.run_until(Duration::from_secs(10), |p| {
            p.sfu.opened_by_peer().iter().any(|(c, _, _)| *c == channel)
                && p.peer
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::ChannelOpen { channel: c, .. } if *c == channel))
        });
        channel
    }

    /// Sends `count` numbered messages of `size` bytes from `from`'s side on
    /// `channel`, as fast as its buffer bound allows, ticking meanwhile;
    /// stops ticking when all are accepted. Message `i` starts with `i` as
    /// big-endian u32.
    pub fn send_numbered(
        &mut self,
        sender: Who,
        channel: ChannelId,
        count: u32,
        size: usize,
        limit: Duration,
    ) {
        let end = self.now + limit;
        let mut next = 0;
        while next < count {
            assert!(self.now < end, "only {next} of {count} accepted");
            let side = match sender {
                Who::Sfu => &mut self.sfu,
                Who::Peer => &mut self.peer,
            };
            while next < count {
                let mut body = vec![0x5a; size];
                body[..4].copy_from_slice(&next.to_be_bytes());
                match side
                    .assoc
                    .send(channel, MessageKind::Binary, Bytes::from(body))
                {
                    Ok(()) => next += 1,
                    Err(_) => break,
                }
            }
            self.tick();
        }
    }
}

/// Who sends INIT.
#[derive(Debug, Clone, Copy)]
pub enum Initiator {
    Sfu,
    Peer,
}

/// Which side.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Sfu,
    Peer,
}

/// The number at the front of a numbered message.
pub fn number(message: &Bytes) -> u32 {
    u32::from_be_bytes(message[..4].try_into().unwrap())
}
