//! The node's commands: sessions, pushing and pulling tracks with the SDP
//! exchanges they need, closing tracks and sessions, layer preferences.

use std::time::Instant;

use sfu_core::{Hint, SessionId};

use crate::sdp::{self, LocalTransport, Negotiation, published_tracks};
use crate::{CloseReason, Error, IceCredentials};

use super::Node;
use super::event::{
    Negotiated, PullTrack, PushTrack, SdpType, SessionDescription, TrackOutcome, TrackState,
};
use super::sections::negotiated_codecs;
use super::session::{Client, Link, Session, WaitingPull};

/// At most this many tracks in one command (Calls allows 64 per request).
pub const MAX_TRACKS_PER_COMMAND: usize = 64;

/// A command names at most [`MAX_TRACKS_PER_COMMAND`] tracks.
pub(super) fn check_count(n: usize) -> Result<(), Error> {
    if n > MAX_TRACKS_PER_COMMAND {
        return Err(Error::TooManyTracks(MAX_TRACKS_PER_COMMAND));
    }
    Ok(())
}

/// The node's answer to a client offer, for the client.
fn answer_of(answered: &sdp::AnsweredOffer) -> SessionDescription {
    SessionDescription {
        kind: SdpType::Answer,
        sdp: answered.answer.to_sdp(),
    }
}

/// A preferred layer must be a RID as SDP allows one (RFC 8851:
/// alphanumerics, `-`, `_`; bounded like every SDP token), so nothing
/// unbounded is stored per session.
pub(super) fn check_rid(rid: Option<&str>) -> Result<(), Error> {
    match rid {
        Some(r)
            if r.is_empty()
                || r.len() > sdp::limits::MAX_TOKEN_BYTES
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Err(Error::InvalidRid)
        }
        _ => Ok(()),
    }
}

impl Node {
    /// Creates a session with no transport yet: its first offer/answer
    /// exchange (a client offer given to [`Node::push_tracks`] or
    /// [`Node::pull_tracks`], or the node's own offer from
    /// [`Node::pull_tracks`]) brings it up. A session that never completes
    /// an exchange is closed after [`NodeConfig::negotiation_timeout`](super::NodeConfig::negotiation_timeout).
    pub fn create_session(&mut self, now: Instant) -> Result<SessionId, Error> {
        self.create_session_as(now, false)
    }

    /// [`Node::create_session`], for a client or toward a third party.
    pub(super) fn create_session_as(
        &mut self,
        now: Instant,
        third_party: bool,
    ) -> Result<SessionId, Error> {
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let credentials = IceCredentials::from_random(&self.random_bytes());
        let local = LocalTransport {
            ice: sdp::IceParameters::from(&credentials),
            fingerprint: *self.fingerprint(),
            candidates: self.candidates.clone(),
            session_id: u64::from_be_bytes(self.random_bytes()) >> 1,
        };
        let negotiation = if third_party {
            Negotiation::toward_third_party(local, self.caps.clone())
        } else {
            Negotiation::new(local, self.caps.clone())
        };
        let client = Client {
            credentials,
            negotiation,
            receivers: Vec::new(),
            transport: false,
            connected: false,
            offered: Vec::new(),
            stops_pending: false,
        };
        self.sessions
            .insert(session, Session::new(Link::Client(Box::new(client))));
        self.unnegotiated.push_back((now, session));
        Ok(session)
    }

    /// Publishes tracks from the client's `offer` (its first or a later
    /// one) and returns the node's answer. Each [`PushTrack`] names a
    /// sending m-section of the offer; with none, every sending section
    /// not yet published becomes a track named by its mid.
    pub fn push_tracks(
        &mut self,
        now: Instant,
        session: SessionId,
        offer: &str,
        tracks: &[PushTrack],
    ) -> Result<Negotiated, Error> {
        let r = self.push_tracks_now(now, session, offer, tracks);
        self.pump(now);
        r
    }

    fn push_tracks_now(
        &mut self,
        now: Instant,
        session: SessionId,
        offer: &str,
        tracks: &[PushTrack],
    ) -> Result<Negotiated, Error> {
        check_count(tracks.len())?;
        let (answered, _) = self.answer_client_offer(now, session, offer, &[])?;
        let mut outcomes = Vec::new();
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        let offered: Vec<sdp::PublishedTrack> = published_tracks(&answered.offer, &answered.answer)
            .into_iter()
            .filter(|t| !s.published.iter().any(|p| p.mid.as_ref() == Some(&t.mid)))
            .collect();
        let requests: Vec<PushTrack> = if tracks.is_empty() {
            offered
                .iter()
                .map(|t| PushTrack::new(t.mid.clone(), t.mid.clone()))
                .collect()
        } else {
            tracks.to_vec()
        };
        for request in requests {
            let result = match offered.iter().find(|t| t.mid == request.mid) {
                Some(track) => self.publish_section(now, session, &request.name, track),
                None => Err(Error::UnknownMid(request.mid.clone())),
            };
            outcomes.push(TrackOutcome {
                name: request.name,
                session,
                mid: Some(request.mid),
                result,
            });
        }
        Ok(Negotiated {
            description: Some(answer_of(&answered)),
            tracks: outcomes,
        })
    }

    /// `session` pulls tracks of other sessions. With the client's `offer`,
    /// each pull is delivered into a receiving m-section of it (the one its
    /// [`PullTrack::mid`] names, else the next unused one of the track's
    /// kind) and the node answers. Without one, a pull naming a `mid` goes
    /// into that idle section of the session, and the others get new
    /// sections in an offer of the node's (answer it with
    /// [`Node::apply_answer`]); a pull of a track not published yet waits
    /// and raises
    /// [`NodeEvent::NegotiationNeeded`](super::NodeEvent::NegotiationNeeded)
    /// when it is.
    pub fn pull_tracks(
        &mut self,
        now: Instant,
        session: SessionId,
        pulls: &[PullTrack],
        offer: Option<&str>,
    ) -> Result<Negotiated, Error> {
        let r = self.pull_tracks_now(now, session, pulls, offer);
        self.pump(now);
        r
    }

    pub(super) fn pull_tracks_now(
        &mut self,
        now: Instant,
        session: SessionId,
        pulls: &[PullTrack],
        offer: Option<&str>,
    ) -> Result<Negotiated, Error> {
        check_count(pulls.len())?;
        for pull in pulls {
            check_rid(pull.layer.as_deref())?;
        }
        let (description, mids) = match offer {
            Some(offer) => {
                let (answered, mids) = self.answer_client_offer(now, session, offer, pulls)?;
                (Some(answer_of(&answered)), mids)
            }
            None => (None, pulls.iter().map(|p| p.mid.clone()).collect()),
        };
        let mut outcomes = Vec::with_capacity(pulls.len());
        let mut offered_any = false;
        for (pull, mid) in pulls.iter().zip(mids) {
            let result = match (&mid, offer) {
                (Some(mid), _) => self.bind_pull(now, session, mid, pull),
                (None, Some(_)) => Err(Error::NoSectionForPull),
                (None, None) => {
                    let r = self.offer_section(session, pull);
                    offered_any |= r.as_ref().is_ok_and(|s| *s == TrackState::Active);
                    r
                }
            };
            outcomes.push(TrackOutcome {
                name: pull.name.clone(),
                session: pull.publisher,
                mid,
                result,
            });
        }
        let description = match description {
            Some(d) => Some(d),
            None if offered_any => Some(self.offer(session)?),
            None => None,
        };
        // The mids of sections the node offers are known only now.
        if let Some(c) = self.sessions.get(&session).and_then(Session::client) {
            for o in outcomes.iter_mut().filter(|o| o.mid.is_none()) {
                o.mid = c
                    .offered
                    .iter()
                    .find(|x| x.publisher == o.session && x.name == o.name)
                    .and_then(|x| x.sender.mid.clone());
            }
        }
        Ok(Negotiated {
            description,
            tracks: outcomes,
        })
    }

    /// The client's answer to the node's offer: sections it accepted start
    /// delivering, sections it refused are dropped.
    pub fn apply_answer(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &str,
    ) -> Result<(), Error> {
        let r = self.apply_answer_now(now, session, answer).map(|_| ());
        self.pump(now);
        r
    }

    pub(super) fn apply_answer_now(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &str,
    ) -> Result<sdp::Description, Error> {
        let c = self.client_mut(session)?;
        let answer = c.negotiation.apply_answer(answer)?;
        let offered = std::mem::take(&mut c.offered);
        c.stops_pending = false;
        self.ensure_transport(now, session, &answer, &[])?;
        let Some(s) = self.sessions.get_mut(&session) else {
            return Err(Error::UnknownSession);
        };
        let mut binds = Vec::new();
        for mut o in offered {
            let Some(mid) = o.sender.mid.clone() else {
                continue;
            };
            let Some(section) = answer.section(&mid).filter(|x| !x.is_rejected()) else {
                continue;
            };
            let Some((codecs, format, has_rtx)) = negotiated_codecs(section) else {
                continue;
            };
            if !has_rtx {
                o.sender.rtx_ssrc = None;
            }
            o.sender.codecs = codecs;
            o.sender.format = format;
            let layer = o.sender.layer.clone();
            s.senders.push(o.sender);
            binds.push((mid, PullTrack::new(o.publisher, o.name).with_layer(layer)));
        }
        for (mid, pull) in binds {
            let _ = self.bind_pull(now, session, &mid, &pull);
        }
        self.drop_stopped(now, session, &answer);
        Ok(answer)
    }

    /// An offer of the node's carrying the session's queued changes (pulls
    /// whose tracks appeared since they waited, sections to stop); `None`
    /// when there is nothing to offer.
    pub fn create_offer(
        &mut self,
        _now: Instant,
        session: SessionId,
    ) -> Result<Option<SessionDescription>, Error> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        let ready: Vec<WaitingPull> = std::mem::take(&mut s.waiting);
        let mut added = false;
        for w in ready {
            let pull = PullTrack::new(w.publisher, w.name.clone()).with_layer(w.layer.clone());
            match self.offer_section(session, &pull) {
                Ok(TrackState::Active) => added = true,
                Ok(_) => {}
                Err(_) => {}
            }
        }
        let pending = self
            .sessions
            .get(&session)
            .and_then(Session::client)
            .is_some_and(|c| c.stops_pending);
        if added || pending {
            Ok(Some(self.offer(session)?))
        } else {
            Ok(None)
        }
    }

    /// Closes tracks of `session` by mid: tracks it publishes end for their
    /// subscribers, pulls stop. With the client's `offer` (in which it
    /// stopped those sections) the node answers; otherwise, unless `force`,
    /// the node offers the sections stopped; with `force` no SDP is
    /// exchanged and the sections stay negotiated but idle.
    pub fn close_tracks(
        &mut self,
        now: Instant,
        session: SessionId,
        mids: &[String],
        offer: Option<&str>,
        force: bool,
    ) -> Result<Negotiated, Error> {
        let r = self.close_tracks_now(now, session, mids, offer, force);
        self.pump(now);
        r
    }

    pub(super) fn close_tracks_now(
        &mut self,
        now: Instant,
        session: SessionId,
        mids: &[String],
        offer: Option<&str>,
        force: bool,
    ) -> Result<Negotiated, Error> {
        check_count(mids.len())?;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        let mut outcomes = Vec::with_capacity(mids.len());
        let mut to_stop = Vec::new();
        for mid in mids {
            let (name, result) =
                if let Some(i) = s.published.iter().position(|p| p.mid.as_ref() == Some(mid)) {
                    let p = s.published.remove(i);
                    let r = self.router.close_track(now, session, &p.name);
                    (p.name, r.map(|()| TrackState::Closed).map_err(Error::from))
                } else if let Some(sender) = s.sender_by_mid(mid) {
                    // The section stays until an exchange stops it (or,
                    // forced, stays negotiated and idle for a later pull).
                    let pull = sender.pull.take();
                    let name = pull.as_ref().map(|p| p.name.clone());
                    if let Some(pull) = pull {
                        let _ = self.router.close_subscription(pull.subscription);
                    }
                    (name.unwrap_or_default(), Ok(TrackState::Closed))
                } else {
                    (String::new(), Err(Error::UnknownMid(mid.clone())))
                };
            if result.is_ok() {
                to_stop.push(mid.clone());
            }
            outcomes.push(TrackOutcome {
                name,
                session,
                mid: Some(mid.clone()),
                result,
            });
        }
        let description = if let Some(offer) = offer {
            let (answered, _) = self.answer_client_offer(now, session, offer, &[])?;
            Some(answer_of(&answered))
        } else if force || to_stop.is_empty() {
            None
        } else {
            let c = self
                .sessions
                .get_mut(&session)
                .and_then(Session::client_mut)
                .ok_or(Error::NotAClient)?;
            for mid in &to_stop {
                if c.negotiation.stop(mid).is_ok() {
                    c.stops_pending = true;
                }
            }
            if c.stops_pending {
                Some(self.offer(session)?)
            } else {
                None
            }
        };
        Ok(Negotiated {
            description,
            tracks: outcomes,
        })
    }

    /// Ends a session: DTLS close_notify to a connected client, every
    /// track it published ends for its subscribers.
    pub fn close_session(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        let r = self.close_session_now(now, session);
        self.pump(now);
        r
    }

    fn close_session_now(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        if !self.sessions.contains_key(&session) {
            return Err(Error::UnknownSession);
        }
        self.remove(now, session, CloseReason::Local);
        Ok(())
    }

    /// Ends every session (the driver's shutdown).
    pub fn close_all(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.remove(now, id, CloseReason::Local);
        }
        self.pump(now);
    }

    /// Sets the preferred simulcast layer (RID; `None`: the highest) of
    /// what `session` receives on `mid`, or on every section when `mid` is
    /// `None`. The switch happens at the next keyframe of that layer.
    pub fn set_layer(
        &mut self,
        session: SessionId,
        mid: Option<&str>,
        rid: Option<String>,
    ) -> Result<(), Error> {
        check_rid(rid.as_deref())?;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        let mut found = false;
        for sender in s
            .senders
            .iter_mut()
            .filter(|x| mid.is_none() || x.mid.as_deref() == mid)
        {
            found = true;
            sender.layer.clone_from(&rid);
            if let Some(pull) = &sender.pull {
                let hint = rid.clone().map_or(Hint::PreferHighest, Hint::PreferRid);
                self.router.hint(pull.subscription, hint)?;
            }
        }
        match (found, mid) {
            (false, Some(mid)) => Err(Error::UnknownMid(mid.to_owned())),
            _ => Ok(()),
        }
    }
}
