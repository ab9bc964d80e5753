//! Deliveries to the two routers, the publisher and the viewers, and what
//! the routers output.

use sfu_core::Output;

use super::*;
use crate::model::id_in_payload;

/// What B sends a viewer: RTP (and whether B's cache served it) or RTCP.
enum ToViewer {
    Rtp(ViewerPacket, bool),
    Rtcp(Bytes),
}

impl<R: Recovery> World<R> {
    pub(crate) fn deliver(&mut self, d: Delivery) {
        let instant = self.instant();
        match d {
            Delivery::A {
                session,
                rtcp,
                data,
            } => {
                // Dropped input is counted by the router; the network model
                // only produces well-formed packets.
                let _ = if rtcp {
                    self.a.handle_rtcp(instant, session, data)
                } else {
                    self.a.handle_rtp(instant, session, data)
                };
                self.drain_a();
            }
            Delivery::B {
                session,
                rtcp,
                data,
            } => {
                self.b_call(move |b, now| {
                    let _ = if rtcp {
                        b.handle_rtcp(now, session, data)
                    } else {
                        b.handle_rtp(now, session, data)
                    };
                });
            }
            Delivery::Publisher(data) => {
                self.publisher.handle_rtcp(self.now, &data);
                self.drain_publisher();
            }
            Delivery::SubscriberRtp {
                i,
                packet,
                from_cache,
            } => self.viewer_rtp(i, packet, from_cache),
            Delivery::SubscriberRtcp { i, data } => self.viewers[i].handle_rtcp(self.now, &data),
        }
    }

    pub(crate) fn drain_a(&mut self) {
        while let Some(out) = self.a.poll_output() {
            let (session, rtcp, data, id) = match out {
                Output::Rtp {
                    session, packet, ..
                } => {
                    let id = id_in_payload(&packet.payload);
                    (session, false, Bytes::from(packet.to_vec()), id)
                }
                Output::Rtcp { session, packet } => (session, true, packet, None),
            };
            if session == self.a_pub {
                if let Some(at) = self.a_to_pub.send(self.now) {
                    self.queue.push(at, Delivery::Publisher(data));
                }
                continue;
            }
            let arrival = self.a_to_b.send(self.now);
            if let Some(log) = id.and_then(|id| self.packets.get_mut(id as usize))
                && !log.relay_seen
            {
                log.relay_seen = true;
                log.relay_lost = arrival.is_none();
            }
            if let Some(at) = arrival {
                let d = Delivery::B {
                    session: self.relay.down,
                    rtcp,
                    data,
                };
                self.queue.push(at, d);
            }
        }
    }

    /// Runs `f` on router B and routes what it sent. Retransmissions the
    /// shield asked for are queued after everything else a call produces,
    /// so the last `retransmissions_sent` RTP outputs of the call are the
    /// ones B served from its cache.
    pub(crate) fn b_call(&mut self, f: impl FnOnce(&mut Router<R>, Instant)) {
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
            match out {
                Output::Rtp {
                    session, packet, ..
                } => {
                    rtp_index += 1;
                    let cached = rtp_index + from_cache > rtp_total;
                    if session == self.relay.down {
                        // The relay's publisher session gets RTCP only.
                        continue;
                    }
                    self.b_to_viewer(session, ToViewer::Rtp(ViewerPacket::of(&packet), cached));
                }
                Output::Rtcp { session, packet } => {
                    if session == self.relay.down {
                        if let Some(at) = self.b_to_a.send(self.now) {
                            let d = Delivery::A {
                                session: self.relay.up,
                                rtcp: true,
                                data: packet,
                            };
                            self.queue.push(at, d);
                        }
                        continue;
                    }
                    self.b_to_viewer(session, ToViewer::Rtcp(packet));
                }
            }
        }
    }

    /// Sends a packet from B to the viewer of `session`.
    fn b_to_viewer(&mut self, session: SessionId, what: ToViewer) {
        let Some(&i) = self.viewer_by_session.get(&session) else {
            return;
        };
        let arrival = self.b_to_sub[i].send(self.now);
        if let ToViewer::Rtp(packet, _) = &what
            && let Some(r) = packet
                .id
                .and_then(|id| self.receptions[i].get_mut(id as usize))
            && r.arrival.is_none()
            && !r.first_copy_seen
        {
            r.first_copy_seen = true;
            r.first_copy_lost = arrival.is_none();
        }
        if let Some(at) = arrival {
            let d = match what {
                ToViewer::Rtcp(data) => Delivery::SubscriberRtcp { i, data },
                ToViewer::Rtp(packet, from_cache) => Delivery::SubscriberRtp {
                    i,
                    packet,
                    from_cache,
                },
            };
            self.queue.push(at, d);
        }
    }
}
