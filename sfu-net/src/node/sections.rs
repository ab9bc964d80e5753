//! Sections: publishing what a client sends, starting pulls into idle
//! sections, adding sections to the node's offers, and answering client
//! offers (plans for their new sections, the transport on the first one).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use sfu_core::{Fallback, PullConfig, SessionId, Simulcast};

use crate::ice::ControllingIce;
use crate::sdp::Setup;
use crate::sdp::{
    self, AnsweredOffer, Description, MediaKind, MediaSection, Msid, OutgoingTrack, SectionPlan,
};
use crate::srtp::DtlsRole;
use crate::{Error, TransportConfig};

use super::event::{PullTrack, TrackState};
use super::session::{OfferedSender, Published, Pull, Sender, Session, WaitingPull};
use super::translate::{codec_config, extension_map, track_config};
use super::{Node, SdpType, SessionDescription};

/// At most this many pulls of one session wait for their tracks.
const MAX_WAITING: usize = 256;

/// Which pull a new receiving section of a client's offer delivers.
struct Planned {
    plan: SectionPlan,
    pull: Option<usize>,
}

impl Node {
    /// Publishes one negotiated section as the router track `name`.
    pub(super) fn publish_section(
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
                published_at: now,
            });
        }
        self.schedule_idle_check(now);
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
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
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
            sender.pulled = Some((pull.publisher, pull.name.clone()));
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
    pub(super) fn track(
        &self,
        publisher: SessionId,
        name: &str,
    ) -> Result<Option<Published>, Error> {
        let p = self.sessions.get(&publisher).ok_or(Error::UnknownSession)?;
        Ok(p.published.iter().find(|t| t.name == name).cloned())
    }

    /// Adds a section for `pull` to the session's next offer, or queues
    /// the pull until its track is published.
    pub(super) fn offer_section(
        &mut self,
        session: SessionId,
        pull: &PullTrack,
    ) -> Result<TrackState, Error> {
        let Some(track) = self.track(pull.publisher, &pull.name)? else {
            let s = self
                .sessions
                .get_mut(&session)
                .ok_or(Error::UnknownSession)?;
            if s.waiting
                .iter()
                .any(|w| w.publisher == pull.publisher && w.name == pull.name)
            {
                return Ok(TrackState::Waiting);
            }
            if s.waiting.len() >= MAX_WAITING {
                return Err(Error::TooManyTracks(MAX_WAITING));
            }
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
        let c = self.client_mut(session)?;
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
                pulled: None,
                resume: None,
                layer: pull.layer.clone(),
            },
            publisher: pull.publisher,
            name: pull.name.clone(),
        });
        Ok(TrackState::Active)
    }

    /// The node's offer for the session's current sections.
    pub(super) fn offer(&mut self, session: SessionId) -> Result<SessionDescription, Error> {
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
    pub(super) fn answer_client_offer(
        &mut self,
        now: Instant,
        session: SessionId,
        offer: &str,
        pulls: &[PullTrack],
    ) -> Result<(AnsweredOffer, Vec<Option<String>>), Error> {
        // Plans are made from a first parse, so the negotiation (borrowed
        // mutably below) need not look back at the session table.
        let parsed = Description::parse(offer)?;
        let known: Vec<String> = self
            .client_mut(session)?
            .negotiation
            .sections()
            .map(|s| s.mid.clone())
            .collect();
        let plans = self.plan_sections(now, &parsed, &known, pulls);
        let c = self.client_mut(session)?;
        let answered = c.negotiation.answer_offer(offer, |section| {
            plans
                .get(&section.mid)
                .map_or(SectionPlan::Reject, |p| p.plan.clone())
        })?;
        self.ensure_transport(now, session, &answered.answer, &answered.offer.sections)?;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession)?;
        for mid in &answered.added {
            let (Some(planned), Some(section)) = (plans.get(mid), answered.answer.section(mid))
            else {
                continue;
            };
            let SectionPlan::Send(track) = &planned.plan else {
                continue;
            };
            let Some((codecs, format, has_rtx)) = negotiated_codecs(section) else {
                continue;
            };
            s.senders.push(Sender {
                mid: Some(mid.clone()),
                relay_name: None,
                kind: track.kind,
                ssrc: track.ssrc,
                rtx_ssrc: track.rtx_ssrc.filter(|_| has_rtx),
                codecs,
                format,
                pull: None,
                pulled: None,
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
    fn plan_sections(
        &mut self,
        now: Instant,
        offer: &Description,
        known: &[String],
        pulls: &[PullTrack],
    ) -> HashMap<String, Planned> {
        let mut plans = HashMap::new();
        let mut unassigned: Vec<usize> = (0..pulls.len())
            .filter(|&i| pulls.get(i).is_some_and(|p| p.mid.is_none()))
            .collect();
        for section in &offer.sections {
            // Sections the session already has keep their answer: no plan,
            // no SSRCs drawn for them.
            if section.is_rejected()
                || !matches!(section.kind, MediaKind::Audio | MediaKind::Video)
                || known.contains(&section.mid)
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
                published_at: now,
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
    pub(super) fn ensure_transport(
        &mut self,
        now: Instant,
        session: SessionId,
        answer: &Description,
        offered: &[MediaSection],
    ) -> Result<(), Error> {
        let config = sfu_core::SessionConfig {
            extensions: extension_map(answer),
            rtcp_ssrc: None,
        };
        self.router.update_session(session, config)?;
        let c = self.client_mut(session)?;
        if c.transport {
            return Ok(());
        }
        let remote = c
            .negotiation
            .remote()
            .cloned()
            .ok_or(Error::NotNegotiated)?;
        let third_party = c.negotiation.is_third_party();
        let transport = TransportConfig {
            credentials: c.credentials.clone(),
            remote_ufrag: Some(remote.ice.ufrag.clone()),
            remote_fingerprint: remote.fingerprint,
            remote_ssrcs: offered
                .iter()
                .flat_map(|s| s.ssrcs.iter().map(|x| x.ssrc))
                .collect(),
            // Simulcast layers announced by RID and the RTCP of a
            // receive-only client come from SSRCs no SDP lists.
            learn_remote_ssrcs: true,
        };
        if third_party {
            // We offered: our full agent checks the answer's candidates,
            // and the answer chose our DTLS role.
            let ice = ControllingIce::new(
                remote.ice.ufrag.clone(),
                remote.ice.pwd.clone(),
                u64::from_be_bytes(self.random_bytes()),
                self.random_bytes(),
            )
            .with_remote_candidates(remote_candidates(answer))
            .with_local_addresses(self.candidates.clone());
            let role = match remote.setup {
                Setup::Passive => DtlsRole::Client,
                Setup::Active | Setup::ActPass => DtlsRole::Server,
            };
            self.endpoint
                .add_controlling_session(now, session, transport, ice, role)?;
        } else {
            self.endpoint.add_session(now, session, transport)?;
        }
        self.client_mut(session)?.transport = true;
        Ok(())
    }

    /// Forgets the published tracks and senders of sections `answer` stopped.
    pub(super) fn drop_stopped(&mut self, now: Instant, session: SessionId, answer: &Description) {
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

/// The router's payload types for what a section carries, its format, and
/// whether RTX was negotiated for it (else no RTX SSRC is used there).
pub(super) fn negotiated_codecs(
    section: &MediaSection,
) -> Option<(Vec<sfu_core::CodecConfig>, sdp::PayloadFormat, bool)> {
    let codec = section.media_codecs().next()?;
    let rtx_pt = section.rtx_for(codec.pt).map(|c| c.pt);
    Some((
        vec![codec_config(codec, rtx_pt)],
        codec.clone(),
        rtx_pt.is_some(),
    ))
}

/// The UDP addresses of an answer's candidates, by priority (highest
/// first), each once; the parser already dropped TCP, mDNS names and
/// lines past its bound, and the agent pairs only the first few.
fn remote_candidates(answer: &Description) -> Vec<SocketAddr> {
    let mut candidates: Vec<&sdp::Candidate> = answer
        .sections
        .iter()
        .filter(|s| !s.is_rejected())
        .flat_map(|s| s.candidates.iter())
        .filter(|c| c.component == 1)
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.priority));
    let mut out: Vec<SocketAddr> = Vec::new();
    for c in candidates {
        if !out.contains(&c.address) {
            out.push(c.address);
        }
    }
    out
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
