//! Commands that create and connect client sessions: publish, view,
//! attach, SFU-initiated offers, layer preference, close.

use super::*;

impl Core {
    pub(super) fn publish(
        &mut self,
        now: Instant,
        offer: &str,
    ) -> Result<Publication, DriverError> {
        let offer = PublishOffer::parse(offer)?;
        let credentials = IceCredentials::from_random(&random());
        let local = self.local_transport(&credentials);
        let answer = offer.answer(&local, &self.caps)?;
        let tracks = offer.tracks(&answer);
        let configs: Vec<_> = tracks
            .iter()
            .filter_map(|t| track_config(t).map(|c| (t, c)))
            .collect();
        let remote_ssrcs: Vec<u32> = tracks
            .iter()
            .flat_map(|t| t.ssrc.into_iter().chain(t.rtx_ssrc))
            .collect();
        let simulcast = tracks.iter().any(|t| !t.rids.is_empty());
        let (net, session) = self.add_client(
            now,
            credentials,
            offer.remote(),
            remote_ssrcs,
            simulcast,
            &answer,
        )?;
        let mut sources = Vec::new();
        for (t, config) in configs {
            let layers = config.layers.len();
            if let Err(e) = self.router.publish_track(now, session, config) {
                let _ = self.endpoint.close_session(net);
                let _ = self.router.close_session(now, session);
                return Err(e.into());
            }
            sources.push(SourceTrack {
                name: t.mid.clone(),
                kind: t.kind,
                codec: t.codec.clone(),
                layers,
                rtx_pt: t.rtx_pt,
            });
        }
        let published = tracks
            .iter()
            .map(|t| (t.mid.clone(), t.kind, t.rids.clone()))
            .collect();
        self.by_net.insert(net, session);
        self.sessions.insert(
            session,
            Session {
                net: Some(net),
                sources,
                negotiation: Some(Renegotiation::from_publish(
                    &offer,
                    &answer,
                    local,
                    self.caps.clone(),
                )),
                ..Session::default()
            },
        );
        Ok(Publication {
            session,
            answer: answer.to_sdp(),
            tracks: published,
        })
    }

    pub(super) fn view(
        &mut self,
        now: Instant,
        offer: &str,
        source: Option<sfu_core::SessionId>,
        layer: Option<String>,
    ) -> Result<Viewing, DriverError> {
        let offer = ViewerOffer::parse(offer)?;
        let source_tracks: Vec<(MediaKind, sdp::Codec)> =
            match source.and_then(|s| self.sessions.get(&s)) {
                Some(s) => s
                    .sources
                    .iter()
                    .map(|t| (t.kind, t.codec.clone()))
                    .collect(),
                None => Vec::new(),
            };
        // One sender per receiving audio/video section: the source's codec
        // when it is live, else the codec we prefer among those offered.
        let mut senders = Vec::new();
        let mut unused: Vec<(MediaKind, sdp::Codec)> = source_tracks;
        let caps = self.caps.clone();
        let mut ssrcs = Vec::new();
        for section in &offer.description().sections {
            if section.is_rejected() || !section.direction.receives() {
                continue;
            }
            if !matches!(section.kind, MediaKind::Audio | MediaKind::Video) {
                continue;
            }
            let from_source = unused
                .iter()
                .position(|(kind, _)| *kind == section.kind)
                .map(|i| unused.remove(i).1);
            let Some(codec) = from_source.or_else(|| caps.pick(section).cloned()) else {
                continue;
            };
            let ssrc = self.fresh_ssrc();
            let rtx_ssrc = (section.kind == MediaKind::Video).then(|| self.fresh_ssrc());
            ssrcs.push((section.mid.clone(), section.kind, ssrc, rtx_ssrc));
            senders.push(SectionSender {
                mid: section.mid.clone(),
                track: OutgoingTrack {
                    kind: section.kind,
                    codec,
                    ssrc,
                    rtx_ssrc,
                    msid: Msid {
                        stream: "sfu".into(),
                        track: format!("sfu-{}", section.mid),
                    },
                    cname: "sfu".into(),
                },
            });
        }
        let credentials = IceCredentials::from_random(&random());
        let local = self.local_transport(&credentials);
        let answer = offer.answer(&local, &self.caps, &senders)?;
        let sections = ssrcs
            .into_iter()
            .filter_map(|(mid, kind, ssrc, rtx_ssrc)| {
                let s = answer.section(&mid)?;
                let codec = s.media_codecs().next()?;
                let rtx_pt = s.rtx_for(codec.pt).map(|c| c.pt);
                Some(ViewSection {
                    mid: Some(mid),
                    kind,
                    ssrc,
                    rtx_ssrc: rtx_ssrc.filter(|_| rtx_pt.is_some()),
                    codecs: vec![codec_config(codec, rtx_pt)],
                    subscription: None,
                    resume: None,
                })
            })
            .collect();
        // A receive-only client's RTCP comes from SSRCs it never announced.
        let (net, session) =
            self.add_client(now, credentials, offer.remote(), Vec::new(), true, &answer)?;
        self.by_net.insert(net, session);
        self.sessions.insert(
            session,
            Session {
                net: Some(net),
                sections,
                layer,
                negotiation: Some(Renegotiation::from_viewer(
                    &offer,
                    &answer,
                    local,
                    self.caps.clone(),
                )),
                ..Session::default()
            },
        );
        if let Some(source) = source {
            self.attach(now, session, source)?;
        }
        Ok(Viewing {
            session,
            answer: answer.to_sdp(),
        })
    }

    pub(super) fn attach(
        &mut self,
        now: Instant,
        viewer: RouterId,
        source: RouterId,
    ) -> Result<(), DriverError> {
        let tracks = self.source_tracks(source)?;
        let session = self
            .sessions
            .get_mut(&viewer)
            .ok_or(DriverError::UnknownSession(viewer))?;
        let layer = &session.layer;
        let mut unused = tracks;
        for section in session
            .sections
            .iter_mut()
            .filter(|s| s.subscription.is_none())
        {
            let Some(i) = unused.iter().position(|t| t.1 == section.kind) else {
                continue;
            };
            let (name, _, layers) = unused.remove(i);
            let mut pull = PullConfig::new(section.ssrc, section.codecs.clone());
            if let Some(mid) = &section.mid {
                pull = pull.with_mid(mid.clone());
            }
            if let Some(rtx) = section.rtx_ssrc {
                pull = pull.with_rtx(rtx);
            }
            if layers > 1 {
                pull = pull.with_policy(Simulcast::new(layer.clone(), Fallback::Auto));
            }
            if let Some(point) = section.resume {
                pull = pull.resume(point);
            }
            section.subscription = Some(self.router.pull_track(now, viewer, source, &name, pull)?);
        }
        Ok(())
    }

    /// Offers `session` every track of `source` in new `sendonly`
    /// sections (an SFU-initiated offer); the pulls start once the client's
    /// answer arrives through [`Core::answer`].
    pub(super) fn pull(
        &mut self,
        session: RouterId,
        source: RouterId,
    ) -> Result<String, DriverError> {
        let sources: Vec<SourceTrack> = match self.sessions.get(&source) {
            Some(s) if !s.sources.is_empty() => s
                .sources
                .iter()
                .map(|t| SourceTrack {
                    name: t.name.clone(),
                    kind: t.kind,
                    codec: t.codec.clone(),
                    layers: t.layers,
                    rtx_pt: t.rtx_pt,
                })
                .collect(),
            Some(_) => return Err(DriverError::WrongRole(source)),
            None => return Err(DriverError::UnknownSession(source)),
        };
        let ssrcs: Vec<(u32, Option<u32>)> = sources
            .iter()
            .map(|t| {
                let ssrc = self.fresh_ssrc();
                (
                    ssrc,
                    (t.kind == MediaKind::Video).then(|| self.fresh_ssrc()),
                )
            })
            .collect();
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        let negotiation = s
            .negotiation
            .as_mut()
            .ok_or(DriverError::WrongRole(session))?;
        let mut pending: Vec<PendingPull> = Vec::new();
        for (t, (ssrc, rtx_ssrc)) in sources.into_iter().zip(ssrcs) {
            let track = OutgoingTrack {
                kind: t.kind,
                codec: t.codec,
                ssrc,
                rtx_ssrc,
                msid: Msid {
                    stream: format!("sfu-{}", source.as_u64()),
                    track: format!("sfu-{}-{}", source.as_u64(), t.name),
                },
                cname: "sfu".into(),
            };
            let mid = match negotiation.add_track(&track) {
                Ok(mid) => mid,
                Err(e) => {
                    // Take back what this call added; nothing was offered yet.
                    for p in &pending {
                        let _ = negotiation.stop(&p.mid);
                    }
                    return Err(e.into());
                }
            };
            pending.push(PendingPull {
                mid,
                kind: t.kind,
                ssrc,
                rtx_ssrc,
                source,
                track: t.name,
                layers: t.layers,
            });
        }
        let offer = negotiation.create_offer()?;
        s.pending.extend(pending);
        Ok(offer.to_sdp())
    }

    /// The client's answer to our offer: pulls what it accepted.
    pub(super) fn answer(
        &mut self,
        now: Instant,
        session: RouterId,
        text: &str,
    ) -> Result<(), DriverError> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        let negotiation = s
            .negotiation
            .as_mut()
            .ok_or(DriverError::WrongRole(session))?;
        let answer = negotiation.apply_answer(text)?;
        let layer = s.layer.clone();
        let mut pulls = Vec::new();
        for p in std::mem::take(&mut s.pending) {
            let Some(section) = answer.section(&p.mid).filter(|x| !x.is_rejected()) else {
                continue;
            };
            let Some(codec) = section.media_codecs().next() else {
                continue;
            };
            let rtx_pt = section.rtx_for(codec.pt).map(|c| c.pt);
            let codecs = vec![codec_config(codec, rtx_pt)];
            let mut pull = PullConfig::new(p.ssrc, codecs.clone()).with_mid(p.mid.clone());
            let rtx_ssrc = p.rtx_ssrc.filter(|_| rtx_pt.is_some());
            if let Some(rtx) = rtx_ssrc {
                pull = pull.with_rtx(rtx);
            }
            if p.layers > 1 {
                pull = pull.with_policy(Simulcast::new(layer.clone(), Fallback::Auto));
            }
            pulls.push((p.source, p.track, pull));
            s.sections.push(ViewSection {
                mid: Some(p.mid),
                kind: p.kind,
                ssrc: p.ssrc,
                rtx_ssrc,
                codecs,
                subscription: None,
                resume: None,
            });
        }
        for (source, track, pull) in pulls {
            let ssrc = pull.ssrc;
            let id = self.router.pull_track(now, session, source, &track, pull)?;
            if let Some(section) = self
                .sessions
                .get_mut(&session)
                .and_then(|s| s.sections.iter_mut().find(|x| x.ssrc == ssrc))
            {
                section.subscription = Some(id);
            }
            let _ = self.router.request_keyframe(now, id);
        }
        Ok(())
    }

    /// The tracks `source` publishes: `(name, kind, layers)`.
    pub(super) fn source_tracks(
        &self,
        source: RouterId,
    ) -> Result<Vec<(String, MediaKind, usize)>, DriverError> {
        let s = self
            .sessions
            .get(&source)
            .ok_or(DriverError::UnknownSession(source))?;
        if s.sources.is_empty() {
            return Err(DriverError::WrongRole(source));
        }
        Ok(s.sources
            .iter()
            .map(|t| (t.name.clone(), t.kind, t.layers))
            .collect())
    }

    pub(super) fn prefer_layer(
        &mut self,
        viewer: RouterId,
        rid: Option<String>,
    ) -> Result<(), DriverError> {
        let session = self
            .sessions
            .get_mut(&viewer)
            .ok_or(DriverError::UnknownSession(viewer))?;
        session.layer.clone_from(&rid);
        let hint = rid.map_or(Hint::PreferHighest, Hint::PreferRid);
        for sub in session.sections.iter().filter_map(|s| s.subscription) {
            self.router.hint(sub, hint.clone())?;
        }
        Ok(())
    }

    pub(super) fn close(&mut self, now: Instant, session: RouterId) -> Result<(), DriverError> {
        let s = self
            .sessions
            .remove(&session)
            .ok_or(DriverError::UnknownSession(session))?;
        if let Some(net) = s.net {
            self.by_net.remove(&net);
            let _ = self.endpoint.close_session(net);
        }
        if let Some(link) = s.link
            && let Some((l, _)) = self.relays.get_mut(link).and_then(Option::take)
            && let Some(registry) = &self.registry
        {
            let fd = l.socket.as_raw_fd();
            let _ = registry.deregister(&mut SourceFd(&fd));
        }
        let _ = self.router.close_session(now, session);
        let _ = self.events.send(DriverEvent::Closed {
            session,
            reason: "closed by the application".into(),
        });
        Ok(())
    }
}
