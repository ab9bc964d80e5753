//! The node's commands: sessions, pushing and pulling tracks with the SDP
//! exchanges they need, closing tracks and sessions, layer preferences.

use std::collections::HashMap;
use std::time::Instant;

use sfu_core::{Fallback, Hint, PullConfig, SessionId, Simulcast};

use crate::sdp::{
    self, AnsweredOffer, Description, LocalTransport, MediaKind, MediaSection, Msid, Negotiation,
    OutgoingTrack, SectionPlan, published_tracks,
};
use crate::{CloseReason, Error, IceCredentials, TransportConfig};

use super::event::{
    Negotiated, PullTrack, PushTrack, SdpType, SessionDescription, TrackOutcome, TrackState,
};
use super::session::{Client, Link, OfferedSender, Published, Pull, Sender, Session, WaitingPull};
use super::translate::{codec_config, extension_map, track_config};
use super::Node;

/// At most this many tracks in one command (Calls allows 64 per request).
pub const MAX_TRACKS_PER_COMMAND: usize = 64;

/// Which pull a new receiving section of a client's offer delivers.
struct Planned {
    plan: SectionPlan,
    pull: Option<usize>,
}

impl Node {
    /// Creates a session with no transport yet: its first offer/answer
    /// exchange (a client offer given to [`Node::push_tracks`] or
    /// [`Node::pull_tracks`], or the node's own offer from
    /// [`Node::pull_tracks`]) brings it up. A session that never completes
    /// an exchange is closed after [`NodeConfig::negotiation_timeout`](super::NodeConfig::negotiation_timeout).
    pub fn create_session(&mut self, now: Instant) -> Result<SessionId, Error> {
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
        let client = Client {
            credentials,
            negotiation: Negotiation::new(local, self.caps.clone()),
            transport: false,
            connected: false,
            offered: Vec::new(),
            stops_pending: false,
        };
        self.sessions.insert(
            session,
            Session::new(Link::Client(Box::new(client)), now),
        );
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
        if tracks.len() > MAX_TRACKS_PER_COMMAND {
            return Err(Error::TooManyTracks(MAX_TRACKS_PER_COMMAND));
        }
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
            description: Some(SessionDescription {
                kind: SdpType::Answer,
                sdp: answered.answer.to_sdp(),
            }),
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
    /// and raises [`NodeEvent::NegotiationNeeded`] when it is.
    pub fn pull_tracks(
        &mut self,
        now: Instant,
        session: SessionId,
        pulls: &[PullTrack],
        offer: Option<&str>,
    ) -> Result<Negotiated, Error> {
        if pulls.len() > MAX_TRACKS_PER_COMMAND {
            return Err(Error::TooManyTracks(MAX_TRACKS_PER_COMMAND));
        }
        let (description, mids) = match offer {
            Some(offer) => {
                let (answered, mids) = self.answer_client_offer(now, session, offer, pulls)?;
                let description = SessionDescription {
                    kind: SdpType::Answer,
                    sdp: answered.answer.to_sdp(),
                };
                (Some(description), mids)
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
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let c = s.client_mut().ok_or(Error::NotAClient)?;
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
            let Some((codecs, format)) = negotiated_codecs(section) else {
                continue;
            };
            if !section.codecs.iter().any(|c| c.name == sdp::CodecName::Rtx) {
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
        Ok(())
    }

    /// An offer of the node's carrying the session's queued changes (pulls
    /// whose tracks appeared since they waited, sections to stop); `None`
    /// when there is nothing to offer.
    pub fn create_offer(
        &mut self,
        _now: Instant,
        session: SessionId,
    ) -> Result<Option<SessionDescription>, Error> {
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
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
        if mids.len() > MAX_TRACKS_PER_COMMAND {
            return Err(Error::TooManyTracks(MAX_TRACKS_PER_COMMAND));
        }
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let mut outcomes = Vec::with_capacity(mids.len());
        let mut to_stop = Vec::new();
        for mid in mids {
            let (name, result) = if let Some(i) =
                s.published.iter().position(|p| p.mid.as_ref() == Some(mid))
            {
                let p = s.published.remove(i);
                let r = self.router.close_track(now, session, &p.name);
                (p.name, r.map(|()| TrackState::Closed).map_err(Error::from))
            } else if let Some(i) = s.senders.iter().position(|x| x.mid.as_ref() == Some(mid)) {
                let sender = s.senders.remove(i);
                let name = sender.pull.as_ref().map(|p| p.name.clone());
                if let Some(pull) = sender.pull {
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
            Some(SessionDescription {
                kind: SdpType::Answer,
                sdp: answered.answer.to_sdp(),
            })
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
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
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

    /// Publishes one negotiated section as the router track `name`.
    fn publish_section(
        &mut self,
        now: Instant,
        session: SessionId,
        name: &str,
        track: &sdp::PublishedTrack,
    ) -> Result<TrackState, Error> {
        let config = track_config(name, track).ok_or(Error::UnknownMid(track.mid.clone()))?;
        let layers = config.layers.len();
        self.router.publish_track(now, session, config)?;
        for ssrc in track.ssrc.into_iter().chain(track.rtx_ssrc) {
            let _ = self.endpoint.allow_remote_ssrc(session, ssrc);
        }
        if let Some(s) = self.sessions.get_mut(&session) {
            s.published.push(Published {
                name: name.to_owned(),
                mid: Some(track.mid.clone()),
                kind: track.kind,
                format: track.codec.clone(),
                rtx_pt: track.rtx_pt,
                layers,
            });
        }
        Ok(TrackState::Active)
    }

    /// Starts the pull `pull` into `session`'s idle section `mid`.
    pub(super) fn bind_pull(
        &mut self,
        now: Instant,
        session: SessionId,
        mid: &str,
        pull: &PullTrack,
    ) -> Result<TrackState, Error> {
        let track = self.track(pull.publisher, &pull.name)?;
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let connected = s.client().is_some_and(|c| c.connected);
        let sender = s
            .sender_by_mid(mid)
            .ok_or_else(|| Error::UnknownMid(mid.to_owned()))?;
        if sender.pull.is_some() {
            return Err(Error::SectionBusy(mid.to_owned()));
        }
        if let Some(t) = &track {
            if t.kind != sender.kind {
                return Err(Error::KindMismatch(mid.to_owned()));
            }
            if !t.format.same_format(&sender.format) {
                return Err(Error::FormatMismatch(mid.to_owned()));
            }
        }
        if pull.layer.is_some() {
            sender.layer.clone_from(&pull.layer);
        }
        let mut config = PullConfig::new(sender.ssrc, sender.codecs.clone()).with_mid(mid);
        if let Some(rtx) = sender.rtx_ssrc {
            config = config.with_rtx(rtx);
        }
        if track.as_ref().is_none_or(|t| t.layers > 1) {
            config = config.with_policy(Simulcast::new(sender.layer.clone(), Fallback::Auto));
        }
        if let Some(point) = sender.resume {
            config = config.resume(point);
        }
        let subscription =
            self.router
                .pull_track(now, session, pull.publisher, &pull.name, config)?;
        if let Some(sender) = self
            .sessions
            .get_mut(&session)
            .and_then(|s| s.sender_by_mid(mid))
        {
            sender.pull = Some(Pull {
                publisher: pull.publisher,
                name: pull.name.clone(),
                subscription,
            });
        }
        if connected {
            let _ = self.router.request_keyframe(now, subscription);
        }
        Ok(if track.is_some() {
            TrackState::Active
        } else {
            TrackState::Waiting
        })
    }

    /// `(publisher, name)` as published, `None` if not (yet); an error if
    /// the publisher does not exist.
    pub(super) fn track(&self, publisher: SessionId, name: &str) -> Result<Option<Published>, Error> {
        let p = self.sessions.get(&publisher).ok_or(Error::UnknownSession)?;
        Ok(p.published.iter().find(|t| t.name == name).cloned())
    }

    /// Adds a section for `pull` to the session's next offer, or queues
    /// the pull until its track is published.
    fn offer_section(&mut self, session: SessionId, pull: &PullTrack) -> Result<TrackState, Error> {
        let Some(track) = self.track(pull.publisher, &pull.name)? else {
            let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
            s.waiting.push(WaitingPull {
                publisher: pull.publisher,
                name: pull.name.clone(),
                layer: pull.layer.clone(),
            });
            self.waiting
                .entry((pull.publisher, pull.name.clone()))
                .or_default()
                .push(session);
            return Ok(TrackState::Waiting);
        };
        let ssrc = self.fresh_ssrc();
        let rtx_ssrc = (track.kind == MediaKind::Video).then(|| self.fresh_ssrc());
        let outgoing = outgoing_track(stream_id(pull.publisher), &track, ssrc, rtx_ssrc);
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let c = s.client_mut().ok_or(Error::NotAClient)?;
        let mid = c.negotiation.add_track(&outgoing)?;
        c.offered.push(OfferedSender {
            sender: Sender {
                mid: Some(mid),
                relay_name: None,
                kind: track.kind,
                ssrc,
                rtx_ssrc,
                codecs: Vec::new(),
                format: track.format.clone(),
                pull: None,
                resume: None,
                layer: pull.layer.clone(),
            },
            publisher: pull.publisher,
            name: pull.name.clone(),
        });
        Ok(TrackState::Active)
    }

    /// The node's offer for the session's current sections.
    fn offer(&mut self, session: SessionId) -> Result<SessionDescription, Error> {
        let c = self
            .sessions
            .get_mut(&session)
            .and_then(Session::client_mut)
            .ok_or(Error::NotAClient)?;
        let offer = c.negotiation.create_offer()?;
        Ok(SessionDescription {
            kind: SdpType::Offer,
            sdp: offer.to_sdp(),
        })
    }

    /// Answers a client offer on `session`, delivering `pulls` into its new
    /// receiving sections (see [`Node::pull_tracks`]); brings the transport
    /// up on the first exchange and drops the sections the offer stopped.
    fn answer_client_offer(
        &mut self,
        now: Instant,
        session: SessionId,
        offer: &str,
        pulls: &[PullTrack],
    ) -> Result<(AnsweredOffer, Vec<Option<String>>), Error> {
        // Plans are made from a first parse, so the negotiation (borrowed
        // mutably below) need not look back at the session table.
        let parsed = Description::parse(offer)?;
        let plans = self.plan_sections(&parsed, pulls);
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let c = s.client_mut().ok_or(Error::NotAClient)?;
        let answered = c.negotiation.answer_offer(offer, |section| {
            plans
                .get(&section.mid)
                .map_or(SectionPlan::Reject, |p| p.plan.clone())
        })?;
        self.ensure_transport(now, session, &answered.answer, &answered.offer.sections)?;
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        for mid in &answered.added {
            let (Some(planned), Some(section)) = (plans.get(mid), answered.answer.section(mid))
            else {
                continue;
            };
            let SectionPlan::Send(track) = &planned.plan else {
                continue;
            };
            let Some((codecs, format)) = negotiated_codecs(section) else {
                continue;
            };
            let has_rtx = section.codecs.iter().any(|c| c.name == sdp::CodecName::Rtx);
            s.senders.push(Sender {
                mid: Some(mid.clone()),
                relay_name: None,
                kind: track.kind,
                ssrc: track.ssrc,
                rtx_ssrc: track.rtx_ssrc.filter(|_| has_rtx),
                codecs,
                format,
                pull: None,
                resume: None,
                layer: planned
                    .pull
                    .and_then(|i| pulls.get(i))
                    .and_then(|p| p.layer.clone()),
            });
        }
        self.drop_stopped(now, session, &answered.answer);
        let mut mids: Vec<Option<String>> = pulls.iter().map(|p| p.mid.clone()).collect();
        for (mid, planned) in &plans {
            if let (Some(i), true) = (planned.pull, answered.added.contains(mid))
                && let Some(slot) = mids.get_mut(i)
            {
                *slot = Some(mid.clone());
            }
        }
        Ok((answered, mids))
    }

    /// What to do with each receiving section of `offer` the session does
    /// not know yet, and which pull it delivers.
    fn plan_sections(&mut self, offer: &Description, pulls: &[PullTrack]) -> HashMap<String, Planned> {
        let mut plans = HashMap::new();
        let mut unassigned: Vec<usize> = (0..pulls.len())
            .filter(|&i| pulls.get(i).is_some_and(|p| p.mid.is_none()))
            .collect();
        for section in &offer.sections {
            if section.is_rejected() || !matches!(section.kind, MediaKind::Audio | MediaKind::Video)
            {
                continue;
            }
            if section.direction.sends() || !section.direction.receives() {
                plans.insert(
                    section.mid.clone(),
                    Planned {
                        plan: SectionPlan::Receive,
                        pull: None,
                    },
                );
                continue;
            }
            let named = pulls
                .iter()
                .position(|p| p.mid.as_deref() == Some(section.mid.as_str()));
            let pull = named.or_else(|| {
                let at = unassigned.iter().position(|&i| {
                    pulls.get(i).is_some_and(|p| {
                        self.track(p.publisher, &p.name)
                            .ok()
                            .flatten()
                            .is_some_and(|t| t.kind == section.kind)
                    })
                })?;
                Some(unassigned.remove(at))
            });
            let published = pull
                .and_then(|i| pulls.get(i))
                .and_then(|p| self.track(p.publisher, &p.name).ok().flatten());
            let format = published
                .as_ref()
                .map(|t| t.format.clone())
                .filter(|f| section.media_codecs().any(|c| c.same_format(f)))
                .or_else(|| self.caps.pick(section).cloned());
            let Some(format) = format else {
                continue;
            };
            let stream = pull
                .and_then(|i| pulls.get(i))
                .map_or_else(|| "sfu".to_owned(), |p| stream_id(p.publisher));
            let ssrc = self.fresh_ssrc();
            let rtx_ssrc = (section.kind == MediaKind::Video).then(|| self.fresh_ssrc());
            let placeholder = Published {
                name: section.mid.clone(),
                mid: None,
                kind: section.kind,
                format,
                rtx_pt: None,
                layers: 1,
            };
            let track = published.unwrap_or(placeholder);
            plans.insert(
                section.mid.clone(),
                Planned {
                    plan: SectionPlan::Send(outgoing_track(stream, &track, ssrc, rtx_ssrc)),
                    pull,
                },
            );
        }
        plans
    }

    /// Adds the endpoint transport on the session's first exchange; on
    /// later ones, keeps the router's extension ids in step.
    fn ensure_transport(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &Description,
        offered: &[MediaSection],
    ) -> Result<(), Error> {
        let s = self.sessions.get_mut(&session).ok_or(Error::UnknownSession)?;
        let c = s.client_mut().ok_or(Error::NotAClient)?;
        let mut config = sfu_core::SessionConfig::default();
        config.extensions = extension_map(answer);
        self.router.update_session(session, config)?;
        if c.transport {
            return Ok(());
        }
        let remote = c
            .negotiation
            .remote()
            .cloned()
            .ok_or(Error::NotNegotiated)?;
        let remote_ssrcs: Vec<u32> = offered
            .iter()
            .flat_map(|s| s.ssrcs.iter().map(|x| x.ssrc))
            .collect();
        self.endpoint.add_session(
            now,
            session,
            TransportConfig {
                credentials: c.credentials.clone(),
                remote_ufrag: Some(remote.ice.ufrag.clone()),
                remote_fingerprint: remote.fingerprint,
                remote_ssrcs,
                // Simulcast layers announced by RID and the RTCP of a
                // receive-only client come from SSRCs no SDP lists.
                learn_remote_ssrcs: true,
            },
        )?;
        c.transport = true;
        Ok(())
    }

    /// Forgets the published tracks and senders of sections `answer` stopped.
    fn drop_stopped(&mut self, now: Instant, session: SessionId, answer: &Description) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let stopped = |mid: &Option<String>| {
            mid.as_ref()
                .and_then(|m| answer.section(m))
                .is_some_and(MediaSection::is_rejected)
        };
        let (gone, kept): (Vec<_>, Vec<_>) = s.published.drain(..).partition(|p| stopped(&p.mid));
        s.published = kept;
        let (ended, senders): (Vec<_>, Vec<_>) = s.senders.drain(..).partition(|x| stopped(&x.mid));
        s.senders = senders;
        for p in gone {
            let _ = self.router.close_track(now, session, &p.name);
        }
        for pull in ended.into_iter().filter_map(|x| x.pull) {
            let _ = self.router.close_subscription(pull.subscription);
        }
    }
}

/// The router's payload types for what a section carries, and its format.
fn negotiated_codecs(
    section: &MediaSection,
) -> Option<(Vec<sfu_core::CodecConfig>, sdp::PayloadFormat)> {
    let codec = section.media_codecs().next()?;
    let rtx_pt = section.rtx_for(codec.pt).map(|c| c.pt);
    Some((vec![codec_config(codec, rtx_pt)], codec.clone()))
}

/// The msid stream (and CNAME) of `publisher`'s tracks: one per publisher,
/// so a client lip-syncs its audio and video.
fn stream_id(publisher: SessionId) -> String {
    format!("s{}", publisher.as_u64())
}

/// The SDP sender for a track on our SSRCs. Names stay plain tokens
/// whatever the track is called: the track id is the SSRC.
fn outgoing_track(
    stream: String,
    track: &Published,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
) -> OutgoingTrack {
    OutgoingTrack {
        kind: track.kind,
        codec: track.format.clone(),
        ssrc,
        rtx_ssrc,
        msid: Msid {
            stream: stream.clone(),
            track: format!("t{ssrc:08x}"),
        },
        cname: stream,
    }
}
