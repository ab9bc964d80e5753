//! Direct sessions: a participant inside the application's own process
//! (a bot, a recorder, an AI agent, an end-to-end encrypted member that
//! links `sfu-e2ee`) that publishes and pulls tracks through the router
//! without ICE, DTLS or a socket, as mediasoup's DirectTransport does. The
//! application hands the node whole RTP packets of the tracks it publishes
//! ([`Node::handle_direct_rtp`]) and takes the RTP of the tracks it pulls
//! from [`Node::poll_direct`]; everyone else pulls its tracks by
//! `(session, name)` like any session's, and its pulls are ordinary
//! subscriptions (rewritten SSRC and numbering, simulcast layer choice,
//! keyframe requests toward the publisher).
//!
//! The router's RTCP toward a direct session (receiver reports, NACKs,
//! keyframe requests for its own tracks) is not delivered: a direct
//! publisher keeps no retransmission buffer and its frames reach the
//! router without loss.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use sfu_core::{
    Fallback, LayerConfig, MediaKind as RouterKind, PullConfig, SessionId, Simulcast, TrackConfig,
};

use crate::Error;
use crate::sdp::{MediaKind, PayloadFormat};

use super::Node;
use super::commands::check_rid;
use super::session::{Link, Published, Pull, Sender, Session};
use super::translate::codec_config;

/// At most this many tracks published, and this many pulled, per direct session.
const MAX_DIRECT_TRACKS: usize = 64;

/// Packets [`Node::poll_direct`] holds at most; an application that does
/// not drain loses the newest, counted in `NodeStats::direct_dropped`.
pub(crate) const MAX_QUEUED_DIRECT: usize = 8192;

/// A track a direct session publishes: its name, kind, format (the payload
/// type its packets carry) and the SSRC of its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectTrack {
    /// The name others pull it by.
    pub name: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The format, with the payload type the packets carry.
    pub format: PayloadFormat,
    /// The SSRC of its packets.
    pub ssrc: u32,
}

/// What a direct pull delivers: packets on `ssrc`, in `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectPull {
    /// The SSRC the node numbers the pulled track's packets with.
    pub ssrc: u32,
    /// Audio or video.
    pub kind: MediaKind,
    /// The format as the publisher negotiated it (its payload type).
    pub format: PayloadFormat,
}

/// One RTP packet of a pulled track for a direct session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectPacket {
    /// The direct session that pulled it.
    pub session: SessionId,
    /// The pull's SSRC (as returned by [`Node::pull_direct`]).
    pub ssrc: u32,
    /// The whole RTP packet, header rewritten for this pull.
    pub rtp: Bytes,
}

/// The node's side of a direct session: the SSRCs it may send on; its
/// tracks and pulls live in [`Session`] like every session's.
#[derive(Debug)]
pub(crate) struct DirectLink {
    /// SSRCs of the tracks it publishes, so a packet on any other SSRC is
    /// refused before the router sees it.
    pub ssrcs: Vec<u32>,
}

/// Queues one packet toward the application, bounded.
pub(crate) fn deliver(out: &mut VecDeque<DirectPacket>, packet: DirectPacket) -> Result<(), ()> {
    if out.len() >= MAX_QUEUED_DIRECT {
        return Err(());
    }
    out.push_back(packet);
    Ok(())
}

impl Node {
    /// Opens a direct session: a participant in this process, with no
    /// transport. Publish with [`Node::publish_direct`], pull with
    /// [`Node::pull_direct`], close with [`Node::close_session`].
    pub fn open_direct(&mut self, now: Instant) -> Result<SessionId, Error> {
        let config = sfu_core::SessionConfig {
            rtcp_ssrc: Some(self.fresh_ssrc()),
            ..Default::default()
        };
        let session = self.router.create_session(now, config)?;
        let link = DirectLink { ssrcs: Vec::new() };
        self.sessions
            .insert(session, Session::new(Link::Direct(Box::new(link))));
        Ok(session)
    }

    /// Publishes `track` in the direct session `session`; its packets then
    /// go to [`Node::handle_direct_rtp`].
    pub fn publish_direct(
        &mut self,
        now: Instant,
        session: SessionId,
        track: DirectTrack,
    ) -> Result<(), Error> {
        let r = self.publish_direct_now(now, session, track);
        self.pump(now);
        r
    }

    fn publish_direct_now(
        &mut self,
        now: Instant,
        session: SessionId,
        track: DirectTrack,
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        let Link::Direct(direct) = &mut s.link else {
            return Err(Error::NotDirect);
        };
        if s.published.len() >= MAX_DIRECT_TRACKS {
            return Err(Error::TooManyTracks(MAX_DIRECT_TRACKS));
        }
        if s.published.iter().any(|p| p.name == track.name) {
            return Err(Error::DuplicateTrackName(track.name));
        }
        let layer = LayerConfig {
            rid: None,
            ssrc: Some(track.ssrc),
            rtx_ssrc: None,
        };
        let mut config = TrackConfig::video(
            track.name.clone(),
            codec_config(&track.format, None),
            vec![layer],
        );
        if track.kind == MediaKind::Audio {
            config.kind = RouterKind::Audio;
        }
        self.router.publish_track(now, session, config)?;
        direct.ssrcs.push(track.ssrc);
        s.published.push(Published {
            name: track.name,
            mid: None,
            kind: track.kind,
            format: track.format,
            rtx_pt: None,
            layers: 1,
            published_at: now,
        });
        Ok(())
    }

    /// One RTP packet of a track the direct session publishes. Packets on
    /// an SSRC it did not publish, and packets the router refuses, are
    /// errors and change nothing.
    pub fn handle_direct_rtp(
        &mut self,
        now: Instant,
        session: SessionId,
        rtp: Bytes,
    ) -> Result<(), Error> {
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        let Link::Direct(direct) = &s.link else {
            return Err(Error::NotDirect);
        };
        let ssrc = rtp
            .get(8..12)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes);
        if !ssrc.is_some_and(|x| direct.ssrcs.contains(&x)) {
            return Err(Error::Router(sfu_core::Error::UnknownSsrc(
                ssrc.unwrap_or(0),
            )));
        }
        let r = self.router.handle_rtp(now, session, rtp);
        self.pump(now);
        r.map_err(Error::from)
    }

    /// Pulls `publisher`'s track `name` into the direct session `session`
    /// (simulcast video: the layer `rid`, `None` for the highest, falling
    /// back as layers come and go). The packets come out of
    /// [`Node::poll_direct`] on the returned SSRC.
    pub fn pull_direct(
        &mut self,
        now: Instant,
        session: SessionId,
        publisher: SessionId,
        name: &str,
        rid: Option<&str>,
    ) -> Result<DirectPull, Error> {
        let r = self.pull_direct_now(now, session, publisher, name, rid);
        self.pump(now);
        r
    }

    fn pull_direct_now(
        &mut self,
        now: Instant,
        session: SessionId,
        publisher: SessionId,
        name: &str,
        rid: Option<&str>,
    ) -> Result<DirectPull, Error> {
        check_rid(rid)?;
        let track = self
            .track(publisher, name)?
            .ok_or_else(|| Error::TrackNotPublished(name.to_owned()))?;
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        if !matches!(s.link, Link::Direct(_)) {
            return Err(Error::NotDirect);
        }
        if s.senders.len() >= MAX_DIRECT_TRACKS {
            return Err(Error::TooManyTracks(MAX_DIRECT_TRACKS));
        }
        let ssrc = self.fresh_ssrc();
        let codecs = vec![codec_config(&track.format, None)];
        let mut config = PullConfig::new(ssrc, codecs.clone());
        if track.layers > 1 {
            config = config.with_policy(Simulcast::new(rid.map(str::to_owned), Fallback::Auto));
        }
        let subscription = self
            .router
            .pull_track(now, session, publisher, name, config)?;
        let _ = self.router.request_keyframe(now, subscription);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.senders.push(Sender {
                mid: None,
                relay_name: None,
                kind: track.kind,
                ssrc,
                rtx_ssrc: None,
                codecs,
                format: track.format.clone(),
                pull: Some(Pull {
                    publisher,
                    name: name.to_owned(),
                    subscription,
                }),
                pulled: Some((publisher, name.to_owned())),
                resume: None,
                layer: rid.map(str::to_owned),
            });
        }
        Ok(DirectPull {
            ssrc,
            kind: track.kind,
            format: track.format,
        })
    }

    /// Asks the publisher of the direct pull on `ssrc` for a keyframe (a
    /// decoder that lost its place, an encrypted member that just got its
    /// keys).
    pub fn request_direct_keyframe(
        &mut self,
        now: Instant,
        session: SessionId,
        ssrc: u32,
    ) -> Result<(), Error> {
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        let sub = s
            .senders
            .iter()
            .find(|x| x.ssrc == ssrc)
            .and_then(|x| x.pull.as_ref())
            .map(|p| p.subscription)
            .ok_or(Error::UnknownSession)?;
        let r = self.router.request_keyframe(now, sub);
        self.pump(now);
        r.map_err(Error::from)
    }

    /// The next RTP packet of a track a direct session pulls.
    pub fn poll_direct(&mut self) -> Option<DirectPacket> {
        self.direct_out.pop_front()
    }
}
