//! Client offers on a session: the first, or a later one (JSEP
//! subsequent offers), answered section by section.

use super::*;

impl Negotiation {
    /// Answers a client's offer: the session's first exchange, or a later
    /// one (JSEP subsequent offer). Sections the session already has keep
    /// their mids, order, codecs and our SSRCs; the client may stop them
    /// (port 0) or stop sending or receiving on them. New sections are
    /// answered as `plan` decides. ICE restarts and certificate changes are
    /// refused, and so is an offer while the SFU's own is in flight (glare:
    /// the client answers ours first). On error nothing changes.
    pub fn answer_offer(
        &mut self,
        text: &str,
        mut plan: impl FnMut(&MediaSection) -> SectionPlan,
    ) -> Result<AnsweredOffer, SdpError> {
        self.not_in_flight()?;
        let (offer, remote) = parse_offer(text)?;
        self.check_same_transport(&remote)?;
        if offer.sections.len() < self.slots.len() {
            return Err(mismatch(&format!(
                "{} m-sections, the session has {}: sections are never removed",
                offer.sections.len(),
                self.slots.len()
            )));
        }
        if offer.sections.len() > MAX_MEDIA_SECTIONS {
            return Err(SdpError::TooMany {
                what: "m-sections",
                limit: MAX_MEDIA_SECTIONS,
            });
        }
        let mut sections = Vec::with_capacity(offer.sections.len());
        let (mut added, mut stopped) = (Vec::new(), Vec::new());
        for (i, offered) in offer.sections.iter().enumerate() {
            let known = self
                .slots
                .get(i)
                .filter(|slot| slot.state != SlotState::Stopped);
            let section = match known {
                Some(slot) if slot.section.mid != offered.mid => {
                    return Err(mismatch(&format!(
                        "m-section {} has mid {:?}, the session had {:?}",
                        i,
                        quote(&offered.mid),
                        slot.section.mid
                    )));
                }
                Some(slot) if offered.is_rejected() => {
                    stopped.push(slot.section.mid.clone());
                    rejected_section(offered)
                }
                Some(slot) => reanswered_section(&slot.section, offered, &self.local)?,
                None if offered.is_rejected() || offered.kind == MediaKind::Application => {
                    rejected_section(offered)
                }
                None => {
                    if self.slots.iter().any(|s| s.section.mid == offered.mid) {
                        return Err(mismatch(&format!(
                            "mid {:?} was used by another m-section",
                            quote(&offered.mid)
                        )));
                    }
                    let section = match plan(offered) {
                        SectionPlan::Receive => receive_section(offered, &self.local, &self.caps)?,
                        SectionPlan::Send(track) => {
                            send_section(offered, &track, &self.local, &self.caps)?
                        }
                        SectionPlan::Reject => rejected_section(offered),
                    };
                    if !section.is_rejected() {
                        added.push(offered.mid.clone());
                    }
                    section
                }
            };
            sections.push(section);
        }
        let version = self.version.saturating_add(1);
        let answer = answer_description(&offer, &self.local, sections, version)?;
        self.version = version;
        self.slots = slots_of(&answer);
        self.extmap_allow_mixed = answer.extmap_allow_mixed;
        self.remote = Some(remote);
        self.tag = answer.bundle.first().cloned();
        self.next_mid = self.next_mid.max(first_free_mid(&offer));
        Ok(AnsweredOffer {
            offer,
            answer,
            added,
            stopped,
        })
    }

    /// A later description must keep the transport: same ICE credentials
    /// (no ICE restart) and the same DTLS certificate.
    pub(super) fn check_same_transport(&self, remote: &RemoteTransport) -> Result<(), SdpError> {
        if let Some(known) = &self.remote {
            if known.fingerprint != remote.fingerprint {
                return Err(mismatch("the DTLS fingerprint changed"));
            }
            if known.ice.ufrag != remote.ice.ufrag {
                return Err(mismatch(
                    "the ICE ufrag changed (ICE restart is not supported)",
                ));
            }
        }
        Ok(())
    }
}

/// Our answer to a section the session already negotiated, offered again:
/// the same codecs (which the client must still offer), SSRCs and
/// extensions, narrowed to the directions the client still wants.
fn reanswered_section(
    ours: &MediaSection,
    offered: &MediaSection,
    local: &LocalTransport,
) -> Result<MediaSection, SdpError> {
    if offered.kind != ours.kind {
        return Err(mismatch(&format!(
            "m-section {:?} changed media type",
            ours.mid
        )));
    }
    for codec in &ours.codecs {
        if !offered
            .codec(codec.pt)
            .is_some_and(|c| c.same_format(codec))
        {
            return Err(mismatch(&format!(
                "m-section {:?} no longer offers payload type {}",
                ours.mid, codec.pt
            )));
        }
    }
    let receive = ours.direction.receives() && offered.direction.sends();
    let send = ours.direction.sends() && offered.direction.receives();
    let mut section = ours.clone();
    section.direction = match (send, receive) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::SendOnly,
        (false, true) => Direction::RecvOnly,
        (false, false) => Direction::Inactive,
    };
    section.candidates = local.host_candidates();
    section.end_of_candidates = true;
    section.rtcp_rsize = offered.rtcp_rsize;
    Ok(section)
}
