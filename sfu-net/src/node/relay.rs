//! Relay links between nodes (a cascade): plain RTP/RTCP over the node's
//! own media socket(s), no ICE or DTLS, SRTP when the application
//! exchanged keys (as mediasoup's PipeTransport). One link per peer node,
//! in both directions: each end's router and NACK shield treat it as one
//! more session, which publishes the tracks the other node relays to it
//! and pulls the ones it relays on, so a loss on the link is repaired on
//! the link.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use sfu_core::{LayerConfig, MediaKind as RouterKind, PullConfig, SessionId, TrackConfig};

use crate::demux::{DatagramKind, classify};
use crate::sdp::{self, MediaKind};
use crate::srtp::{DtlsRole, SrtpSession};
use crate::{Error, SrtpProfile, Transmit};

use super::Node;
use super::session::{Link, Published, Pull, Sender, Session};
use super::translate::codec_config;

/// At most this many tracks cross one relay link (each way).
const MAX_RELAY_TRACKS: usize = 256;

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

/// One track a relay link carries, as the receiving node must publish it.
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
    /// The SSRC the link carries it on.
    pub ssrc: u32,
    /// The RTX SSRC on the link.
    pub rtx_ssrc: Option<u32>,
}

/// The state of one link: its peer and crypto.
#[derive(Debug)]
pub(crate) struct RelayLink {
    pub remote: SocketAddr,
    /// The local address the peer's datagrams arrive on (learnt from them),
    /// so ours leave from it.
    pub local: Option<SocketAddr>,
    srtp: Option<SrtpSession>,
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
                s.learn_remote_ssrcs(16);
                Some(s)
            }
            None => None,
        };
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let link = RelayLink {
            remote,
            local: None,
            srtp,
        };
        self.sessions
            .insert(session, Session::new(Link::Relay(Box::new(link))));
        self.relays.insert(remote, session);
        // A link carries every track relayed between the two nodes: the
        // per-session share of the shield is for clients.
        self.router.loss_recovery_mut().set_trunk(session, true);
        Ok(session)
    }

    /// Sends `publisher`'s track `name` over the relay link `link`; the
    /// other node accepts the returned description with
    /// [`Node::accept_relay_track`] and publishes it as `relay_name`.
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
        let ssrc = self.fresh_ssrc();
        let rtx_ssrc = track.rtx_pt.map(|_| self.fresh_ssrc());
        let codecs = vec![codec_config(&track.format, track.rtx_pt)];
        let mut pull = PullConfig::new(ssrc, codecs.clone());
        if let Some(rtx) = rtx_ssrc {
            pull = pull.with_rtx(rtx);
        }
        let subscription = self.router.pull_track(now, link, publisher, name, pull)?;
        let _ = self.router.request_keyframe(now, subscription);
        if let Some(s) = self.sessions.get_mut(&link) {
            s.senders.push(Sender {
                mid: None,
                relay_name: Some(relay_name.to_owned()),
                kind: track.kind,
                ssrc,
                rtx_ssrc,
                codecs,
                format: track.format.clone(),
                pull: Some(Pull {
                    publisher,
                    name: name.to_owned(),
                    subscription,
                }),
                pulled: Some((publisher, name.to_owned())),
                resume: None,
                layer: None,
            });
        }
        Ok(RelayTrack {
            name: relay_name.to_owned(),
            kind: track.kind,
            format: track.format,
            rtx_pt: track.rtx_pt,
            ssrc,
            rtx_ssrc,
        })
    }

    /// Publishes, in the relay link's session, a track the other node
    /// relays to us.
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
        let s = self.sessions.get_mut(&link).ok_or(Error::UnknownSession)?;
        let Link::Relay(relay) = &mut s.link else {
            return Err(Error::NotARelay);
        };
        if s.published.len() >= MAX_RELAY_TRACKS {
            return Err(Error::TooManyTracks(MAX_RELAY_TRACKS));
        }
        if let Some(srtp) = relay.srtp.as_mut() {
            for ssrc in std::iter::once(track.ssrc).chain(track.rtx_ssrc) {
                srtp.allow_remote_ssrc(ssrc);
            }
        }
        let mut layer = LayerConfig::ssrc(track.ssrc);
        if let Some(rtx) = track.rtx_ssrc {
            layer = layer.with_rtx(rtx);
        }
        let mut config = TrackConfig::video(
            track.name.clone(),
            codec_config(&track.format, track.rtx_pt),
            vec![layer],
        );
        if track.kind == MediaKind::Audio {
            config.kind = RouterKind::Audio;
        }
        self.router.publish_track(now, link, config)?;
        s.published.push(Published {
            name: track.name,
            mid: None,
            kind: track.kind,
            format: track.format,
            rtx_pt: track.rtx_pt,
            layers: 1,
            published_at: now,
        });
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
            return Ok(());
        }
        if let Some(i) = s.published.iter().position(|p| p.name == relay_name) {
            s.published.remove(i);
            self.router.close_track(now, link, relay_name)?;
            return Ok(());
        }
        Err(Error::TrackNotPublished(relay_name.to_owned()))
    }
}
