//! Layer demand across a relay link: the node a track is relayed to says
//! which of its layers it wants, and the node relaying it sends only
//! those.
//!
//! **Downstream** (the node that accepted the track) works the demand out
//! per relayed-in track from its subscriptions to it: each client
//! subscription wants the layer it prefers (its RID preference; none, or a
//! RID the track does not have, means the highest) and the layer it
//! currently receives (so a viewer that fell back keeps its layer while
//! the preferred one starts); one that has received nothing for
//! [`STARVED_AFTER`] (its layer stopped at the origin, or never came)
//! wants every layer, so its simulcast fallback can find whatever the
//! origin still sends. A track relayed on to a further node
//! wants what that node last asked for (every layer until it has asked).
//! No subscription: nothing is wanted, and no media crosses the link.
//! The demand is worked out when subscriptions change (a pull, a close, a
//! layer switch: the router's events), every [`CHECK_INTERVAL`] on the
//! node's timer (which catches a changed preference, `Node::set_layer`),
//! sent at once when it changed and every [`REFRESH_INTERVAL`] in any
//! case (an APP packet lost on the link is made good by the next).
//!
//! **Upstream** (the node relaying the track) takes the demand off the
//! link before the router sees it and pauses ([`Hint::Pause`]) the pinned
//! subscriptions of unwanted layers and resumes wanted ones; the router
//! asks the publisher for a keyframe of a resumed layer as its first
//! packet arrives (the subscription starts delivering at a keyframe).
//! Until the first demand for a track arrives, every layer flows.
//!
//! **On the wire** the demand is an RTCP APP packet (RFC 3550 §6.7), on
//! its own in a compound, sealed with the link's SRTCP like all link RTCP,
//! sent from the link's RTCP SSRC:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |V=2|P=0|subtype=0|   PT=204    |        length = 2 + 2n         |
//! +---------------------------------------------------------------+
//! |                SSRC of the demanding link end                 |
//! +---------------------------------------------------------------+
//! |                      name = "SFUL" (ASCII)                    |
//! +---------------------------------------------------------------+
//! |       track 1: the link SSRC of its first (lowest) layer      |
//! +---------------+-----------------------------------------------+
//! | wanted layers |                 zero (reserved)               |
//! +---------------+-----------------------------------------------+
//! :                    ... n entries in all ...                   :
//! ```
//!
//! Bit `i` of "wanted layers" is layer `i` of the track (bit 0 the
//! lowest); bits past the track's layers are ignored. Each packet carries
//! at most [`MAX_ENTRIES`] tracks (a link with more sends several). A
//! packet that breaks this shape (version, padding, subtype, a length that
//! is not `2 + 2n` or overruns the compound, more than [`MAX_ENTRIES`]
//! entries) is dropped whole; an entry naming an SSRC that does not start
//! a track relayed over the link is dropped alone; both are counted
//! (`NodeStats::relay_demand_dropped`). The work per datagram is bounded
//! by its length.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use sfu_core::{Hint, LayerIndex, RouterEvent, SessionId, SubscriptionId};

use super::super::Node;
use super::super::session::{Link, Session};
use super::{Inbound, Outbound, RelayLink, send};

/// The APP packet's name.
const NAME: &[u8; 4] = b"SFUL";

/// RTCP APP (RFC 3550 §6.7).
const PT_APP: u8 = 204;

/// Tracks in one APP packet: 12 + 8 × 64 = 524 bytes.
pub(crate) const MAX_ENTRIES: usize = 64;

/// How often the downstream node looks for a changed demand.
pub(crate) const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How often the demand is sent even if unchanged.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// A subscription that has received nothing this long wants every layer.
pub(crate) const STARVED_AFTER: Duration = Duration::from_secs(2);

/// What a client subscription to a relayed-in track receives: the layer
/// (from the router's events, checked against its snapshot at each
/// refresh) and when it last got media.
#[derive(Debug, Clone, Copy, Default)]
struct Receiving {
    layer: Option<LayerIndex>,
    /// Packets delivered, at the last refresh.
    packets: u32,
    /// When delivery last started or moved (`None`: not looked at yet).
    since: Option<Instant>,
    /// A layer switch since the last run: delivery (re)started.
    switched: bool,
}

/// The node's demand bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Demand {
    /// Subscriptions changed: work the demand out after this pump.
    dirty: bool,
    /// The next look for a changed demand (`None`: no relayed-in track).
    next_check: Option<Instant>,
    /// The next send of the demand whether or not it changed.
    next_refresh: Option<Instant>,
    /// What each client subscription to a relayed-in track receives.
    receiving: FxHashMap<SubscriptionId, Receiving>,
    /// `(link, inbound track, wanted layers)`, reused between runs.
    wants: Vec<(SessionId, usize, u8)>,
    /// The APP packet being written, reused.
    buf: Vec<u8>,
    /// Demand packets or entries dropped.
    dropped: u64,
}

impl Demand {
    /// Subscriptions or tracks changed: the demand is worked out again
    /// before the node returns.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// When the demand must next be looked at.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_check
    }

    /// Demand packets (malformed) and entries (unknown SSRC) dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Follows the router's subscription events: what each receives.
    pub fn observe(&mut self, ev: &RouterEvent) {
        match ev {
            RouterEvent::SubscriptionActive { .. } => self.dirty = true,
            RouterEvent::SubscriptionEnded { subscription, .. } => {
                self.receiving.remove(subscription);
                self.dirty = true;
            }
            RouterEvent::LayerSwitched {
                subscription, to, ..
            } => {
                // Only subscriptions to relayed-in tracks are followed.
                if let Some(r) = self.receiving.get_mut(subscription) {
                    r.switched = true;
                    if r.layer != Some(*to) {
                        r.layer = Some(*to);
                        self.dirty = true;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every layer of an `n`-layer track.
fn all_layers(n: usize) -> u8 {
    ((1u16 << n.min(8)) - 1) as u8
}

fn relay_of(session: Option<&Session>) -> Option<&RelayLink> {
    match &session?.link {
        Link::Relay(r) => Some(r),
        Link::Client(_) | Link::Direct(_) => None,
    }
}

fn relay_of_mut(session: Option<&mut Session>) -> Option<&mut RelayLink> {
    match &mut session?.link {
        Link::Relay(r) => Some(r),
        Link::Client(_) | Link::Direct(_) => None,
    }
}

/// The relayed-in track `(link, name)`, with its index on the link.
fn inbound_of<'a>(
    sessions: &'a FxHashMap<SessionId, Session>,
    link: SessionId,
    name: &str,
) -> Option<(usize, &'a Inbound)> {
    relay_of(sessions.get(&link))?
        .inbound
        .iter()
        .enumerate()
        .find(|(_, t)| t.name == name)
}

/// The layers an outbound track's pinned subscriptions let through.
fn flowing(o: &Outbound, n: usize) -> u8 {
    if !o.demanded {
        return all_layers(n);
    }
    o.layers
        .iter()
        .enumerate()
        .filter(|(_, (_, wanted))| *wanted)
        .fold(0, |m, (i, _)| m | (1u8 << i.min(7)))
}

/// Writes one demand APP packet of `entries` into `buf`.
fn write_app(buf: &mut Vec<u8>, sender: u32, entries: &[Inbound]) {
    buf.clear();
    let words = 2 + 2 * entries.len() as u16;
    buf.extend_from_slice(&[0x80, PT_APP]);
    buf.extend_from_slice(&words.to_be_bytes());
    buf.extend_from_slice(&sender.to_be_bytes());
    buf.extend_from_slice(NAME);
    for t in entries {
        buf.extend_from_slice(&t.first_ssrc.to_be_bytes());
        buf.extend_from_slice(&[t.wanted, 0, 0, 0]);
    }
}

/// The entries of one demand APP packet, `(first layer SSRC, wanted)`;
/// `None` if it breaks the packet's shape.
fn app_entries(p: &[u8]) -> Option<impl Iterator<Item = (u32, u8)> + '_> {
    let first = *p.first()?;
    let (version, padding, subtype) = (first >> 6, first & 0x20 != 0, first & 0x1f);
    if version != 2 || padding || subtype != 0 {
        return None;
    }
    let body = p.get(12..)?;
    if body.len() % 8 != 0 || body.len() / 8 > MAX_ENTRIES {
        return None;
    }
    Some(body.chunks_exact(8).filter_map(|e| {
        let ssrc = u32::from_be_bytes(e.get(..4)?.try_into().ok()?);
        Some((ssrc, *e.get(4)?))
    }))
}

impl Node {
    /// Works out what this node wants of every relayed-in track and sends
    /// it over the links where it changed (or everywhere, when the
    /// refresh is due).
    pub(in crate::node) fn run_relay_demand(&mut self, now: Instant) {
        let Node {
            sessions,
            relays,
            router,
            relay_demand: d,
            relay_transmits,
            relay_dropped,
            ..
        } = self;
        d.dirty = false;
        let any = relays
            .values()
            .any(|id| relay_of(sessions.get(id)).is_some_and(|r| !r.inbound.is_empty()));
        if !any {
            d.next_check = None;
            d.next_refresh = None;
            return;
        }
        d.next_check = Some(now + CHECK_INTERVAL);
        let refresh = d.next_refresh.is_none_or(|t| t <= now);
        if refresh {
            d.next_refresh = Some(now + REFRESH_INTERVAL);
        }
        d.wants.clear();
        for s in sessions.values() {
            match &s.link {
                // A direct session's pulls want layers as a client's do.
                Link::Client(_) | Link::Direct(_) => {
                    for sender in &s.senders {
                        let Some(pull) = &sender.pull else {
                            continue;
                        };
                        let Some((index, track)) = inbound_of(sessions, pull.publisher, &pull.name)
                        else {
                            continue;
                        };
                        let n = track.rids.len();
                        let preferred = sender
                            .layer
                            .as_ref()
                            .and_then(|rid| track.rids.iter().position(|r| r.as_ref() == Some(rid)))
                            .unwrap_or(n.saturating_sub(1));
                        let r = d.receiving.entry(pull.subscription).or_default();
                        if r.switched || r.since.is_none() {
                            r.since = Some(now);
                            r.switched = false;
                        }
                        // The snapshot (which allocates) once a refresh:
                        // it sees delivery moving, and a layer stopped.
                        if refresh && let Some(info) = router.subscription(pull.subscription) {
                            if info.packets_sent != r.packets {
                                r.packets = info.packets_sent;
                                r.since = Some(now);
                            }
                            r.layer = info.current_layer;
                        }
                        let mut bits = 1u8 << preferred.min(7);
                        if let Some(l) = r.layer {
                            bits |= 1u8 << l.0.min(7);
                        }
                        if r.since
                            .is_some_and(|t| now.saturating_duration_since(t) >= STARVED_AFTER)
                        {
                            bits = all_layers(n);
                        }
                        d.wants.push((pull.publisher, index, bits & all_layers(n)));
                    }
                }
                Link::Relay(relay) => {
                    for o in relay.outbound.values() {
                        let Some((index, track)) = inbound_of(sessions, o.publisher, &o.name)
                        else {
                            continue;
                        };
                        let n = track.rids.len();
                        d.wants.push((o.publisher, index, flowing(o, n)));
                    }
                }
            }
        }
        for id in relays.values() {
            if let Some(relay) = relay_of_mut(sessions.get_mut(id)) {
                relay.inbound.iter_mut().for_each(|t| t.wanted = 0);
            }
        }
        for &(link, index, bits) in &d.wants {
            if let Some(t) =
                relay_of_mut(sessions.get_mut(&link)).and_then(|r| r.inbound.get_mut(index))
            {
                t.wanted |= bits;
            }
        }
        for id in relays.values() {
            let Some(relay) = relay_of_mut(sessions.get_mut(id)) else {
                continue;
            };
            let changed = relay.inbound.iter().any(|t| t.sent != Some(t.wanted));
            if relay.inbound.is_empty() || !(changed || refresh) {
                continue;
            }
            let mut start = 0;
            while start < relay.inbound.len() {
                let end = (start + MAX_ENTRIES).min(relay.inbound.len());
                if let Some(chunk) = relay.inbound.get(start..end) {
                    write_app(&mut d.buf, relay.rtcp_ssrc, chunk);
                }
                send(relay, &d.buf, true, relay_transmits).unwrap_or_else(|()| *relay_dropped += 1);
                start = end;
            }
            relay
                .inbound
                .iter_mut()
                .for_each(|t| t.sent = Some(t.wanted));
        }
    }

    /// An RTCP compound from the relay link `link`: applies the demand APP
    /// packets in it. Returns whether it held nothing else (the router
    /// need not see it).
    pub(in crate::node) fn relay_demand_received(
        &mut self,
        link: SessionId,
        packet: &[u8],
    ) -> bool {
        let Node {
            sessions,
            router,
            relay_demand: d,
            ..
        } = self;
        let Some(relay) = relay_of_mut(sessions.get_mut(&link)) else {
            return false;
        };
        let (mut ours, mut others, mut at) = (0usize, 0usize, 0usize);
        let mut changed = false;
        // Every turn consumes at least one 4-byte header.
        while let Some(rest) = packet.get(at..).filter(|r| !r.is_empty()) {
            let is_ours = rest.get(1) == Some(&PT_APP) && rest.get(8..12) == Some(&NAME[..]);
            let size = rest
                .get(2..4)
                .and_then(|w| <[u8; 2]>::try_from(w).ok())
                .map(|w| (usize::from(u16::from_be_bytes(w)) + 1) * 4);
            let Some(p) = size.and_then(|n| rest.get(..n)) else {
                // A length that overruns the compound ends the walk.
                if is_ours {
                    ours += 1;
                    d.dropped += 1;
                } else {
                    others += 1;
                }
                break;
            };
            at += p.len();
            if !is_ours {
                others += 1;
                continue;
            }
            ours += 1;
            let Some(entries) = app_entries(p) else {
                d.dropped += 1;
                continue;
            };
            for (ssrc, wanted) in entries {
                let Some(o) = relay.outbound.get_mut(&ssrc) else {
                    d.dropped += 1;
                    continue;
                };
                o.demanded = true;
                for (i, (sub, flowing)) in o.layers.iter_mut().enumerate() {
                    let want = wanted & (1u8 << i.min(7)) != 0;
                    if want != *flowing {
                        // Resuming, the subscription waits for a keyframe
                        // of its layer, which the router asks for at the
                        // layer's next packet.
                        let _ = router.hint(*sub, Hint::Pause(!want));
                        *flowing = want;
                        changed = true;
                    }
                }
            }
        }
        if changed {
            // A track relayed on from a link: the demand upstream follows.
            d.dirty = true;
        }
        ours > 0 && others == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(first_ssrc: u32, wanted: u8) -> Inbound {
        Inbound {
            name: String::new(),
            rids: vec![None; 3],
            first_ssrc,
            sent: None,
            wanted,
        }
    }

    #[test]
    fn an_app_packet_reads_back_what_was_written() {
        let mut buf = Vec::new();
        write_app(&mut buf, 0x1234, &[inbound(7, 0b101), inbound(9, 0)]);
        assert_eq!(buf.len(), 12 + 16);
        assert_eq!(&buf[..4], &[0x80, 204, 0, 6]);
        assert_eq!(&buf[8..12], b"SFUL");
        let entries: Vec<_> = app_entries(&buf).unwrap().collect();
        assert_eq!(entries, [(7, 0b101), (9, 0)]);
    }

    #[test]
    fn a_misshapen_app_packet_has_no_entries() {
        let mut buf = Vec::new();
        write_app(&mut buf, 1, &[inbound(7, 1)]);
        let mut padded = buf.clone();
        padded[0] |= 0x20;
        let mut subtype = buf.clone();
        subtype[0] |= 1;
        let odd = &buf[..buf.len() - 4];
        let mut huge = buf[..12].to_vec();
        huge.extend(std::iter::repeat_n(0, 8 * (MAX_ENTRIES + 1)));
        for p in [&padded[..], &subtype, odd, &buf[..8], &huge] {
            assert!(app_entries(p).is_none(), "{p:?}");
        }
    }

    #[test]
    fn all_layers_covers_the_track() {
        assert_eq!(all_layers(1), 0b1);
        assert_eq!(all_layers(3), 0b111);
        assert_eq!(all_layers(0), 0);
    }
}
