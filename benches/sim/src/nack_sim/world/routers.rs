//! Deliveries to the two routers and what they output.

use super::*;

impl<R: Recovery> World<R> {
    pub(crate) fn deliver(&mut self, d: Delivery) {
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

    pub(crate) fn drain_a(&mut self) {
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
}
