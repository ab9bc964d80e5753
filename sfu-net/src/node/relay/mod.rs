//! Relay links between nodes (a cascade): plain RTP/RTCP over the node's
//! own media socket(s), no ICE or DTLS, SRTP when the application
//! exchanged keys (as mediasoup's PipeTransport). One link per peer node,
//! in both directions: each end's router and NACK shield treat it as one
//! more session, which publishes the tracks the other node relays to it
//! and pulls the ones it relays on, so a loss on the link is repaired on
//! the link.
//!
//! A relayed track crosses the link with every layer it has, each on its
//! own link SSRC pulled by its own subscription pinned to that layer
//! ([`sfu_core::Pinned`]); the receiving node publishes the track with the
//! same layers and RIDs, so its viewers pick layers as from a local
//! simulcast publisher, and may relay it on to a further node. Which layers
//! actually cross is the receiving node's call: see [`demand`].

mod demand;
mod moves;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use rustc_hash::FxHashMap;
use sfu_core::{
    LayerConfig, LayerIndex, MediaKind as RouterKind, Pinned, PullConfig, SessionId,
    SubscriptionId, TrackConfig,
};

use crate::demux::{DatagramKind, classify};
use crate::sdp::{self, MediaKind};
use crate::srtp::{DtlsRole, SrtpSession};
use crate::{Error, SrtpProfile, Transmit};

use super::Node;
use super::commands::check_rid;
use super::session::{Link, Published, Pull, Sender, Session};
use super::translate::{codec_config, layer_order};

pub(crate) use demand::Demand;

/// At most this many tracks cross one relay link (each way).
const MAX_RELAY_TRACKS: usize = 256;

/// At most this many layers in a relayed track (the router's bound).
const MAX_LAYERS: usize = 3;

/// SSRCs a link learns from authenticated packets beside the ones its
/// accepted tracks announce: the other node's RTCP sender SSRCs, which
/// are not announced.
const LEARNED_SSRCS: usize = 16;

/// SRTP keys for a relay link, exchanged by the application out of band:
/// keying material laid out as DTLS-SRTP exporter output (RFC 5764 §4.2).
/// The node that opens the link as initiator takes the client half, the
/// other the server half.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayKeys {
    /// The SRTP profile.
    pub profile: SrtpProfile,
    /// `2 * (key + salt)` bytes.
    pub material: Vec<u8>,
}

impl std::fmt::Debug for RelayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl RelayKeys {
    /// Keys from `material` (for example drawn from the OS generator by the
    /// application), checked against the profile's length.
    pub fn new(profile: SrtpProfile, material: Vec<u8>) -> Result<Self, Error> {
        if material.len() != profile.keying_material_len() {
            return Err(Error::SrtpKeying(format!(
                "{} bytes of keying material, {profile:?} needs {}",
                material.len(),
                profile.keying_material_len()
            )));
        }
        Ok(Self { profile, material })
    }
}

/// One layer of a relayed track as the link carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayLayer {
    /// The RID the original publisher gave the layer (`None` for audio,
    /// single-layer video and layers announced by SSRC only). The
    /// receiving node publishes the layer under it, so its viewers prefer
    /// layers by the publisher's RIDs.
    pub rid: Option<String>,
    /// The SSRC the link carries the layer on.
    pub ssrc: u32,
    /// The layer's RTX SSRC on the link.
    pub rtx_ssrc: Option<u32>,
}

/// One track a relay link carries, as the receiving node must publish it.
/// Plain data, so an application can carry it between processes in any
/// encoding (the reference server sends it as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTrack {
    /// The name the receiving node publishes it under (in the link's session).
    pub name: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The format, as the original publisher negotiated it.
    pub format: sdp::PayloadFormat,
    /// Its RTX payload type, if any.
    pub rtx_pt: Option<u8>,
    /// Its layers, lowest quality first, in the order and with the RIDs of
    /// the published track's: one for audio and single-layer video, up to
    /// three for simulcast.
    pub layers: Vec<RelayLayer>,
}

/// A track this node relays over a link: the subscriptions that pull its
/// layers (the link's [`Sender`] holds the first too, for the node's
/// track listing and events) and what the other node last asked for.
#[derive(Debug)]
struct Outbound {
    relay_name: String,
    /// The track relayed, `(publisher, name)`.
    publisher: SessionId,
    name: String,
    /// One pinned subscription per layer, lowest first, and whether the
    /// layer is wanted (flowing) or paused.
    layers: Vec<(SubscriptionId, bool)>,
    /// Each layer's link SSRC and RTX SSRC, lowest first.
    ssrcs: Vec<(u32, Option<u32>)>,
    /// The other node has sent its demand for this track at least once:
    /// until then every layer flows.
    demanded: bool,
}

/// A track the other node relays to us, as this node published it.
#[derive(Debug)]
struct Inbound {
    name: String,
    /// The layers' RIDs, lowest first.
    rids: Vec<Option<String>>,
    /// The first layer's link SSRC: the track's key in the demand.
    first_ssrc: u32,
    /// The layers wanted, as last sent (`None`: never sent).
    sent: Option<u8>,
    /// The layers wanted, being worked out.
    wanted: u8,
}

/// The state of one link: its peer, crypto and the tracks crossing it.
#[derive(Debug)]
pub(crate) struct RelayLink {
    pub remote: SocketAddr,
    /// The local address the peer's datagrams arrive on (learnt from them),
    /// so ours leave from it.
    pub local: Option<SocketAddr>,
    srtp: Option<SrtpSession>,
    /// The SSRC this end sends RTCP from: the router's feedback on the
    /// link, and the layer demand.
    rtcp_ssrc: u32,
    /// SSRCs the accepted tracks allowed through SRTP.
    allowed: usize,
    /// Tracks relayed over the link, by their first layer's link SSRC.
    outbound: FxHashMap<u32, Outbound>,
    /// Tracks the other node relays to us, in accept order.
    inbound: Vec<Inbound>,
}

impl RelayLink {
    /// A datagram from the link's peer, decrypted; `None` for anything not
    /// RTP/RTCP or failing authentication.
    pub fn receive(&mut self, data: &[u8]) -> Option<(bool, Bytes)> {
        let rtcp = match classify(data) {
            DatagramKind::Rtp => false,
            DatagramKind::Rtcp => true,
            _ => return None,
        };
        match self.srtp.as_mut() {
            None => Some((rtcp, Bytes::copy_from_slice(data))),
            Some(s) if rtcp => s.unprotect_rtcp(data).ok().map(|p| (true, p)),
            Some(s) => s.unprotect_rtp(data).ok().map(|p| (false, p)),
        }
    }
}

/// Seals (when keyed) and queues a packet toward the link's peer.
pub(crate) fn send(
    link: &mut RelayLink,
    packet: &[u8],
    rtcp: bool,
    out: &mut VecDeque<Transmit>,
) -> Result<(), ()> {
    let contents = match link.srtp.as_mut() {
        None => Bytes::copy_from_slice(packet),
        Some(s) if rtcp => s.protect_rtcp(packet).map_err(|_| ())?,
        Some(s) => s.protect_rtp(packet).map_err(|_| ())?,
    };
    // Bounded like the endpoint's queue: a driver that does not drain loses.
    if out.len() >= 16_384 {
        return Err(());
    }
    let unspecified = match link.remote {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    out.push_back(Transmit {
        destination: link.remote,
        source: link.local.unwrap_or(unspecified),
        contents,
    });
    Ok(())
}

/// A relayed track's layers as the other node may name them: 1 to
/// [`MAX_LAYERS`], audio one, RIDs valid and distinct.
fn check_layers(track: &RelayTrack) -> Result<(), Error> {
    let n = track.layers.len();
    if n == 0 || n > MAX_LAYERS || (track.kind == MediaKind::Audio && n != 1) {
        return Err(Error::Router(sfu_core::Error::InvalidTrack(
            "a relayed track has 1 to 3 layers, audio one",
        )));
    }
    for (i, layer) in track.layers.iter().enumerate() {
        check_rid(layer.rid.as_deref())?;
        let repeated = track
            .layers
            .iter()
            .take(i)
            .any(|l| l.rid.is_some() && l.rid == layer.rid);
        if repeated {
            return Err(Error::InvalidRid);
        }
    }
    Ok(())
}

impl Node {
    /// Opens the relay link to the node whose media socket is `remote`
    /// (one link per peer node; the other node opens its end toward us
    /// with the same keys and the opposite `initiator`). Datagrams from
    /// `remote` are taken as the link's from now on. Returns the link's
    /// session: relay tracks over it with [`Node::relay_track`], accept the
    /// other node's with [`Node::accept_relay_track`], and pull accepted
    /// tracks from it like any session's.
    pub fn open_relay(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        keys: Option<&RelayKeys>,
        initiator: bool,
    ) -> Result<SessionId, Error> {
        if self.relays.contains_key(&remote) {
            return Err(Error::RelayExists(remote));
        }
        if self.relays.len() >= self.max_relays {
            return Err(Error::TooManyRelays(self.max_relays));
        }
        let srtp = match keys {
            Some(k) => {
                let role = if initiator {
                    DtlsRole::Client
                } else {
                    DtlsRole::Server
                };
                let mut s = SrtpSession::from_dtls_keying(&k.material, k.profile, role)?;
                // The other node's RTCP sender SSRCs are not announced.
                s.learn_remote_ssrcs(LEARNED_SSRCS);
                Some(s)
            }
            None => None,
        };
        let rtcp_ssrc = self.fresh_ssrc();
        let config = sfu_core::SessionConfig {
            rtcp_ssrc: Some(rtcp_ssrc),
            ..Default::default()
        };
        let session = self.router.create_session(now, config)?;
        let link = RelayLink {
            remote,
            local: None,
            srtp,
            rtcp_ssrc,
            allowed: 0,
            outbound: FxHashMap::default(),
            inbound: Vec::new(),
        };
        self.sessions
            .insert(session, Session::new(Link::Relay(Box::new(link))));
        self.relays.insert(remote, session);
        // A link carries every track relayed between the two nodes: the
        // per-session share of the shield is for clients.
        self.router.loss_recovery_mut().set_trunk(session, true);
        Ok(session)
    }

    /// Sends `publisher`'s track `name` over the relay link `link`, every
    /// layer of it (each on a link SSRC of its own, pulled by a
    /// subscription pinned to the layer); the other node accepts the
    /// returned description with [`Node::accept_relay_track`] and publishes
    /// it as `relay_name`. `publisher` may itself be a relay link (a track
    /// relayed to this node, relayed on). Every layer flows until the other
    /// node tells which it wants; from then on only those.
    pub fn relay_track(
        &mut self,
        now: Instant,
        link: SessionId,
        publisher: SessionId,
        name: &str,
        relay_name: &str,
    ) -> Result<RelayTrack, Error> {
        let r = self.relay_track_now(now, link, publisher, name, relay_name);
        self.pump(now);
        r
    }

    fn relay_track_now(
        &mut self,
        now: Instant,
        link: SessionId,
        publisher: SessionId,
        name: &str,
        relay_name: &str,
    ) -> Result<RelayTrack, Error> {
        let track = self
            .sessions
            .get(&publisher)
            .ok_or(Error::UnknownSession)?
            .published
            .iter()
            .find(|p| p.name == name)
            .cloned()
            .ok_or_else(|| Error::TrackNotPublished(name.to_owned()))?;
        let s = self.sessions.get(&link).ok_or(Error::UnknownSession)?;
        if !matches!(s.link, Link::Relay(_)) {
            return Err(Error::NotARelay);
        }
        if s.senders.len() >= MAX_RELAY_TRACKS {
            return Err(Error::TooManyTracks(MAX_RELAY_TRACKS));
        }
        if s.senders
            .iter()
            .any(|x| x.relay_name.as_deref() == Some(relay_name))
        {
            return Err(Error::DuplicateTrackName(relay_name.to_owned()));
        }
        let rids = self.layer_rids(publisher, &track);
        let codecs = vec![codec_config(&track.format, track.rtx_pt)];
        let mut layers = Vec::with_capacity(rids.len());
        let mut subscriptions: Vec<(SubscriptionId, bool)> = Vec::with_capacity(rids.len());
        for (i, rid) in rids.into_iter().enumerate() {
            let ssrc = self.fresh_ssrc();
            let rtx_ssrc = track.rtx_pt.map(|_| self.fresh_ssrc());
            let mut pull =
                PullConfig::new(ssrc, codecs.clone()).with_policy(Pinned::new(LayerIndex(i as u8)));
            if let Some(rtx) = rtx_ssrc {
                pull = pull.with_rtx(rtx);
            }
            match self.router.pull_track(now, link, publisher, name, pull) {
                Ok(sub) => subscriptions.push((sub, true)),
                Err(e) => {
                    for (sub, _) in subscriptions {
                        let _ = self.router.close_subscription(sub);
                    }
                    return Err(e.into());
                }
            }
            layers.push(RelayLayer {
                rid,
                ssrc,
                rtx_ssrc,
            });
        }
        // Before its first packet a subscription's keyframe request names
        // the track's top layer: right for the top one's. The others get
        // theirs from the router as their layer's first packet arrives.
        if let Some(&(top, _)) = subscriptions.last() {
            let _ = self.router.request_keyframe(now, top);
        }
        let (Some(first), Some(&(first_sub, _))) = (layers.first(), subscriptions.first()) else {
            return Err(Error::TrackNotPublished(name.to_owned()));
        };
        let sender = Sender {
            mid: None,
            relay_name: Some(relay_name.to_owned()),
            kind: track.kind,
            ssrc: first.ssrc,
            rtx_ssrc: first.rtx_ssrc,
            codecs,
            format: track.format.clone(),
            pull: Some(Pull {
                publisher,
                name: name.to_owned(),
                subscription: first_sub,
            }),
            pulled: Some((publisher, name.to_owned())),
            resume: None,
            layer: None,
        };
        let outbound = Outbound {
            relay_name: relay_name.to_owned(),
            publisher,
            name: name.to_owned(),
            layers: subscriptions,
            ssrcs: layers.iter().map(|l| (l.ssrc, l.rtx_ssrc)).collect(),
            demanded: false,
        };
        if let Some(s) = self.sessions.get_mut(&link) {
            if let Link::Relay(relay) = &mut s.link {
                relay.outbound.insert(first.ssrc, outbound);
            }
            s.senders.push(sender);
        }
        Ok(RelayTrack {
            name: relay_name.to_owned(),
            kind: track.kind,
            format: track.format,
            rtx_pt: track.rtx_pt,
            layers,
        })
    }

    /// The RIDs of `publisher`'s published `track`, lowest layer first:
    /// from the client's answered simulcast (ordered as the router's
    /// layers are), or as a relay link accepted them. `None` for each
    /// layer when neither says.
    fn layer_rids(&self, publisher: SessionId, track: &Published) -> Vec<Option<String>> {
        let n = track.layers.clamp(1, MAX_LAYERS);
        let rids = self
            .sessions
            .get(&publisher)
            .and_then(|s| match &s.link {
                Link::Relay(relay) => relay
                    .inbound
                    .iter()
                    .find(|t| t.name == track.name)
                    .map(|t| t.rids.clone()),
                Link::Client(client) => {
                    let mid = track.mid.as_deref()?;
                    let section = client.negotiation.sections().find(|x| x.mid == mid)?;
                    let rids: Vec<String> = section
                        .simulcast
                        .iter()
                        .flat_map(|sim| sim.layers.iter().map(|l| l.rid.clone()))
                        .collect();
                    Some(layer_order(&rids).into_iter().map(Some).collect())
                }
                Link::Direct(_) => None,
            })
            .filter(|rids| rids.len() == n);
        rids.unwrap_or_else(|| vec![None; n])
    }

    /// Publishes, in the relay link's session, a track the other node
    /// relays to us, with its layers and their RIDs: viewers of this node
    /// pull it like any simulcast track (preferring a layer by RID, falling
    /// back when it is missing), and it may be relayed on to a further
    /// node. From now on this node tells the other which of its layers it
    /// wants (see [`Node::relay_track`]).
    pub fn accept_relay_track(
        &mut self,
        now: Instant,
        link: SessionId,
        track: RelayTrack,
    ) -> Result<(), Error> {
        let r = self.accept_relay_track_now(now, link, track);
        self.pump(now);
        r
    }

    fn accept_relay_track_now(
        &mut self,
        now: Instant,
        link: SessionId,
        track: RelayTrack,
    ) -> Result<(), Error> {
        check_layers(&track)?;
        let s = self.sessions.get_mut(&link).ok_or(Error::UnknownSession)?;
        let Link::Relay(relay) = &mut s.link else {
            return Err(Error::NotARelay);
        };
        if s.published.len() >= MAX_RELAY_TRACKS {
            return Err(Error::TooManyTracks(MAX_RELAY_TRACKS));
        }
        let layers: Vec<LayerConfig> = track
            .layers
            .iter()
            .map(|l| LayerConfig {
                rid: l.rid.clone(),
                ssrc: Some(l.ssrc),
                rtx_ssrc: l.rtx_ssrc,
            })
            .collect();
        let mut config = TrackConfig::video(
            track.name.clone(),
            codec_config(&track.format, track.rtx_pt),
            layers,
        );
        if track.kind == MediaKind::Audio {
            config.kind = RouterKind::Audio;
        }
        if track.layers.iter().any(|l| l.rid.is_some()) {
            // The router wants a mid beside RID-named layers, to bind
            // unsignalled SSRCs by it; the link signals every SSRC and
            // reads no mid, so the name stands in.
            config = config.with_mid(track.name.clone());
        }
        self.router.publish_track(now, link, config)?;
        if let Some(srtp) = relay.srtp.as_mut() {
            for layer in &track.layers {
                for ssrc in std::iter::once(layer.ssrc).chain(layer.rtx_ssrc) {
                    srtp.allow_remote_ssrc(ssrc);
                    relay.allowed += 1;
                }
            }
            srtp.learn_remote_ssrcs(relay.allowed + LEARNED_SSRCS);
        }
        let first_ssrc = track.layers.first().map_or(0, |l| l.ssrc);
        relay.inbound.push(Inbound {
            name: track.name.clone(),
            rids: track.layers.iter().map(|l| l.rid.clone()).collect(),
            first_ssrc,
            sent: None,
            wanted: 0,
        });
        s.published.push(Published {
            name: track.name,
            mid: None,
            kind: track.kind,
            format: track.format,
            rtx_pt: track.rtx_pt,
            layers: track.layers.len(),
            published_at: now,
        });
        self.relay_demand.changed();
        Ok(())
    }

    /// Stops relaying the track named `relay_name` over `link` (on the
    /// sending node), or unpublishes it (on the receiving node).
    pub fn end_relay_track(
        &mut self,
        now: Instant,
        link: SessionId,
        relay_name: &str,
    ) -> Result<(), Error> {
        let r = self.end_relay_track_now(now, link, relay_name);
        self.pump(now);
        r
    }

    fn end_relay_track_now(
        &mut self,
        now: Instant,
        link: SessionId,
        relay_name: &str,
    ) -> Result<(), Error> {
        let s = self.sessions.get_mut(&link).ok_or(Error::UnknownSession)?;
        if let Some(i) = s
            .senders
            .iter()
            .position(|x| x.relay_name.as_deref() == Some(relay_name))
        {
            let sender = s.senders.remove(i);
            if let Some(pull) = sender.pull {
                let _ = self.router.close_subscription(pull.subscription);
            }
            if let Link::Relay(relay) = &mut s.link {
                let key = relay
                    .outbound
                    .iter()
                    .find(|(_, o)| o.relay_name == relay_name)
                    .map(|(k, _)| *k);
                if let Some(o) = key.and_then(|k| relay.outbound.remove(&k)) {
                    for (sub, _) in o.layers.into_iter().skip(1) {
                        let _ = self.router.close_subscription(sub);
                    }
                }
            }
            return Ok(());
        }
        if let Some(i) = s.published.iter().position(|p| p.name == relay_name) {
            s.published.remove(i);
            if let Link::Relay(relay) = &mut s.link {
                relay.inbound.retain(|t| t.name != relay_name);
            }
            self.router.close_track(now, link, relay_name)?;
            return Ok(());
        }
        Err(Error::TrackNotPublished(relay_name.to_owned()))
    }
}
