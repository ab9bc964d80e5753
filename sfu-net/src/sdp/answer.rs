//! Client offers and the SFU's answers: publish (WHIP) and view (WHEP).

use super::capabilities::{Capabilities, LocalTransport};
use super::error::{SdpError, malformed};
use super::limits::MAX_TOKEN_BYTES;
use super::model::*;

/// The peer's side of the transport, as its description states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTransport {
    /// The peer's ICE credentials (its ufrag is the second half of the
    /// USERNAME in our checks' replies; its pwd is not needed by ICE-lite).
    pub ice: IceParameters,
    /// The fingerprint the peer's DTLS certificate must match.
    pub fingerprint: Fingerprint,
    /// The peer's DTLS role.
    pub setup: Setup,
}

const RTP_PROTO: &str = "UDP/TLS/RTP/SAVPF";

/// The rules every description exchanged with the SFU follows: BUNDLE,
/// rtcp-mux, RTP over DTLS-SRTP, ICE credentials, a sha-256 fingerprint
/// and a DTLS role.
pub(crate) fn check_transport(desc: &Description) -> Result<RemoteTransport, SdpError> {
    if desc.sections.is_empty() {
        return Err(SdpError::NoMediaSections);
    }
    if desc.sections.iter().all(MediaSection::is_rejected) {
        return Err(SdpError::NothingToNegotiate);
    }
    if desc.bundle.is_empty() {
        return Err(SdpError::MissingBundle);
    }
    for mid in &desc.bundle {
        if desc.section(mid).is_none() {
            return Err(SdpError::UnknownBundleMid { mid: mid.clone() });
        }
    }
    for s in desc.sections.iter().filter(|s| !s.is_rejected()) {
        if !desc.bundle.contains(&s.mid) {
            return Err(SdpError::NotBundled { mid: s.mid.clone() });
        }
        if s.kind == MediaKind::Application {
            continue;
        }
        if s.proto != RTP_PROTO {
            return Err(SdpError::UnsupportedTransport {
                mid: s.mid.clone(),
                proto: s.proto.clone(),
            });
        }
        if !s.rtcp_mux {
            return Err(SdpError::MissingRtcpMux { mid: s.mid.clone() });
        }
    }
    let ice = desc.ice.clone().ok_or(SdpError::MissingIceCredentials)?;
    check_ice(&ice)?;
    let fingerprint = desc.fingerprint.ok_or(SdpError::MissingFingerprint)?;
    let setup = desc.setup.ok_or(SdpError::MissingSetup)?;
    Ok(RemoteTransport {
        ice,
        fingerprint,
        setup,
    })
}

/// RFC 8839 §5.4: ufrag 4..=256 and pwd 22..=256 ice-chars (ALPHA / DIGIT / `+` / `/`).
fn check_ice(ice: &IceParameters) -> Result<(), SdpError> {
    let ice_chars = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    };
    if !(4..=256).contains(&ice.ufrag.len()) || !ice_chars(&ice.ufrag) {
        return Err(SdpError::InvalidIceCredentials {
            reason: "ice-ufrag must be 4 to 256 ice-chars",
        });
    }
    if !(22..=256).contains(&ice.pwd.len()) || !ice_chars(&ice.pwd) {
        return Err(SdpError::InvalidIceCredentials {
            reason: "ice-pwd must be 22 to 256 ice-chars",
        });
    }
    Ok(())
}

/// An offer's DTLS role must leave the server role to us.
fn check_offer_setup(setup: Setup) -> Result<(), SdpError> {
    match setup {
        Setup::ActPass | Setup::Active => Ok(()),
        Setup::Passive => Err(SdpError::UnsupportedSetup { setup: "passive" }),
    }
}

/// The part of an answer section common to every accepted section.
pub(crate) fn accepted_section(
    offered: &MediaSection,
    direction: Direction,
    local: &LocalTransport,
) -> MediaSection {
    MediaSection {
        mid: offered.mid.clone(),
        kind: offered.kind,
        port: 9,
        proto: RTP_PROTO.to_owned(),
        direction,
        codecs: Vec::new(),
        extensions: Vec::new(),
        msid: None,
        ssrcs: Vec::new(),
        rtx_pairs: Vec::new(),
        rids: Vec::new(),
        simulcast: None,
        rtcp_mux: true,
        rtcp_rsize: offered.rtcp_rsize,
        candidates: local.host_candidates(),
        end_of_candidates: true,
    }
}

/// A rejected (port 0) answer to a section (RFC 8843 §7.3.3: also left
/// out of the BUNDLE group).
pub(crate) fn rejected_section(offered: &MediaSection) -> MediaSection {
    MediaSection {
        mid: offered.mid.clone(),
        kind: offered.kind,
        port: 0,
        proto: offered.proto.clone(),
        direction: Direction::Inactive,
        codecs: Vec::new(),
        extensions: Vec::new(),
        msid: None,
        ssrcs: Vec::new(),
        rtx_pairs: Vec::new(),
        rids: Vec::new(),
        simulcast: None,
        rtcp_mux: false,
        rtcp_rsize: false,
        candidates: Vec::new(),
        end_of_candidates: false,
    }
}

pub(crate) fn answer_description(
    offer: &Description,
    local: &LocalTransport,
    sections: Vec<MediaSection>,
    version: u64,
) -> Result<Description, SdpError> {
    let bundle: Vec<String> = sections
        .iter()
        .filter(|s| !s.is_rejected())
        .map(|s| s.mid.clone())
        .collect();
    if bundle.is_empty() {
        return Err(SdpError::NothingToNegotiate);
    }
    Ok(Description {
        session_id: local.session_id,
        session_version: version,
        ice_lite: true,
        extmap_allow_mixed: offer.extmap_allow_mixed,
        bundle,
        ice: Some(local.ice.clone()),
        fingerprint: Some(local.fingerprint),
        setup: Some(Setup::Passive),
        sections,
    })
}

fn keep_extensions(offered: &MediaSection, ours: &[ExtensionUri]) -> Vec<HeaderExtension> {
    offered
        .extensions
        .iter()
        .filter(|e| ours.contains(&e.uri))
        .cloned()
        .collect()
}

/// Parses a client offer and checks what every offer to the SFU must have
/// (the rules [`PublishOffer::parse`] documents).
pub(crate) fn parse_offer(text: &str) -> Result<(Description, RemoteTransport), SdpError> {
    let description = Description::parse(text)?;
    let remote = check_transport(&description)?;
    check_offer_setup(remote.setup)?;
    Ok((description, remote))
}

/// A client's offer to publish media (WHIP, or a Calls-style "push").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOffer {
    description: Description,
    remote: RemoteTransport,
}

impl PublishOffer {
    /// Parses and checks an offer: BUNDLE, rtcp-mux, ICE credentials,
    /// a sha-256 fingerprint and `a=setup:actpass` or `active`.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let (description, remote) = parse_offer(text)?;
        Ok(PublishOffer {
            description,
            remote,
        })
    }

    /// The offer as parsed.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The client's transport parameters.
    pub fn remote(&self) -> &RemoteTransport {
        &self.remote
    }

    /// What the router needs to receive each track this offer publishes,
    /// given the answer built from it: one entry per section the answer
    /// accepted as `recvonly`.
    pub fn tracks(&self, answer: &Description) -> Vec<PublishedTrack> {
        published_tracks(&self.description, answer)
    }

    /// The SFU's answer: ice-lite, our credentials and fingerprint,
    /// `setup:passive`, one host candidate; per sending section, `recvonly`
    /// with the first of our codecs the offer has (plus its RTX), the
    /// feedback and header extensions both sides support (offer's ids), and
    /// simulcast mirrored as `a=rid:<id> recv` + `a=simulcast:recv`.
    /// Sections that do not send are answered `inactive`; data channels
    /// and already-rejected sections are rejected.
    pub fn answer(
        &self,
        local: &LocalTransport,
        caps: &Capabilities,
    ) -> Result<Description, SdpError> {
        let sections = self
            .description
            .sections
            .iter()
            .map(|offered| {
                if offered.is_rejected() || offered.kind == MediaKind::Application {
                    Ok(rejected_section(offered))
                } else {
                    receive_section(offered, local, caps)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        answer_description(&self.description, local, sections, 1)
    }
}

/// Our answer to a section the client publishes on: `recvonly` with the
/// first of our codecs it offers (plus its RTX), the feedback and header
/// extensions both sides support (offer's ids), and simulcast mirrored as
/// `a=rid:<id> recv` + `a=simulcast:recv`. A section that does not send is
/// answered `inactive`.
pub(crate) fn receive_section(
    offered: &MediaSection,
    local: &LocalTransport,
    caps: &Capabilities,
) -> Result<MediaSection, SdpError> {
    let chosen = caps.pick(offered).ok_or_else(|| SdpError::NoCommonCodec {
        mid: offered.mid.clone(),
        kind: offered.kind,
    })?;
    let direction = if offered.direction.sends() {
        Direction::RecvOnly
    } else {
        Direction::Inactive
    };
    let mut section = accepted_section(offered, direction, local);
    section.codecs.push(caps.answer_codec(offered.kind, chosen));
    if caps.rtx
        && offered.kind == MediaKind::Video
        && let Some(rtx) = offered.rtx_for(chosen.pt)
    {
        section.codecs.push(caps.answer_codec(offered.kind, rtx));
    }
    section.extensions = keep_extensions(offered, &caps.receive_extensions);
    if let Some(sim) = &offered.simulcast
        && sim.direction == RidDirection::Send
        && section.extension_id(&ExtensionUri::Rid).is_some()
    {
        section.rids = sim
            .layers
            .iter()
            .map(|l| Rid {
                id: l.rid.clone(),
                direction: RidDirection::Recv,
                restrictions: None,
            })
            .collect();
        section.simulcast = Some(Simulcast {
            direction: RidDirection::Recv,
            layers: sim.layers.clone(),
        });
    }
    Ok(section)
}

/// Our answer to a section the client receives on: `sendonly` with the
/// client's payload type for the track's codec (which it must offer), our
/// SSRC (and RTX SSRC with an `a=ssrc-group:FID`, when the client offered
/// RTX), msid and cname. A section that does not receive is answered
/// `inactive`.
pub(crate) fn send_section(
    offered: &MediaSection,
    track: &OutgoingTrack,
    local: &LocalTransport,
    caps: &Capabilities,
) -> Result<MediaSection, SdpError> {
    track.check()?;
    if track.kind != offered.kind {
        return Err(SdpError::TrackKindMismatch {
            mid: offered.mid.clone(),
            section: offered.kind,
            track: track.kind,
        });
    }
    let codec = offered
        .media_codecs()
        .find(|c| c.same_format(&track.codec))
        .ok_or_else(|| SdpError::NoCommonCodec {
            mid: offered.mid.clone(),
            kind: offered.kind,
        })?;
    let direction = if offered.direction.receives() {
        Direction::SendOnly
    } else {
        Direction::Inactive
    };
    let rtx = offered
        .rtx_for(codec.pt)
        .filter(|_| caps.rtx && track.rtx_ssrc.is_some())
        .map(|rtx| caps.answer_codec(offered.kind, rtx));
    let mut section = accepted_section(offered, direction, local);
    track.fill(&mut section, caps.answer_codec(offered.kind, codec), rtx);
    section.extensions = keep_extensions(offered, &caps.send_extensions);
    Ok(section)
}

/// What the router needs to receive each track a client offer publishes,
/// given the SFU's answer to it: one entry per section the answer accepted
/// as `recvonly`.
pub fn published_tracks(offer: &Description, answer: &Description) -> Vec<PublishedTrack> {
    answer
        .sections
        .iter()
        .filter(|s| s.direction == Direction::RecvOnly && !s.is_rejected())
        .filter_map(|ours| {
            let theirs = offer.section(&ours.mid)?;
            let codec = ours.media_codecs().next()?.clone();
            let rtx_pt = ours.rtx_for(codec.pt).map(|c| c.pt);
            // With rid simulcast Chromium signals no SSRCs: the router
            // learns them from the rid header extension instead.
            let pair = theirs.rtx_pairs.first();
            let ssrc = pair
                .map(|p| p.primary)
                .or_else(|| theirs.ssrcs.first().map(|s| s.ssrc));
            Some(PublishedTrack {
                mid: ours.mid.clone(),
                kind: ours.kind,
                msid: theirs
                    .msid
                    .clone()
                    .or_else(|| theirs.ssrcs.iter().find_map(|s| s.msid.clone())),
                codec,
                rtx_pt,
                ssrc,
                rtx_ssrc: pair.map(|p| p.rtx).filter(|_| rtx_pt.is_some()),
                rids: ours
                    .simulcast
                    .iter()
                    .flat_map(|sim| sim.layers.iter().map(|l| l.rid.clone()))
                    .collect(),
                extensions: ours.extensions.clone(),
            })
        })
        .collect()
}

/// One track a publish offer sends, as negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTrack {
    /// The m-section carrying it.
    pub mid: String,
    /// Audio or video.
    pub kind: MediaKind,
    /// The publisher's stream and track ids, when it wrote them.
    pub msid: Option<Msid>,
    /// The one codec the answer accepted, with the publisher's payload type.
    pub codec: PayloadFormat,
    /// The RTX payload type, when RTX was negotiated.
    pub rtx_pt: Option<u8>,
    /// The media SSRC, when the offer declared one (not with rid simulcast).
    pub ssrc: Option<u32>,
    /// The RTX SSRC from `a=ssrc-group:FID`, when RTX was negotiated.
    pub rtx_ssrc: Option<u32>,
    /// Simulcast rids in the publisher's order; empty without simulcast.
    pub rids: Vec<String>,
    /// Header extension ids (the publisher's) that the answer kept.
    pub extensions: Vec<HeaderExtension>,
}

/// A track the SFU sends to a viewer in one m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingTrack {
    /// Audio or video.
    pub kind: MediaKind,
    /// The codec the published track uses (its payload type is the
    /// publisher's; the viewer's may differ and the router rewrites it).
    pub codec: PayloadFormat,
    /// The SSRC the SFU sends the track with.
    pub ssrc: u32,
    /// The SSRC of its RTX stream, if the SFU repairs this track with RTX.
    pub rtx_ssrc: Option<u32>,
    /// The stream and track ids the viewer sees.
    pub msid: Msid,
    /// The RTCP CNAME (the same for all tracks of one publisher, for lip sync).
    pub cname: String,
}

impl OutgoingTrack {
    /// The strings we print must be single SDP tokens: an msid or cname
    /// taken from, say, a WHIP stream name must not smuggle in lines.
    pub(crate) fn check(&self) -> Result<(), SdpError> {
        for (attribute, text) in [
            ("msid", self.msid.stream.as_str()),
            ("msid", self.msid.track.as_str()),
            ("ssrc", self.cname.as_str()),
        ] {
            if text.is_empty()
                || text.len() > MAX_TOKEN_BYTES
                || text
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return Err(malformed(attribute, text));
            }
        }
        Ok(())
    }

    /// The section content for sending this track, given the codec the
    /// other side uses for it (`codec`, with that side's payload type) and
    /// its RTX codec if both sides do RTX.
    pub(crate) fn fill(
        &self,
        section: &mut MediaSection,
        codec: PayloadFormat,
        rtx: Option<PayloadFormat>,
    ) {
        section.codecs.push(codec);
        section.msid = Some(self.msid.clone());
        section.ssrcs.push(SsrcInfo {
            ssrc: self.ssrc,
            cname: Some(self.cname.clone()),
            msid: Some(self.msid.clone()),
        });
        if let (Some(rtx), Some(rtx_ssrc)) = (rtx, self.rtx_ssrc) {
            section.codecs.push(rtx);
            section.rtx_pairs.push(RtxPair {
                primary: self.ssrc,
                rtx: rtx_ssrc,
            });
            section.ssrcs.push(SsrcInfo {
                ssrc: rtx_ssrc,
                cname: Some(self.cname.clone()),
                msid: Some(self.msid.clone()),
            });
        }
    }
}

/// Which track the SFU sends in which m-section of a viewer's offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSender {
    /// The mid of the viewer's m-section.
    pub mid: String,
    /// The track sent there.
    pub track: OutgoingTrack,
}

/// A client's offer to receive media (WHEP): usually `recvonly` sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerOffer {
    description: Description,
    remote: RemoteTransport,
}

impl ViewerOffer {
    /// Parses and checks an offer, with the same rules as [`PublishOffer::parse`].
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let (description, remote) = parse_offer(text)?;
        Ok(ViewerOffer {
            description,
            remote,
        })
    }

    /// The offer as parsed.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The client's transport parameters.
    pub fn remote(&self) -> &RemoteTransport {
        &self.remote
    }

    /// The SFU's answer: each section named in `senders` becomes `sendonly`
    /// with the viewer's payload type for the track's codec (which must be
    /// one the viewer offered), our SSRC (and RTX SSRC with an
    /// `a=ssrc-group:FID`, when the viewer offered RTX), msid and cname.
    /// Sections not named are rejected.
    pub fn answer(
        &self,
        local: &LocalTransport,
        caps: &Capabilities,
        senders: &[SectionSender],
    ) -> Result<Description, SdpError> {
        for sender in senders {
            sender.track.check()?;
            if self.description.section(&sender.mid).is_none() {
                return Err(SdpError::UnknownMid {
                    mid: super::error::quote(&sender.mid),
                });
            }
        }
        let sections = self
            .description
            .sections
            .iter()
            .map(
                |offered| match senders.iter().find(|s| s.mid == offered.mid) {
                    Some(sender) if !offered.is_rejected() => {
                        send_section(offered, &sender.track, local, caps)
                    }
                    _ => Ok(rejected_section(offered)),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        answer_description(&self.description, local, sections, 1)
    }
}
