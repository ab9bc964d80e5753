//! Sessions the SFU offers toward a third party (Calls'
//! `sessions/new?thirdparty=true`): an endpoint that takes an offer and
//! returns an answer, often ICE-lite (another SFU, a realtime AI service).
//! Our offers then carry no `a=ice-lite` (our full agent checks), the
//! answer may choose `a=setup:passive` (we are the DTLS client), and
//! besides the `sendonly` sections of [`Negotiation::add_track`] they have
//! `recvonly` sections ([`Negotiation::add_receiver`]) for what the third
//! party sends us, with all our codecs of the kind.

use super::*;
use crate::sdp::answer::{PublishedTrack, published_tracks};

/// The payload type we prefer for a codec in our own receiving sections
/// (the numbers browsers commonly use; any free one serves).
fn preferred_pt(codec: &PayloadFormat) -> u8 {
    match codec.name {
        CodecName::Opus => 111,
        CodecName::Vp8 => 96,
        CodecName::Vp9 => 98,
        CodecName::H264 => 102,
        CodecName::Av1 => 45,
        _ => 96,
    }
}

impl Negotiation {
    /// A session the SFU offers toward a third party: like
    /// [`Negotiation::new`], but its offers are not ICE-lite and its
    /// answers may make the SFU the DTLS client.
    pub fn toward_third_party(local: LocalTransport, caps: Capabilities) -> Self {
        let mut n = Negotiation::new(local, caps);
        n.ice_lite = false;
        n.third_party = true;
        n
    }

    /// Whether this session was offered toward a third party.
    pub fn is_third_party(&self) -> bool {
        self.third_party
    }

    /// Adds a `recvonly` section of `kind` (audio or video) offering every
    /// codec of ours of that kind (video with RTX when enabled), and
    /// returns its mid; it takes effect with the next offer. What the
    /// peer sends on it is read with [`Negotiation::received_tracks`].
    pub fn add_receiver(&mut self, kind: MediaKind) -> Result<String, SdpError> {
        self.not_in_flight()?;
        if !matches!(kind, MediaKind::Audio | MediaKind::Video) {
            return Err(SdpError::UnsupportedMediaKind {
                kind: "application".to_owned(),
            });
        }
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
        let mut codecs: Vec<PayloadFormat> = Vec::new();
        let templates: Vec<PayloadFormat> = self
            .caps
            .codecs
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.template.clone())
            .collect();
        for template in templates {
            let codec = PayloadFormat {
                rtcp_fb: self.caps.feedback(kind).to_vec(),
                ..template
            };
            let pt = self.payload_type_among(&codec, preferred_pt(&codec), &codecs)?;
            codecs.push(PayloadFormat { pt, ..codec });
            if self.caps.rtx && kind == MediaKind::Video {
                let rtx = PayloadFormat {
                    pt: 0,
                    name: CodecName::Rtx,
                    clock_rate: 90_000,
                    channels: None,
                    fmtp: Some(format!("apt={pt}")),
                    rtcp_fb: Vec::new(),
                };
                let rtx_pt = self.payload_type_among(&rtx, pt.wrapping_add(1), &codecs)?;
                codecs.push(PayloadFormat { pt: rtx_pt, ..rtx });
            }
        }
        if codecs.is_empty() {
            return Err(SdpError::NoCommonCodec {
                mid: String::new(),
                kind,
            });
        }
        let receive = self.caps.receive_extensions.clone();
        let mid = self.fresh_mid();
        let section = MediaSection {
            mid: mid.clone(),
            kind,
            port: 9,
            proto: "UDP/TLS/RTP/SAVPF".to_owned(),
            direction: Direction::RecvOnly,
            codecs,
            extensions: self.extension_ids_of(kind, &receive),
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

    /// The tracks the peer sends on our live `recvonly` sections, as its
    /// `answer` (just applied) negotiated them: one per section it sends
    /// on, with its SSRCs and the one codec agreed.
    pub fn received_tracks(&self, answer: &Description) -> Vec<PublishedTrack> {
        let ours = Description {
            session_id: self.local.session_id,
            session_version: self.version,
            ice_lite: self.ice_lite,
            extmap_allow_mixed: self.extmap_allow_mixed,
            bundle: Vec::new(),
            ice: None,
            fingerprint: None,
            setup: None,
            sections: self
                .sections()
                .filter(|s| s.direction == Direction::RecvOnly)
                .filter(|s| {
                    answer
                        .section(&s.mid)
                        .is_some_and(|theirs| !theirs.is_rejected() && theirs.direction.sends())
                })
                .map(|s| {
                    // One codec per track: the first the answer agreed.
                    let mut s = s.clone();
                    let first = s.media_codecs().next().map(|c| c.pt);
                    if let Some(first) = first {
                        s.codecs.retain(|c| {
                            c.pt == first || (c.name == CodecName::Rtx && c.apt() == Some(first))
                        });
                    }
                    s
                })
                .collect(),
        };
        published_tracks(answer, &ours)
    }
}
