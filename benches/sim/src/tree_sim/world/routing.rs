//! Deliveries to the routers, the publisher and the viewers, and where each
//! router's output goes.

use sfu_core::Output;

use super::*;
use crate::model::{VIDEO_PT, id_in_payload};

impl World {
    pub(super) fn deliver(&mut self, d: Delivery) {
        let instant = self.instant();
        match d {
            Delivery::Router {
                node,
                session,
                rtcp,
                data,
            } => {
                let router = &mut self.nodes[node].router;
                // Dropped input is counted by the router; the network model
                // only produces well-formed packets.
                let _ = if rtcp {
                    router.handle_rtcp(instant, session, data)
                } else {
                    router.handle_rtp(instant, session, data)
                };
                self.drain(node);
            }
            Delivery::Publisher(data) => {
                self.publisher.handle_rtcp(self.now, &data);
                self.drain_publisher();
            }
            Delivery::ViewerRtp { v, packet } => self.viewer_rtp(v, packet),
            Delivery::ViewerRtcp { v, data } => self.viewers[v].handle_rtcp(self.now, &data),
        }
    }

    /// Sends everything router `n` has output over the link to each
    /// session's peer.
    pub(super) fn drain(&mut self, n: usize) {
        let now = self.now;
        while let Some(out) = self.nodes[n].router.poll_output() {
            let session = match &out {
                Output::Rtp { session, .. } | Output::Rtcp { session, .. } => *session,
            };
            match (self.nodes[n].peer(session), out) {
                (Peer::Publisher, Output::Rtcp { packet, .. }) => {
                    if let Some(at) = self.pub_down.send(now) {
                        self.queue.push(at, Delivery::Publisher(packet));
                    }
                }
                (Peer::Child(r), out) => self.send_to_child(n, r, out),
                (Peer::Parent(r), Output::Rtcp { packet, .. }) => {
                    let link = &mut self.relays[r];
                    if let Some(at) = link.up.send(now) {
                        let d = Delivery::Router {
                            node: link.parent,
                            session: link.relay.up,
                            rtcp: true,
                            data: packet,
                        };
                        self.queue.push(at, d);
                    }
                }
                (Peer::Viewer(v), out) => {
                    let Some(at) = self.viewer_down[v].send(now) else {
                        continue;
                    };
                    let d = match out {
                        Output::Rtp { packet, .. } => {
                            if packet.payload_type == VIDEO_PT {
                                self.first_video[n].get_or_insert(now);
                            }
                            Delivery::ViewerRtp {
                                v,
                                packet: ViewerPacket::of(&packet),
                            }
                        }
                        Output::Rtcp { packet, .. } => Delivery::ViewerRtcp { v, data: packet },
                    };
                    self.queue.push(at, d);
                }
                // A publisher session (the publisher's, a relay link's
                // downstream end) is never sent RTP.
                (Peer::Publisher | Peer::Parent(_), Output::Rtp { .. }) | (Peer::Unused, _) => {}
            }
        }
    }

    /// Sends an output of node `n` down relay link `r`, counting it.
    fn send_to_child(&mut self, n: usize, r: usize, out: Output) {
        let egress = &mut self.egress[n];
        let link = &mut self.relays[r];
        let (rtcp, data, id) = match out {
            Output::Rtp { packet, .. } => {
                let len = packet.encoded_len() as u64;
                let rtx = packet.rtx_osn.is_some();
                let count = if rtx {
                    &mut egress.rtx
                } else {
                    &mut egress.media
                };
                count.0 += len;
                count.1 += 1;
                let id = id_in_payload(&packet.payload).map(|id| id as usize);
                if let Some(id) = id {
                    if link.carried.len() <= id {
                        link.carried.resize(id + 1, false);
                    }
                    if rtx && link.carried[id] {
                        egress.needless_rtx.0 += len;
                        egress.needless_rtx.1 += 1;
                    }
                }
                (false, Bytes::from(packet.to_vec()), id)
            }
            Output::Rtcp { packet, .. } => {
                egress.rtcp += packet.len() as u64;
                (true, packet, None)
            }
        };
        let Some(at) = link.down.send(self.now) else {
            return;
        };
        if let Some(id) = id {
            link.carried[id] = true;
        }
        let d = Delivery::Router {
            node: link.child,
            session: link.relay.down,
            rtcp,
            data,
        };
        self.queue.push(at, d);
    }
}
