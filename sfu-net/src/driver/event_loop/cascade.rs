//! Relay links of a cascade: their sockets, and the sessions at each end.

use super::*;
use crate::driver::relay::RelayTrack;

impl Core {
    pub(super) fn relay_readable(&mut self, index: usize, batch: &mut RecvBatch) {
        loop {
            let Some(Some((link, session))) = self.relays.get_mut(index) else {
                return;
            };
            let session = *session;
            match udp::recv_batch(&link.socket, batch) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let now = Instant::now();
            let packets: Vec<(bool, Bytes)> = batch
                .iter()
                .filter_map(|(from, data)| link.receive(from, data))
                .collect();
            for (rtcp, packet) in packets {
                let _ = if rtcp {
                    self.router.handle_rtcp(now, session, packet)
                } else {
                    self.router.handle_rtp(now, session, packet)
                };
            }
            self.pump(now);
        }
    }

    pub(super) fn register_link(
        &mut self,
        link: RelayLink,
        session: RouterId,
    ) -> Result<usize, DriverError> {
        let index = self.relays.len();
        let registry = self.registry.as_ref().ok_or(DriverError::Stopped)?;
        let fd = link.socket.as_raw_fd();
        registry.register(
            &mut SourceFd(&fd),
            Token(FIRST_RELAY.0 + index),
            Interest::READABLE,
        )?;
        self.relays.push(Some((link, session)));
        Ok(index)
    }

    /// The sending side of a cascade link: a session that pulls every
    /// track of `source` and sends it over its own socket.
    pub(super) fn relay_out(
        &mut self,
        now: Instant,
        source: RouterId,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<RelayOffer, DriverError> {
        let tracks: Vec<RelayTrack> = match self.sessions.get(&source) {
            Some(s) if !s.sources.is_empty() => s
                .sources
                .iter()
                .map(|t| RelayTrack {
                    name: t.name.clone(),
                    kind: t.kind,
                    codec: t.codec.clone(),
                    rtx_pt: t.rtx_pt,
                    ssrc: 0,
                    rtx_ssrc: None,
                })
                .collect(),
            Some(_) => return Err(DriverError::WrongRole(source)),
            None => return Err(DriverError::UnknownSession(source)),
        };
        let tracks: Vec<RelayTrack> = tracks
            .into_iter()
            .map(|mut t| {
                t.ssrc = self.fresh_ssrc();
                t.rtx_ssrc = t.rtx_pt.map(|_| self.fresh_ssrc());
                t
            })
            .collect();
        let sections = tracks
            .iter()
            .map(|t| ViewSection {
                mid: None,
                kind: t.kind,
                ssrc: t.ssrc,
                rtx_ssrc: t.rtx_ssrc,
                codecs: vec![codec_config(&t.codec, t.rtx_pt)],
                subscription: None,
                resume: None,
            })
            .collect();
        let link = RelayLink::bind(bind, keys.as_ref(), true, &[])?;
        udp::set_buffer_sizes(&link.socket, self.socket_buffer);
        let address = link.local;
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let index = match self.register_link(link, session) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.router.close_session(now, session);
                return Err(e);
            }
        };
        self.sessions.insert(
            session,
            Session {
                link: Some(index),
                sections,
                ..Session::default()
            },
        );
        self.attach(now, session, source)?;
        Ok(RelayOffer {
            session,
            address,
            tracks,
        })
    }

    /// The receiving side of a cascade link: a session that publishes the
    /// offered tracks, fed by packets from the sending node's socket.
    pub(super) fn relay_in(
        &mut self,
        now: Instant,
        offer: RelayOffer,
        bind: SocketAddr,
        keys: Option<RelayKeys>,
    ) -> Result<(RouterId, SocketAddr), DriverError> {
        let ssrcs: Vec<u32> = offer
            .tracks
            .iter()
            .flat_map(|t| std::iter::once(t.ssrc).chain(t.rtx_ssrc))
            .collect();
        let mut link = RelayLink::bind(bind, keys.as_ref(), false, &ssrcs)?;
        udp::set_buffer_sizes(&link.socket, self.socket_buffer);
        link.remote = Some(offer.address);
        let address = link.local;
        let session = self
            .router
            .create_session(now, sfu_core::SessionConfig::default())?;
        let mut sources = Vec::new();
        for t in &offer.tracks {
            let kind = match t.kind {
                MediaKind::Audio => sfu_core::MediaKind::Audio,
                _ => sfu_core::MediaKind::Video,
            };
            let mut layer = sfu_core::LayerConfig::ssrc(t.ssrc);
            if let Some(rtx) = t.rtx_ssrc {
                layer = layer.with_rtx(rtx);
            }
            let config = sfu_core::TrackConfig {
                name: t.name.clone(),
                kind,
                codecs: vec![codec_config(&t.codec, t.rtx_pt)],
                mid: None,
                layers: vec![layer],
                keyframe_request: sfu_core::KeyframeRequestKind::Pli,
            };
            if let Err(e) = self.router.publish_track(now, session, config) {
                let _ = self.router.close_session(now, session);
                return Err(e.into());
            }
            sources.push(SourceTrack {
                name: t.name.clone(),
                kind: t.kind,
                codec: t.codec.clone(),
                layers: 1,
                rtx_pt: t.rtx_pt,
            });
        }
        let index = match self.register_link(link, session) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.router.close_session(now, session);
                return Err(e);
            }
        };
        self.sessions.insert(
            session,
            Session {
                link: Some(index),
                sources,
                ..Session::default()
            },
        );
        Ok((session, address))
    }

    /// Tells the sending side where the receiving side's socket is.
    pub(super) fn relay_connect(
        &mut self,
        now: Instant,
        session: RouterId,
        remote: SocketAddr,
    ) -> Result<(), DriverError> {
        let Some(Session {
            link: Some(index),
            sections,
            ..
        }) = self.sessions.get(&session)
        else {
            return Err(DriverError::WrongRole(session));
        };
        if let Some(Some((link, _))) = self.relays.get_mut(*index) {
            link.remote = Some(remote);
        }
        for sub in sections.iter().filter_map(|s| s.subscription) {
            let _ = self.router.request_keyframe(now, sub);
        }
        Ok(())
    }
}

pub(super) fn relay_send(
    relays: &mut [Option<(RelayLink, RouterId)>],
    index: usize,
    packet: &[u8],
    rtcp: bool,
) {
    let Some(Some((link, _))) = relays.get_mut(index) else {
        return;
    };
    let Some(remote) = link.remote else {
        return;
    };
    match link.seal(packet, rtcp) {
        Some(sealed) => {
            if link.socket.send_to(&sealed, remote).is_err() {
                link.dropped += 1;
            }
        }
        None => link.dropped += 1,
    }
}
