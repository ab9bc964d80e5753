//! One session's offer/answer history, whoever offers: the client offers
//! (first or later: it publishes more, or receives on sections of its own)
//! and the SFU answers; or the SFU offers (it adds m-sections to deliver
//! pulled tracks, stops them when tracks end) and checks the client's
//! answers.
//!
//! JSEP/RFC 8843 rules kept here: mids of live sections never change and
//! sections are never reordered; new sections are appended (or recycle a
//! section whose stop was already negotiated, with a fresh mid); a stopped
//! section is offered with port 0 and left out of the BUNDLE group; payload
//! types and header-extension ids mean the same thing in every bundled
//! section.

use super::answer::{OutgoingTrack, RemoteTransport, check_transport, rejected_section};
use super::answer::{
    PublishOffer, ViewerOffer, answer_description, parse_offer, receive_section, send_section,
};
use super::capabilities::{Capabilities, LocalTransport};
use super::error::{SdpError, quote};
use super::limits::MAX_MEDIA_SECTIONS;
use super::model::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Carrying media (or inactive but negotiated).
    Live,
    /// To be offered with port 0.
    Stopping,
    /// Stopped in a completed exchange: may be recycled.
    Stopped,
}

#[derive(Debug, Clone)]
struct Slot {
    /// Our side of the section, as we write it in offers.
    section: MediaSection,
    state: SlotState,
}

/// The SFU's side of one session's offer/answer history, when the SFU is
/// the offerer (renegotiation after a publish, or a session created to
/// pull tracks).
///
/// Shape: change the media with [`add_track`](Self::add_track) and
/// [`stop`](Self::stop), call [`create_offer`](Self::create_offer), send it,
/// then feed the client's answer to [`apply_answer`](Self::apply_answer)
/// (or [`rollback`](Self::rollback) if the client never answers). Media
/// changes are refused while an offer is in flight, so the answer always
/// describes exactly the sections of the offer.
#[derive(Debug, Clone)]
pub struct Negotiation {
    local: LocalTransport,
    caps: Capabilities,
    version: u64,
    extmap_allow_mixed: bool,
    slots: Vec<Slot>,
    offered: Option<Description>,
    remote: Option<RemoteTransport>,
    /// The BUNDLE-tagged mid of the last completed exchange: it stays
    /// first in the group while it lives, so the bundle transport never
    /// moves to a new section (RFC 8843 §7.2).
    tag: Option<String>,
    next_mid: u64,
    /// Our offers say `a=ice-lite` (we answer checks only). Not toward a
    /// third party, where our full agent checks.
    ice_lite: bool,
    /// A session we offered toward a third party: its answer may make us
    /// the DTLS client (`a=setup:passive`).
    third_party: bool,
}

/// What the SFU does with a new m-section of a client's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionPlan {
    /// The client publishes on it: answer `recvonly` (see [`PublishOffer::answer`]).
    Receive,
    /// The SFU sends this track on it: answer `sendonly` (see [`ViewerOffer::answer`]).
    Send(OutgoingTrack),
    /// Refuse it (port 0).
    Reject,
}

/// A client offer the SFU answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsweredOffer {
    /// The client's offer, as parsed.
    pub offer: Description,
    /// The SFU's answer.
    pub answer: Description,
    /// Mids of the sections this offer added (new to the session, not
    /// rejected), in order.
    pub added: Vec<String>,
    /// Mids of live sections this offer stopped (port 0).
    pub stopped: Vec<String>,
}

mod client_offer;
mod third_party;

const DYNAMIC_PTS: [std::ops::RangeInclusive<u8>; 2] = [96..=127, 35..=63];

impl Negotiation {
    /// A session with no media yet: its first offer uses `a=setup:actpass`
    /// (RFC 8842) and its answer must choose `active`.
    pub fn new(local: LocalTransport, caps: Capabilities) -> Self {
        Negotiation {
            local,
            caps,
            version: 1,
            extmap_allow_mixed: true,
            slots: Vec::new(),
            offered: None,
            remote: None,
            tag: None,
            next_mid: 0,
            ice_lite: true,
            third_party: false,
        }
    }

    /// Continues a session established by a client's publish offer and our
    /// answer to it: the client's sections are kept with their mids, codecs
    /// and extension ids.
    pub fn from_publish(
        offer: &PublishOffer,
        answer: &Description,
        local: LocalTransport,
        caps: Capabilities,
    ) -> Self {
        Self::from_answered(offer.description(), offer.remote(), answer, local, caps)
    }

    /// Continues a session established by a viewer's offer and our answer.
    pub fn from_viewer(
        offer: &ViewerOffer,
        answer: &Description,
        local: LocalTransport,
        caps: Capabilities,
    ) -> Self {
        Self::from_answered(offer.description(), offer.remote(), answer, local, caps)
    }

    fn from_answered(
        offer: &Description,
        remote: &RemoteTransport,
        answer: &Description,
        local: LocalTransport,
        caps: Capabilities,
    ) -> Self {
        let slots = slots_of(answer);
        // New mids must not collide with any the client chose.
        let next_mid = first_free_mid(offer);
        Negotiation {
            local,
            caps,
            version: answer.session_version,
            extmap_allow_mixed: answer.extmap_allow_mixed,
            slots,
            offered: None,
            remote: Some(remote.clone()),
            tag: answer.bundle.first().cloned(),
            next_mid,
            ice_lite: true,
            third_party: false,
        }
    }

    /// The live sections (not stopped), in order, as last offered.
    pub fn sections(&self) -> impl Iterator<Item = &MediaSection> {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Live)
            .map(|s| &s.section)
    }

    /// The client's transport (ICE credentials, fingerprint to enforce),
    /// once an exchange has completed.
    pub fn remote(&self) -> Option<&RemoteTransport> {
        self.remote.as_ref()
    }

    /// Whether an offer is waiting for its answer.
    pub fn offer_in_flight(&self) -> bool {
        self.offered.is_some()
    }

    fn not_in_flight(&self) -> Result<(), SdpError> {
        if self.offered.is_some() {
            return Err(SdpError::NegotiationState {
                reason: "an offer is in flight: apply its answer or roll back first",
            });
        }
        Ok(())
    }

    fn live_codecs(&self) -> impl Iterator<Item = &PayloadFormat> {
        self.sections().flat_map(|s| s.codecs.iter())
    }

    /// The payload type for `codec` in this bundle: the one already used for
    /// the same format, else `preferred` if free, else a free dynamic one.
    fn payload_type(&self, codec: &PayloadFormat, preferred: u8) -> Result<u8, SdpError> {
        self.payload_type_among(codec, preferred, &[])
    }

    /// The payload type for `codec` in this bundle, also avoiding those of
    /// `pending` (codecs of the section being built).
    fn payload_type_among(
        &self,
        codec: &PayloadFormat,
        preferred: u8,
        pending: &[PayloadFormat],
    ) -> Result<u8, SdpError> {
        if let Some(existing) = self
            .live_codecs()
            .chain(pending)
            .find(|c| c.same_format(codec))
        {
            return Ok(existing.pt);
        }
        let used = |pt: u8| self.live_codecs().chain(pending).any(|c| c.pt == pt);
        if !used(preferred) {
            return Ok(preferred);
        }
        DYNAMIC_PTS
            .into_iter()
            .flatten()
            .find(|pt| !used(*pt))
            .ok_or(SdpError::TooMany {
                what: "payload types in the bundle",
                limit: 64,
            })
    }

    fn extension_ids(&self, kind: MediaKind) -> Vec<HeaderExtension> {
        self.extension_ids_of(kind, &self.caps.send_extensions)
    }

    /// Ids for `uris` on a section of `kind`, the bundle's where it has
    /// one, else the lowest free.
    fn extension_ids_of(&self, kind: MediaKind, uris: &[ExtensionUri]) -> Vec<HeaderExtension> {
        let mut out: Vec<HeaderExtension> = Vec::new();
        for uri in uris {
            let video_only = matches!(uri, ExtensionUri::Rid | ExtensionUri::RepairedRid);
            if (kind == MediaKind::Video && *uri == ExtensionUri::AudioLevel)
                || (kind != MediaKind::Video && video_only)
            {
                continue;
            }
            let existing = self
                .sections()
                .flat_map(|s| s.extensions.iter())
                .find(|e| &e.uri == uri)
                .map(|e| e.id);
            let taken = |id: u8| {
                out.iter().any(|e| e.id == id)
                    || self
                        .sections()
                        .flat_map(|s| s.extensions.iter())
                        .any(|e| e.id == id)
            };
            if let Some(id) = existing.or_else(|| (1..=14).find(|id| !taken(*id))) {
                out.push(HeaderExtension {
                    id,
                    uri: uri.clone(),
                });
            }
        }
        out
    }

    fn fresh_mid(&mut self) -> String {
        loop {
            let mid = self.next_mid.to_string();
            self.next_mid = self.next_mid.saturating_add(1);
            if !self.slots.iter().any(|s| s.section.mid == mid) {
                return mid;
            }
        }
    }

    /// Adds a `sendonly` section that delivers `track`, and returns its mid.
    /// The section uses the bundle's payload type for the track's codec
    /// (read it back from [`sections`](Self::sections)) and takes effect
    /// with the next offer.
    pub fn add_track(&mut self, track: &OutgoingTrack) -> Result<String, SdpError> {
        self.not_in_flight()?;
        track.check()?;
        let recycle = self
            .slots
            .iter()
            .position(|s| s.state == SlotState::Stopped);
        if recycle.is_none() && self.slots.len() >= MAX_MEDIA_SECTIONS {
            return Err(SdpError::TooMany {
                what: "m-sections",
                limit: MAX_MEDIA_SECTIONS,
            });
        }
        let kind = track.kind;
        let pt = self.payload_type(&track.codec, track.codec.pt)?;
        let codec = PayloadFormat {
            pt,
            rtcp_fb: self.caps.feedback(kind).to_vec(),
            ..track.codec.clone()
        };
        let rtx = if self.caps.rtx && kind == MediaKind::Video && track.rtx_ssrc.is_some() {
            let template = PayloadFormat {
                pt: 0,
                name: CodecName::Rtx,
                clock_rate: codec.clock_rate,
                channels: None,
                fmtp: Some(format!("apt={pt}")),
                rtcp_fb: Vec::new(),
            };
            let preferred = pt.wrapping_add(1);
            let rtx_pt = self.payload_type(&template, preferred)?;
            Some(PayloadFormat {
                pt: rtx_pt,
                ..template
            })
        } else {
            None
        };
        let mid = self.fresh_mid();
        let mut section = MediaSection {
            mid: mid.clone(),
            kind,
            port: 9,
            proto: "UDP/TLS/RTP/SAVPF".to_owned(),
            direction: Direction::SendOnly,
            codecs: Vec::new(),
            extensions: self.extension_ids(kind),
            msid: None,
            ssrcs: Vec::new(),
            rtx_pairs: Vec::new(),
            rids: Vec::new(),
            simulcast: None,
            rtcp_mux: true,
            rtcp_rsize: true,
            candidates: self.local.host_candidates(),
            end_of_candidates: true,
        };
        track.fill(&mut section, codec, rtx);
        let slot = Slot {
            section,
            state: SlotState::Live,
        };
        match recycle.and_then(|i| self.slots.get_mut(i)) {
            Some(stopped) => *stopped = slot,
            None => self.slots.push(slot),
        }
        Ok(mid)
    }

    /// Stops the live section `mid` (a track ended): the next offer carries
    /// it with port 0. Its mid is never reused.
    pub fn stop(&mut self, mid: &str) -> Result<(), SdpError> {
        self.not_in_flight()?;
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.section.mid == mid && s.state == SlotState::Live)
            .ok_or_else(|| SdpError::UnknownMid { mid: quote(mid) })?;
        slot.state = SlotState::Stopping;
        Ok(())
    }

    /// The next offer. Live sections keep their order and mids; stopped
    /// ones are written with port 0 outside the BUNDLE group.
    pub fn create_offer(&mut self) -> Result<Description, SdpError> {
        self.not_in_flight()?;
        let sections: Vec<MediaSection> = self
            .slots
            .iter()
            .map(|slot| match slot.state {
                SlotState::Live => slot.section.clone(),
                SlotState::Stopping | SlotState::Stopped => rejected_section(&slot.section),
            })
            .collect();
        let mut bundle: Vec<String> = self.sections().map(|s| s.mid.clone()).collect();
        if let Some(head) = self
            .tag
            .as_ref()
            .and_then(|t| bundle.iter().position(|m| m == t))
            .and_then(|at| bundle.get_mut(..=at))
        {
            head.rotate_right(1);
        }
        if bundle.is_empty() {
            return Err(SdpError::NothingToNegotiate);
        }
        self.version = self.version.saturating_add(1);
        let offer = Description {
            session_id: self.local.session_id,
            session_version: self.version,
            ice_lite: self.ice_lite,
            extmap_allow_mixed: self.extmap_allow_mixed,
            bundle,
            ice: Some(self.local.ice.clone()),
            fingerprint: Some(self.local.fingerprint),
            // RFC 8842 §5.2: an offer is actpass; a client's answer must
            // say active (the SFU serves DTLS), a third party's may say
            // passive (the SFU is then the DTLS client).
            setup: Some(Setup::ActPass),
            sections,
        };
        self.offered = Some(offer.clone());
        Ok(offer)
    }

    /// Forgets the offer in flight (the client never answered, or refused
    /// it). Nothing it proposed took effect; tracks added and stopped
    /// before it stay queued for the next offer.
    pub fn rollback(&mut self) {
        self.offered = None;
    }

    /// Checks the client's answer against the offer in flight and, if it
    /// fits, makes it the current state. On error nothing changes and the
    /// offer stays in flight.
    pub fn apply_answer(&mut self, text: &str) -> Result<Description, SdpError> {
        let offer = self.offered.as_ref().ok_or(SdpError::NegotiationState {
            reason: "no offer in flight",
        })?;
        let answer = Description::parse(text)?;
        let remote = check_transport(&answer)?;
        match remote.setup {
            Setup::Active => {}
            Setup::Passive if self.third_party => {}
            Setup::Passive => return Err(SdpError::UnsupportedSetup { setup: "passive" }),
            Setup::ActPass => return Err(mismatch("a=setup:actpass is not valid in an answer")),
        }
        self.check_same_transport(&remote)?;
        if answer.sections.len() != offer.sections.len() {
            return Err(mismatch(&format!(
                "{} m-sections, the offer had {}",
                answer.sections.len(),
                offer.sections.len()
            )));
        }
        let mut slots = self.slots.clone();
        for ((slot, ours), theirs) in slots.iter_mut().zip(&offer.sections).zip(&answer.sections) {
            if ours.mid != theirs.mid {
                return Err(mismatch(&format!(
                    "m-section has mid {:?}, the offer had {:?}",
                    quote(&theirs.mid),
                    ours.mid
                )));
            }
            if ours.is_rejected() {
                if !theirs.is_rejected() {
                    return Err(mismatch(&format!("m-section {:?} was stopped", ours.mid)));
                }
                slot.state = SlotState::Stopped;
                continue;
            }
            if theirs.is_rejected() {
                slot.state = SlotState::Stopped;
                continue;
            }
            slot.section = agreed_section(ours, theirs)?;
        }
        self.slots = slots;
        self.remote = Some(remote);
        self.tag = answer.bundle.first().cloned();
        self.offered = None;
        Ok(answer)
    }
}

/// The session's sections as an answer left them.
fn slots_of(answer: &Description) -> Vec<Slot> {
    answer
        .sections
        .iter()
        .map(|s| Slot {
            section: s.clone(),
            state: if s.is_rejected() {
                SlotState::Stopped
            } else {
                SlotState::Live
            },
        })
        .collect()
}

/// The first numeric mid above every numeric mid of `offer`.
fn first_free_mid(offer: &Description) -> u64 {
    offer
        .sections
        .iter()
        .filter_map(|s| s.mid.parse::<u64>().ok())
        .max()
        .map_or(0, |m| m.saturating_add(1))
}

fn mismatch(reason: &str) -> SdpError {
    SdpError::AnswerMismatch {
        reason: reason.to_owned(),
    }
}

/// Our section narrowed to what the answer accepted.
fn agreed_section(ours: &MediaSection, theirs: &MediaSection) -> Result<MediaSection, SdpError> {
    if theirs.kind != ours.kind {
        return Err(mismatch(&format!(
            "m-section {:?} changed media type",
            ours.mid
        )));
    }
    if (theirs.direction.sends() && !ours.direction.receives())
        || (theirs.direction.receives() && !ours.direction.sends())
    {
        return Err(mismatch(&format!(
            "m-section {:?} answered {} to {}",
            ours.mid,
            theirs.direction.as_str(),
            ours.direction.as_str()
        )));
    }
    let mut codecs = Vec::new();
    for answered in &theirs.codecs {
        let offered = ours
            .codec(answered.pt)
            .filter(|c| c.same_format(answered))
            .ok_or_else(|| {
                mismatch(&format!(
                    "m-section {:?} answers payload type {} that was not offered",
                    ours.mid, answered.pt
                ))
            })?;
        codecs.push(offered.clone());
    }
    if !codecs.iter().any(|c| c.name != CodecName::Rtx) {
        return Err(SdpError::NoCommonCodec {
            mid: ours.mid.clone(),
            kind: ours.kind,
        });
    }
    for ext in &theirs.extensions {
        if !ours.extensions.contains(ext) {
            return Err(mismatch(&format!(
                "m-section {:?} answers extension id {} that was not offered",
                ours.mid, ext.id
            )));
        }
    }
    let mut agreed = ours.clone();
    if !codecs.iter().any(|c| c.name == CodecName::Rtx) {
        let dropped: Vec<u32> = agreed.rtx_pairs.drain(..).map(|p| p.rtx).collect();
        agreed.ssrcs.retain(|s| !dropped.contains(&s.ssrc));
    }
    agreed.codecs = codecs;
    agreed.extensions = theirs.extensions.clone();
    Ok(agreed)
}
