//! Offer/answer: the peer's offers (first and renegotiations it starts),
//! the SFU's answers to them, and the peer's answers to SFU offers.

use super::config::SectionSpec;
use super::dtls::fingerprint_text;
use super::media::OutStream;
use super::sdp::{self, Codec, Direction, LocalSection, LocalTransport, MediaKind};
use super::sdp_parse::{RemoteDescription, RemoteSection};
use super::{Peer, PeerError, Section};

/// The SFU's transport as the peer checks it across descriptions.
fn same_transport(a: &RemoteDescription, b: &RemoteDescription) -> bool {
    a.ufrag == b.ufrag && a.pwd == b.pwd && a.fingerprint == b.fingerprint
}

/// Our direction given what we want and what the other side wrote.
fn answer_direction(ours: Direction, theirs: Direction) -> Direction {
    match (
        ours.sends() && theirs.receives(),
        ours.receives() && theirs.sends(),
    ) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    }
}

impl Peer {
    /// Appends a `sendonly` audio section; it is offered by the next
    /// [`create_offer`](Self::create_offer). Returns its mid.
    pub fn add_send_audio(&mut self) -> String {
        self.add_section(SectionSpec::SendAudio)
    }

    /// Appends a `sendonly` VP8 + RTX section. Returns its mid.
    pub fn add_send_video(&mut self) -> String {
        self.add_section(SectionSpec::SendVideo)
    }

    /// Appends a `sendonly` rid-simulcast VP8 section. Returns its mid.
    pub fn add_send_simulcast(&mut self, rids: &[&str]) -> String {
        self.add_section(SectionSpec::SendSimulcast(
            rids.iter().map(|r| (*r).to_owned()).collect(),
        ))
    }

    /// Appends a `recvonly` audio section. Returns its mid.
    pub fn add_receive_audio(&mut self) -> String {
        self.add_section(SectionSpec::ReceiveAudio)
    }

    /// Appends a `recvonly` video section. Returns its mid.
    pub fn add_receive_video(&mut self) -> String {
        self.add_section(SectionSpec::ReceiveVideo)
    }

    fn fresh_mid(&self) -> String {
        (0u32..)
            .map(|n| n.to_string())
            .find(|m| !self.sections.iter().any(|s| &s.local.mid == m))
            .unwrap_or_default()
    }

    fn taken_ssrcs(&self) -> Vec<u32> {
        let mut t = self.local_ssrcs();
        t.extend(self.sections.iter().flat_map(|s| {
            s.remote_streams
                .iter()
                .flat_map(|(p, r)| std::iter::once(*p).chain(*r))
        }));
        t
    }

    fn new_stream(&mut self, rid: Option<String>, rtx: bool) -> OutStream {
        let mut taken = self.taken_ssrcs();
        let ssrc = self.rng.ssrc(&taken);
        taken.push(ssrc);
        let rtx_ssrc = rtx.then(|| self.rng.ssrc(&taken));
        OutStream::new(rid, ssrc, rtx_ssrc, self.rng.next_u64())
    }

    pub(super) fn add_section(&mut self, spec: SectionSpec) -> String {
        let mid = self.fresh_mid();
        let track = format!("track-{}", self.rng.ice_chars(8));
        let (kind, direction) = match spec {
            SectionSpec::SendAudio => (MediaKind::Audio, Direction::SendOnly),
            SectionSpec::SendVideo | SectionSpec::SendSimulcast(_) => {
                (MediaKind::Video, Direction::SendOnly)
            }
            SectionSpec::ReceiveAudio => (MediaKind::Audio, Direction::RecvOnly),
            SectionSpec::ReceiveVideo => (MediaKind::Video, Direction::RecvOnly),
        };
        let out = match &spec {
            SectionSpec::SendAudio => vec![self.new_stream(None, false)],
            SectionSpec::SendVideo => vec![self.new_stream(None, true)],
            SectionSpec::SendSimulcast(rids) => rids
                .iter()
                .map(|r| self.new_stream(Some(r.clone()), true))
                .collect(),
            _ => Vec::new(),
        };
        let (codecs, extensions) = match kind {
            MediaKind::Audio => (sdp::opus(), sdp::audio_extensions()),
            MediaKind::Video => (sdp::vp8(), sdp::video_extensions()),
        };
        let rids = match &spec {
            SectionSpec::SendSimulcast(rids) => rids.clone(),
            _ => Vec::new(),
        };
        let local = LocalSection {
            mid: mid.clone(),
            kind,
            direction,
            stopped: false,
            codecs,
            extensions,
            track: direction.sends().then_some(track),
            ssrcs: out.iter().map(|o| (o.ssrc, o.rtx_ssrc)).collect(),
            rids,
        };
        self.sections.push(Section {
            local,
            negotiated: Vec::new(),
            extensions: Vec::new(),
            out,
            remote_streams: Vec::new(),
            keyframe_requested: false,
            opus_counter: 0,
        });
        mid
    }

    fn transport(&self, setup: &'static str) -> LocalTransport {
        LocalTransport {
            ufrag: self.ufrag.clone(),
            pwd: self.pwd.clone(),
            fingerprint: fingerprint_text(&self.fingerprint()),
            setup,
            candidate: self.addr,
            cname: self.cname.clone(),
            stream: self.stream.clone(),
        }
    }

    fn write(&mut self, setup: &'static str) -> String {
        self.version += 1;
        let locals: Vec<LocalSection> = self.sections.iter().map(|s| s.local.clone()).collect();
        sdp::write(
            self.session_id,
            self.version,
            &self.transport(setup),
            &locals,
        )
    }

    /// An offer with every section so far (earlier mids keep their order,
    /// ICE and DTLS parameters never change): BUNDLE, rtcp-mux,
    /// rtcp-rsize, `a=setup:actpass`, Chromium's payload types and
    /// extension ids. The next description from the SFU must answer it.
    pub fn create_offer(&mut self) -> String {
        self.offer_in_flight = true;
        self.write("actpass")
    }

    /// Applies the SFU's answer to the offer in flight: its transport
    /// (ufrag, pwd, fingerprint, a candidate of the peer's family), and per
    /// mid the direction, payload types, extension ids and the SSRCs the
    /// SFU will send. Starts ICE on the first answer.
    pub fn apply_answer(&mut self, text: &str) -> Result<(), PeerError> {
        if !self.offer_in_flight {
            return Err(PeerError::NoOfferInFlight);
        }
        let answer = RemoteDescription::parse(text)?;
        match answer.setup.as_str() {
            "passive" => {}
            other => return Err(PeerError::UnsupportedSetup(other.to_owned())),
        }
        let mismatch = |why: String| Err(PeerError::AnswerMismatch(why));
        if answer.sections.len() != self.sections.len() {
            return mismatch(format!(
                "{} m-sections, the offer had {}",
                answer.sections.len(),
                self.sections.len()
            ));
        }
        for (ours, theirs) in self.sections.iter().zip(&answer.sections) {
            if ours.local.mid != theirs.mid {
                return mismatch(format!(
                    "mid {:?} where {:?} was offered",
                    theirs.mid, ours.local.mid
                ));
            }
            if theirs.port != 0 {
                for c in &theirs.codecs {
                    if !ours
                        .local
                        .codecs
                        .iter()
                        .any(|o| o.pt == c.pt && o.name.eq_ignore_ascii_case(&c.name))
                    {
                        return mismatch(format!(
                            "mid {:?} answers payload type {} that was not offered",
                            theirs.mid, c.pt
                        ));
                    }
                }
                for e in &theirs.extensions {
                    if !ours.local.extensions.contains(e) {
                        return mismatch(format!(
                            "mid {:?} answers extension {} {} that was not offered",
                            theirs.mid, e.0, e.1
                        ));
                    }
                }
                if theirs.direction.sends() && !ours.local.direction.receives()
                    || theirs.direction.receives() && !ours.local.direction.sends()
                {
                    return mismatch(format!(
                        "mid {:?} answers {} to {}",
                        theirs.mid,
                        theirs.direction.as_str(),
                        ours.local.direction.as_str()
                    ));
                }
            }
        }
        self.set_transport(&answer)?;
        for (i, theirs) in answer.sections.iter().enumerate() {
            self.negotiate(i, theirs, None);
        }
        self.remote = Some(answer);
        self.offer_in_flight = false;
        Ok(())
    }

    /// Answers an offer from the SFU (renegotiation it starts, or the first
    /// offer of a session it creates): the peer's mids must come first and
    /// in order; new sections the SFU sends on are accepted `recvonly` with
    /// the first offered media codec and its RTX; port-0 sections are
    /// answered with port 0; `a=setup:active`, the same ICE/DTLS parameters.
    pub fn accept_offer(&mut self, text: &str) -> Result<String, PeerError> {
        let offer = RemoteDescription::parse(text)?;
        match offer.setup.as_str() {
            "actpass" | "passive" => {}
            other => return Err(PeerError::UnsupportedSetup(other.to_owned())),
        }
        if offer.sections.len() < self.sections.len() {
            return Err(PeerError::OfferMismatch(format!(
                "{} m-sections, the session has {}",
                offer.sections.len(),
                self.sections.len()
            )));
        }
        for (ours, theirs) in self.sections.iter().zip(&offer.sections) {
            if ours.local.mid != theirs.mid {
                return Err(PeerError::OfferMismatch(format!(
                    "mid {:?} where the session has {:?}",
                    theirs.mid, ours.local.mid
                )));
            }
        }
        for theirs in offer
            .sections
            .get(self.sections.len()..)
            .unwrap_or_default()
        {
            if theirs.kind.is_none() && theirs.port != 0 {
                return Err(PeerError::OfferMismatch(format!(
                    "mid {:?} is not audio or video",
                    theirs.mid
                )));
            }
        }
        self.set_transport(&offer)?;
        for (i, theirs) in offer.sections.iter().enumerate() {
            if i >= self.sections.len() {
                self.push_offered(theirs);
            }
            self.negotiate(i, theirs, Some(()));
        }
        self.remote = Some(offer);
        self.offer_in_flight = false;
        Ok(self.write("active"))
    }

    /// A section the SFU added: recvonly with its first media codec.
    fn push_offered(&mut self, theirs: &RemoteSection) {
        let mut codecs = Vec::new();
        if let Some(media) = theirs.media_codec() {
            let keep = |c: &Codec| Codec {
                feedback: c
                    .feedback
                    .iter()
                    .filter(|f| sdp::KNOWN_FEEDBACK.contains(&f.as_str()))
                    .cloned()
                    .collect(),
                ..c.clone()
            };
            codecs.push(keep(media));
            if let Some(rtx) = theirs.rtx_for(media.pt) {
                codecs.push(keep(rtx));
            }
        }
        let extensions = theirs
            .extensions
            .iter()
            .filter(|(_, u)| sdp::uri::KNOWN.contains(&u.as_str()))
            .cloned()
            .collect();
        let direction = if theirs.direction.sends() {
            Direction::RecvOnly
        } else {
            Direction::Inactive
        };
        self.sections.push(Section {
            local: LocalSection {
                mid: theirs.mid.clone(),
                kind: theirs.kind.unwrap_or(MediaKind::Video),
                direction,
                stopped: theirs.port == 0 || codecs.is_empty(),
                codecs,
                extensions,
                track: None,
                ssrcs: Vec::new(),
                rids: Vec::new(),
            },
            negotiated: Vec::new(),
            extensions: Vec::new(),
            out: Vec::new(),
            remote_streams: Vec::new(),
            keyframe_requested: false,
            opus_counter: 0,
        });
    }

    /// Takes the SFU's ICE/DTLS parameters (the same as before, if known)
    /// and starts checking its candidate.
    fn set_transport(&mut self, remote: &RemoteDescription) -> Result<(), PeerError> {
        if let Some(loose) = remote
            .sections
            .iter()
            .find(|s| s.port != 0 && !remote.bundle.contains(&s.mid))
        {
            return Err(PeerError::InvalidSdp(format!(
                "m-section {:?} is not in the BUNDLE group",
                loose.mid
            )));
        }
        if let Some(known) = &self.remote
            && !same_transport(known, remote)
        {
            return Err(PeerError::TransportChanged);
        }
        let candidate = remote
            .candidate_for(&self.addr)
            .ok_or(PeerError::NoCandidate)?;
        self.security.0.expected = Some(remote.fingerprint);
        if self.ice.remote.is_none() {
            self.ice
                .start(self.now, &remote.ufrag, &remote.pwd, candidate);
        }
        Ok(())
    }

    /// Section `i` after the SFU's description: what it accepted (answer)
    /// or offers (`offer` is `Some`), and the SSRCs it will send.
    fn negotiate(&mut self, i: usize, theirs: &RemoteSection, offer: Option<()>) {
        let Some(section) = self.sections.get_mut(i) else {
            return;
        };
        if theirs.port == 0 || section.local.stopped {
            section.local.stopped = true;
            section.remote_streams.clear();
            return;
        }
        if offer.is_some() {
            // Our answer narrows to the formats and extensions both have.
            section.local.direction = answer_direction(section.local.direction, theirs.direction);
            section.local.codecs.retain(|c| {
                theirs
                    .codecs
                    .iter()
                    .any(|t| t.pt == c.pt && t.name.eq_ignore_ascii_case(&c.name))
            });
            section
                .local
                .extensions
                .retain(|e| theirs.extensions.contains(e));
            section.negotiated = section.local.codecs.clone();
            section.extensions = section.local.extensions.clone();
        } else {
            section.negotiated = theirs.codecs.clone();
            section.extensions = theirs.extensions.clone();
        }
        if section.negotiated.is_empty() {
            section.local.stopped = true;
        }
        section.remote_streams = if theirs.direction.sends() {
            theirs.streams()
        } else {
            Vec::new()
        };
        let mid = section.local.mid.clone();
        let streams = section.remote_streams.clone();
        self.ssrc_mids.retain(|_, m| *m != mid);
        for (primary, rtx) in streams {
            self.ssrc_mids.insert(primary, mid.clone());
            if let Some(rtx) = rtx {
                self.ssrc_mids.insert(rtx, mid.clone());
                self.rtx_primaries.insert(rtx, primary);
            }
        }
    }
}
