//! Sessions the node offers toward a third party: a WebRTC endpoint that
//! takes an offer and returns an answer over the application's own
//! signalling (Cloudflare Calls' `sessions/new?thirdparty=true`, then
//! `renegotiate` with the answer): another SFU, a realtime AI endpoint,
//! often ICE-lite.
//!
//! [`Node::open_third_party`] makes the session and its offer: a
//! `sendonly` section per track pulled into it (any session's published
//! track, as [`Node::pull_tracks`] adds them) and a `recvonly` section per
//! track it should send us ([`ReceiveTrack`]), BUNDLE and rtcp-mux, our
//! codecs, our host candidates, `a=setup:actpass` and no `a=ice-lite`.
//! [`Node::accept_answer`] applies the answer: the node's full ICE agent
//! checks the answer's candidates as the controlling agent (aggressive
//! nomination; see [`crate::ice`]), DTLS runs as the client when the answer
//! says `a=setup:passive` and as the server when it says `active`, the
//! server's certificate is held to the answer's fingerprint, and what the
//! third party sends becomes ordinary published tracks of the session
//! (others pull them like any client's). [`NodeEvent::Connected`] follows
//! once SRTP is keyed; [`NodeEvent::Closed`] with
//! [`CloseReason::Failed`](crate::CloseReason::Failed) and
//! [`Error::IceFailed`] when no candidate pair answers within
//! [`EndpointConfig::ice_connect_timeout`](crate::EndpointConfig::ice_connect_timeout),
//! or with the DTLS error (e.g. [`Error::FingerprintMismatch`]).
//!
//! Later changes go through the usual commands: [`Node::pull_tracks`]
//! without an offer adds sections in a new offer of the node's (answer it
//! with [`Node::apply_answer`]), [`Node::close_tracks`] stops them. A third
//! party's own re-offer is answered as a client's would be (ICE-lite
//! answer), which a third party that only answers never sends.
//!
//! [`NodeEvent::Connected`]: super::NodeEvent::Connected
//! [`NodeEvent::Closed`]: super::NodeEvent::Closed

use std::time::Instant;

use sfu_core::SessionId;

use crate::Error;
use crate::sdp::MediaKind;

use super::Node;
use super::commands::{check_count, check_rid};
use super::event::{Negotiated, PullTrack, SessionDescription, TrackOutcome, TrackState};
use super::session::Session;

/// Names of tracks to receive are 1 to 256 bytes, unique within one call.
fn check_receive(receive: &[ReceiveTrack]) -> Result<(), Error> {
    for (i, r) in receive.iter().enumerate() {
        if r.name.is_empty() || r.name.len() > crate::sdp::limits::MAX_TOKEN_BYTES {
            return Err(Error::InvalidTrackName);
        }
        if receive.iter().take(i).any(|o| o.name == r.name) {
            return Err(Error::DuplicateTrackName(r.name.clone()));
        }
    }
    Ok(())
}

/// A track the third party sends the node, published in its session
/// under `name` once the answer sends on the section offered for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveTrack {
    /// The name the track is published under (others pull it by
    /// `(session, name)`).
    pub name: String,
    /// Audio or video.
    pub kind: MediaKind,
}

impl ReceiveTrack {
    /// An audio track the third party sends, published as `name`.
    pub fn audio(name: impl Into<String>) -> Self {
        ReceiveTrack {
            name: name.into(),
            kind: MediaKind::Audio,
        }
    }

    /// A video track the third party sends, published as `name`.
    pub fn video(name: impl Into<String>) -> Self {
        ReceiveTrack {
            name: name.into(),
            kind: MediaKind::Video,
        }
    }
}

/// The node's offer toward a third party ([`Node::open_third_party`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct ThirdPartyOffer {
    /// The new session.
    pub session: SessionId,
    /// The offer to post to the third party.
    pub offer: SessionDescription,
    /// Per pull (by publisher and name) then per [`ReceiveTrack`] (by the
    /// session and its name), in order: the section it got (`mid`) or why
    /// not. Pulls of tracks not published yet wait as with
    /// [`Node::pull_tracks`]; receiving tracks are
    /// [`TrackState::Waiting`] until the answer.
    pub tracks: Vec<TrackOutcome>,
}

impl Node {
    /// Opens a session toward a third party and returns the node's offer
    /// for it: `pulls` are tracks of any session sent *to* the third party
    /// (each a `sendonly` section), `receive` the tracks it should send
    /// us (each a `recvonly` section). Post the offer to the third party
    /// and give its answer to [`Node::accept_answer`]: our ICE agent then
    /// checks the answer's candidates as the controlling agent, DTLS runs
    /// as the client (answer `a=setup:passive`) or the server (`active`),
    /// and [`NodeEvent::Connected`](super::NodeEvent::Connected) or
    /// [`NodeEvent::Closed`](super::NodeEvent::Closed) follows.
    ///
    /// Refused as a whole (no session is left behind) when there is
    /// nothing to offer, for too many tracks, an invalid layer or track
    /// name, or a duplicate receiving name.
    pub fn open_third_party(
        &mut self,
        now: Instant,
        pulls: &[PullTrack],
        receive: &[ReceiveTrack],
    ) -> Result<ThirdPartyOffer, Error> {
        check_count(pulls.len().saturating_add(receive.len()))?;
        for pull in pulls {
            check_rid(pull.layer.as_deref())?;
        }
        check_receive(receive)?;
        let session = self.create_session_as(now, true)?;
        let r = self.third_party_offer(session, pulls, receive);
        if r.is_err() {
            self.forget(now, session);
        }
        self.pump(now);
        r
    }

    fn third_party_offer(
        &mut self,
        session: SessionId,
        pulls: &[PullTrack],
        receive: &[ReceiveTrack],
    ) -> Result<ThirdPartyOffer, Error> {
        let mut tracks = Vec::with_capacity(pulls.len() + receive.len());
        for pull in pulls {
            let result = self.offer_section(session, pull);
            tracks.push(TrackOutcome {
                name: pull.name.clone(),
                session: pull.publisher,
                mid: None,
                result,
            });
        }
        self.add_receivers(session, receive, &mut tracks)?;
        let offer = self.offer(session)?;
        if let Some(c) = self.sessions.get(&session).and_then(Session::client) {
            for (o, pull) in tracks.iter_mut().zip(pulls) {
                o.mid = c
                    .offered
                    .iter()
                    .find(|x| x.publisher == pull.publisher && x.name == pull.name)
                    .and_then(|x| x.sender.mid.clone());
            }
        }
        Ok(ThirdPartyOffer {
            session,
            offer,
            tracks,
        })
    }

    /// A session toward a third party with nothing to offer yet, for an
    /// application that builds its first offer in steps (Calls'
    /// `sessions/new?thirdparty=true`, then `tracks/new`): add tracks for
    /// it with [`Node::pull_tracks`] (no offer given: the node's offer
    /// comes back) or [`Node::receive_tracks`], then give the answer to
    /// [`Node::accept_answer`]. Like any session it is closed after
    /// [`NodeConfig::negotiation_timeout`](super::NodeConfig::negotiation_timeout)
    /// without a completed exchange.
    pub fn create_third_party_session(&mut self, now: Instant) -> Result<SessionId, Error> {
        self.create_session_as(now, true)
    }

    /// Asks the peer of `session` (typically a third party) to send us
    /// tracks: one `recvonly` section each, in a new offer of the node's
    /// (returned in [`Negotiated::description`]); give the answer to
    /// [`Node::accept_answer`], which publishes them. Per track its `mid`
    /// and [`TrackState::Waiting`], or why not.
    pub fn receive_tracks(
        &mut self,
        now: Instant,
        session: SessionId,
        receive: &[ReceiveTrack],
    ) -> Result<Negotiated, Error> {
        let r = self.receive_tracks_now(session, receive);
        self.pump(now);
        r
    }

    fn receive_tracks_now(
        &mut self,
        session: SessionId,
        receive: &[ReceiveTrack],
    ) -> Result<Negotiated, Error> {
        check_count(receive.len())?;
        check_receive(receive)?;
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        let c = s.client().ok_or(Error::NotAClient)?;
        for r in receive {
            if c.receivers.iter().any(|(_, name)| *name == r.name)
                || s.published.iter().any(|p| p.name == r.name)
            {
                return Err(Error::DuplicateTrackName(r.name.clone()));
            }
        }
        let mut tracks = Vec::with_capacity(receive.len());
        self.add_receivers(session, receive, &mut tracks)?;
        let description = if tracks.iter().any(|t| t.result.is_ok()) {
            Some(self.offer(session)?)
        } else {
            None
        };
        Ok(Negotiated {
            description,
            tracks,
        })
    }

    /// Adds a receiving section per track to `session`'s next offer.
    fn add_receivers(
        &mut self,
        session: SessionId,
        receive: &[ReceiveTrack],
        tracks: &mut Vec<TrackOutcome>,
    ) -> Result<(), Error> {
        for r in receive {
            let c = self.client_mut(session)?;
            let result = c
                .negotiation
                .add_receiver(r.kind)
                .map_err(Error::from)
                .inspect(|mid| c.receivers.push((mid.clone(), r.name.clone())));
            let (mid, result) = match result {
                Ok(mid) => (Some(mid), Ok(TrackState::Waiting)),
                Err(e) => (None, Err(e)),
            };
            tracks.push(TrackOutcome {
                name: r.name.clone(),
                session,
                mid,
                result,
            });
        }
        Ok(())
    }

    /// Applies the answer to the node's offer on `session`, as
    /// [`Node::apply_answer`] does, and also publishes what a third party
    /// sends on the receiving sections the node offered
    /// ([`Node::open_third_party`]): one outcome per such section, the
    /// track's name and `mid`, [`TrackState::Active`] or why not
    /// ([`Error::SectionNotSending`] when the answer does not send there).
    /// The first answer of a third-party session starts our ICE checks
    /// and, with `a=setup:passive`, our DTLS handshake once a pair works.
    pub fn accept_answer(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &str,
    ) -> Result<Negotiated, Error> {
        let r = self.accept_answer_now(now, session, answer);
        self.pump(now);
        r
    }

    fn accept_answer_now(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &str,
    ) -> Result<Negotiated, Error> {
        let answer = self.apply_answer_now(now, session, answer)?;
        let c = self.client_mut(session)?;
        let receivers = std::mem::take(&mut c.receivers);
        let received = c.negotiation.received_tracks(&answer);
        let mut tracks = Vec::with_capacity(receivers.len());
        for (mid, name) in receivers {
            let result = match received.iter().find(|t| t.mid == mid) {
                Some(track) => self.publish_section(now, session, &name, track),
                None => Err(Error::SectionNotSending(mid.clone())),
            };
            tracks.push(TrackOutcome {
                name,
                session,
                mid: Some(mid),
                result,
            });
        }
        Ok(Negotiated {
            description: None,
            tracks,
        })
    }
}
