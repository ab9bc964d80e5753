//! RTP from publishers to subscribers: SSRC routing, RTX decode, layer
//! selection, rewriting, and the keyframe requests switching needs.

use std::time::Instant;

use bytes::Bytes;

use super::{Output, Router, RouterEvent};
use crate::error::Error;
use crate::keyframe::starts_keyframe;
use crate::outbound::{OutboundExtensions, OutboundRtp};
use crate::packet::{ExtensionKind, ExtensionMap, RtpPacket};
use crate::policy::{PacketInfo, Selection};
use crate::recovery::{LossRecovery, RecoveryAction, StreamKey};
use crate::rtcp;
use crate::session::{SsrcRoute, Subscription};
use crate::track::{CodecConfig, KeyframeRequestKind, Track, TrackId};
use crate::{LayerIndex, SessionId, SubscriptionId};

impl<R: LossRecovery> Router<R> {
    /// Feeds one decrypted RTP packet received from `session`.
    ///
    /// Errors say why the packet was dropped (and are counted in
    /// [`Router::stats`]); they never affect the session.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        session: SessionId,
        data: Bytes,
    ) -> Result<(), Error> {
        let result = self.route_rtp(now, session, data);
        if let Err(e) = &result {
            match e {
                Error::Rtp(_) => self.stats.rtp_malformed += 1,
                Error::UnknownSsrc(_) => self.stats.rtp_unknown_ssrc += 1,
                Error::UnknownPayloadType(_) => self.stats.rtp_unknown_payload_type += 1,
                Error::UnknownSession(_) => self.stats.rtp_unknown_session += 1,
                _ => {}
            }
        }
        self.run_recovery_actions(now);
        result
    }

    fn route_rtp(&mut self, now: Instant, session: SessionId, data: Bytes) -> Result<(), Error> {
        let packet = RtpPacket::parse(data)?;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        // Every packet counts for congestion control, whatever happens to it next.
        if let Some(seq) = packet
            .extension_of(&s.config.extensions, ExtensionKind::TransportCc)
            .and_then(|v| v.get(..2))
        {
            let arrival = now.saturating_duration_since(self.epoch.unwrap_or(now));
            let arrival_us = i64::try_from(arrival.as_micros()).unwrap_or(i64::MAX);
            s.twcc.on_packet(
                u16::from_be_bytes([seq[0], seq[1]]),
                arrival_us,
                packet.ssrc,
            );
        }
        let route = match s.ssrcs.get(&packet.ssrc) {
            Some(r) => *r,
            None => {
                bind_by_rid(s, &mut self.tracks, &packet).ok_or(Error::UnknownSsrc(packet.ssrc))?
            }
        };
        let track = self
            .tracks
            .get_mut(&route.track)
            .ok_or(Error::UnknownSsrc(packet.ssrc))?;
        let (packet, codec) = if route.rtx {
            let codec = *track
                .codec_by_rtx_pt(packet.payload_type)
                .ok_or(Error::UnknownPayloadType(packet.payload_type))?;
            let media_ssrc = track
                .layer(route.layer)
                .and_then(|l| l.ssrc)
                .ok_or(Error::UnknownSsrc(packet.ssrc))?;
            if packet.payload_slice().len() <= 2 {
                // RTX padding (bandwidth probing): nothing to repair.
                self.stats.padding_dropped += 1;
                return Ok(());
            }
            self.stats.rtx_received += 1;
            (packet.into_repaired(media_ssrc, codec.payload_type)?, codec)
        } else {
            let codec = *track
                .codec_by_pt(packet.payload_type)
                .ok_or(Error::UnknownPayloadType(packet.payload_type))?;
            (packet, codec)
        };
        self.stats.rtp_received += 1;
        let epoch = self.epoch.unwrap_or(now);
        let layer_index = route.layer;
        let Some(layer) = track.layer_mut(layer_index) else {
            return Err(Error::UnknownSsrc(packet.ssrc));
        };
        let ext_seq = layer.unwrap.extend(packet.sequence_number);
        let arrival = rtp_units(now.saturating_duration_since(epoch), codec.clock_rate);
        layer
            .receive
            .on_packet(ext_seq, packet.timestamp, arrival, route.rtx);
        layer.last_packet_at = Some(now);
        layer.rate.add(now, packet.wire_len());
        let bps = layer.rate.bps(now);
        if let Some(info) = track.info.get_mut(usize::from(layer_index.0)) {
            info.active = true;
            info.bitrate_bps = bps;
        }
        let stream = StreamKey {
            track: route.track,
            layer: layer_index,
        };
        if !self.recovery.on_publisher_packet(
            now,
            stream,
            ext_seq,
            &packet,
            route.rtx,
            &mut self.actions,
        ) {
            return Ok(());
        }

        if packet.payload_slice().is_empty() {
            self.stats.padding_dropped += 1;
            for id in &track.subscribers {
                if let Some(sub) = self.subs.get_mut(id)
                    && sub.rewriter.current() == Some(layer_index)
                {
                    sub.rewriter.skip(ext_seq);
                }
            }
            return Ok(());
        }
        let keyframe = starts_keyframe(codec.codec, packet.payload_slice());
        if keyframe && let Some(l) = track.layer_mut(layer_index) {
            l.keyframes += 1;
        }
        let info = PacketInfo {
            layer: layer_index,
            keyframe,
            marker: packet.marker,
            payload_len: packet.payload_slice().len(),
        };
        let publisher_ext = self
            .sessions
            .get(&session)
            .map(|s| s.config.extensions)
            .unwrap_or_default();
        let ctx = Forward {
            packet: &packet,
            ext_seq,
            codec: &codec,
            info,
            publisher_ext: &publisher_ext,
        };
        let Some(track) = self.tracks.get(&route.track) else {
            return Ok(());
        };
        let subscribers = track.subscribers.len();
        for i in 0..subscribers {
            let Some(id) = self
                .tracks
                .get(&route.track)
                .and_then(|t| t.subscribers.get(i).copied())
            else {
                break;
            };
            self.forward_to(now, route.track, id, &ctx);
        }
        Ok(())
    }

    fn forward_to(
        &mut self,
        now: Instant,
        track_id: TrackId,
        id: SubscriptionId,
        ctx: &Forward<'_>,
    ) {
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        let Some(policy) = sub.policy.as_mut() else {
            return;
        };
        let current = sub.rewriter.current();
        let layer = ctx.info.layer;
        let target = match policy.select(now, &ctx.info, &track.info, current) {
            Selection::Pause => {
                sub.target = None;
                if current == Some(layer) {
                    sub.rewriter.stop();
                }
                return;
            }
            Selection::Layer(t) => t,
        };
        sub.target = Some(target);
        if current == Some(layer) {
            if target != layer {
                request_keyframe(
                    &mut self.outputs,
                    &mut self.stats,
                    &self.sessions,
                    track,
                    target,
                    now,
                    self.config.keyframe_request_interval,
                );
            }
        } else if layer == target {
            if !ctx.info.keyframe {
                request_keyframe(
                    &mut self.outputs,
                    &mut self.stats,
                    &self.sessions,
                    track,
                    target,
                    now,
                    self.config.keyframe_request_interval,
                );
                return;
            }
            let out_ts = switch_timestamp(sub, track, current, layer, ctx, now);
            sub.rewriter
                .switch(layer, ctx.ext_seq, ctx.packet.timestamp, out_ts);
            sub.switches += 1;
            self.events.push_back(RouterEvent::LayerSwitched {
                subscriber: sub.subscriber,
                subscription: id,
                from: current,
                to: layer,
            });
        } else {
            return;
        }
        let Some(rewritten) = sub.rewriter.rewrite(now, ctx.ext_seq, ctx.packet.timestamp) else {
            return;
        };
        let Some(out_pt) = sub.map_codec(ctx.codec).map(|c| c.payload_type) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&sub.subscriber) else {
            return;
        };
        let extensions = map_extensions(
            ctx.packet,
            ctx.publisher_ext,
            &session.config.extensions,
            sub.mid.as_deref(),
            &mut session.transport_cc_seq,
        );
        sub.packets_sent = sub.packets_sent.wrapping_add(1);
        sub.octets_sent = sub.octets_sent.wrapping_add(ctx.info.payload_len as u32);
        self.stats.rtp_forwarded += 1;
        self.outputs.push_back(Output::Rtp {
            session: sub.subscriber,
            subscription: id,
            packet: OutboundRtp {
                marker: ctx.packet.marker,
                payload_type: out_pt,
                sequence_number: rewritten.seq,
                timestamp: rewritten.ts,
                ssrc: sub.ssrc,
                extensions,
                rtx_osn: None,
                payload: ctx.packet.payload(),
            },
        });
    }

    /// A subscriber asked for a keyframe of what it receives.
    pub(super) fn subscriber_keyframe_request(&mut self, now: Instant, id: SubscriptionId) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        sub.keyframe_requests_received += 1;
        self.stats.keyframe_requests_received += 1;
        self.keyframe_for(now, id);
    }

    /// Asks the publisher for a keyframe of what `subscription` receives
    /// (or is waiting to receive), within the per-layer interval: e.g. when
    /// the subscriber's transport has just connected and missed the start.
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        subscription: SubscriptionId,
    ) -> Result<(), Error> {
        if !self.subs.contains_key(&subscription) {
            return Err(Error::UnknownSubscription(subscription));
        }
        self.keyframe_for(now, subscription);
        Ok(())
    }

    fn keyframe_for(&mut self, now: Instant, id: SubscriptionId) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        let Some(layer) = sub.rewriter.current().or(sub.target).or_else(|| {
            // Not started yet: the layer its policy will most likely pick.
            let track = sub.track.and_then(|t| self.tracks.get(&t))?;
            Some(crate::LayerIndex(track.layers.len().checked_sub(1)? as u8))
        }) else {
            return;
        };
        let Some(track) = sub.track.and_then(|t| self.tracks.get_mut(&t)) else {
            return;
        };
        request_keyframe(
            &mut self.outputs,
            &mut self.stats,
            &self.sessions,
            track,
            layer,
            now,
            self.config.keyframe_request_interval,
        );
    }

    /// Carries out what the loss-recovery hook asked for.
    pub(super) fn run_recovery_actions(&mut self, _now: Instant) {
        while let Some(action) = self.actions.pop() {
            match action {
                RecoveryAction::NackUpstream { stream, seqs } => {
                    let Some(track) = self.tracks.get(&stream.track) else {
                        continue;
                    };
                    let Some(media_ssrc) = track.layer(stream.layer).and_then(|l| l.ssrc) else {
                        continue;
                    };
                    let Some(publisher) = self.sessions.get(&track.session) else {
                        continue;
                    };
                    let seqs: Vec<u16> = seqs.iter().map(|s| *s as u16).collect();
                    self.stats.nacks_sent += seqs.len() as u64;
                    self.outputs.push_back(Output::Rtcp {
                        session: track.session,
                        packet: rtcp::nack(publisher.rtcp_ssrc, media_ssrc, &seqs),
                    });
                }
                RecoveryAction::Retransmit {
                    subscription,
                    stream,
                    ext_seq,
                    packet,
                } => self.retransmit(subscription, stream, ext_seq, &packet),
            }
        }
    }

    fn retransmit(
        &mut self,
        id: SubscriptionId,
        stream: StreamKey,
        ext_seq: u64,
        packet: &RtpPacket,
    ) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        let Some(track) = self.tracks.get(&stream.track) else {
            return;
        };
        let Some(codec) = track.codec_by_pt(packet.payload_type) else {
            return;
        };
        let Some(out_codec) = sub.map_codec(codec) else {
            return;
        };
        let Some(seq) = sub.rewriter.to_output(stream.layer, ext_seq) else {
            return;
        };
        let publisher_ext = self
            .sessions
            .get(&track.session)
            .map(|s| s.config.extensions)
            .unwrap_or_default();
        let Some(session) = self.sessions.get_mut(&sub.subscriber) else {
            return;
        };
        let extensions = map_extensions(
            packet,
            &publisher_ext,
            &session.config.extensions,
            sub.mid.as_deref(),
            &mut session.transport_cc_seq,
        );
        let ts = packet.timestamp.wrapping_add(sub.rewriter.ts_delta());
        let (ssrc, payload_type, sequence_number, rtx_osn) =
            match (sub.rtx_ssrc, out_codec.rtx_payload_type) {
                (Some(rtx_ssrc), Some(rtx_pt)) => {
                    let rtx_seq = sub.rtx_seq;
                    sub.rtx_seq = rtx_seq.wrapping_add(1);
                    (rtx_ssrc, rtx_pt, rtx_seq, Some(seq))
                }
                _ => (sub.ssrc, out_codec.payload_type, seq, None),
            };
        self.stats.retransmissions_sent += 1;
        self.outputs.push_back(Output::Rtp {
            session: sub.subscriber,
            subscription: id,
            packet: OutboundRtp {
                marker: packet.marker,
                payload_type,
                sequence_number,
                timestamp: ts,
                ssrc,
                extensions,
                rtx_osn,
                payload: packet.payload(),
            },
        });
    }
}

/// What every subscriber's copy of one packet is built from.
struct Forward<'a> {
    packet: &'a RtpPacket,
    ext_seq: u64,
    codec: &'a CodecConfig,
    info: PacketInfo,
    publisher_ext: &'a ExtensionMap,
}

/// Binds an SSRC that was not signalled to the layer its mid and RID
/// extensions name (Chromium's simulcast announces RIDs, not SSRCs). Only
/// RID-announced layers of this session's own tracks can be bound, once each,
/// so the map stays bounded by the session's layers.
fn bind_by_rid(
    session: &mut crate::session::Session,
    tracks: &mut crate::Map<TrackId, Track>,
    packet: &RtpPacket,
) -> Option<SsrcRoute> {
    let ext = session.config.extensions;
    let mid = packet.extension_of(&ext, ExtensionKind::Mid)?;
    let (rid, rtx) = match packet.extension_of(&ext, ExtensionKind::Rid) {
        Some(rid) => (rid, false),
        None => (packet.extension_of(&ext, ExtensionKind::RepairedRid)?, true),
    };
    let track_id = session.tracks.values().copied().find(|id| {
        tracks
            .get(id)
            .and_then(|t| t.config.mid.as_deref())
            .is_some_and(|m| m.as_bytes() == mid)
    })?;
    let track = tracks.get_mut(&track_id)?;
    let layer = track.layer_by_rid(rid)?;
    let already = session
        .ssrcs
        .values()
        .any(|r| r.track == track_id && r.layer == layer && r.rtx == rtx);
    if already {
        return None;
    }
    let route = SsrcRoute {
        track: track_id,
        layer,
        rtx,
    };
    session.ssrcs.insert(packet.ssrc, route);
    // Keyframe requests and NACKs toward this layer need its SSRC.
    if let Some(l) = track.layer_mut(layer) {
        if rtx {
            l.rtx_ssrc.get_or_insert(packet.ssrc);
        } else {
            l.ssrc.get_or_insert(packet.ssrc);
        }
    }
    Some(route)
}

/// Emits a PLI for `layer` unless one went out within `interval`, or,
/// while that one is still unanswered (no keyframe since), within a
/// half of it: a request or the keyframe's first packet lost on the
/// way must not leave a subscriber — or a whole subtree of a cascade —
/// waiting a full interval per hop.
fn request_keyframe(
    outputs: &mut std::collections::VecDeque<Output>,
    stats: &mut super::RouterStats,
    sessions: &crate::Map<SessionId, crate::session::Session>,
    track: &mut Track,
    layer: LayerIndex,
    now: Instant,
    interval: std::time::Duration,
) {
    let publisher = track.session;
    let kind = track.config.keyframe_request;
    let Some(l) = track.layer_mut(layer) else {
        return;
    };
    let answered = l.keyframes > l.keyframes_at_request;
    let wait = if answered { interval } else { interval / 2 };
    if l.last_keyframe_request
        .is_some_and(|t| now.saturating_duration_since(t) < wait)
    {
        l.keyframe_requests_suppressed += 1;
        stats.keyframe_requests_suppressed += 1;
        return;
    }
    let (Some(media_ssrc), Some(session)) = (l.ssrc, sessions.get(&publisher)) else {
        return;
    };
    l.last_keyframe_request = Some(now);
    l.keyframes_at_request = l.keyframes;
    l.keyframe_requests_sent += 1;
    stats.keyframe_requests_sent += 1;
    let packet = match kind {
        KeyframeRequestKind::Pli => rtcp::pli(session.rtcp_ssrc, media_ssrc),
        KeyframeRequestKind::Fir => {
            l.fir_seq = l.fir_seq.wrapping_add(1);
            rtcp::fir(session.rtcp_ssrc, media_ssrc, l.fir_seq)
        }
    };
    outputs.push_back(Output::Rtcp {
        session: publisher,
        packet,
    });
}

/// The output timestamp of the first packet after a switch to `to`, so the
/// subscriber's timeline continues: through both layers' sender reports when
/// we have them (exact), else from the time elapsed since the last packet.
fn switch_timestamp(
    sub: &Subscription,
    track: &Track,
    from: Option<LayerIndex>,
    to: LayerIndex,
    ctx: &Forward<'_>,
    now: Instant,
) -> u32 {
    let in_ts = ctx.packet.timestamp;
    let Some(last_out) = sub.rewriter.last_out_ts() else {
        // First packet ever: keep the publisher's timeline.
        return in_ts;
    };
    let clock = ctx.codec.clock_rate;
    let via_reports = from.and_then(|from| {
        let old = track.layer(from)?.sender_clock?;
        let new = track.layer(to)?.sender_clock?;
        // Express in_ts in the old layer's RTP timeline through wallclock.
        let new_at_old_sr = new.rtp_at(old.ntp, clock);
        let in_old = old.rtp.wrapping_add(in_ts.wrapping_sub(new_at_old_sr));
        Some(in_old.wrapping_add(sub.rewriter.ts_delta()))
    });
    let candidate = via_reports.unwrap_or_else(|| {
        let elapsed = now.saturating_duration_since(sub.rewriter.last_out_at().unwrap_or(now));
        last_out.wrapping_add(rtp_units(elapsed, clock).max(1))
    });
    // Never go backwards, and a new frame never shares the last timestamp.
    if (candidate.wrapping_sub(last_out) as i32) <= 0 {
        last_out.wrapping_add(1)
    } else {
        candidate
    }
}

/// Rewrites header extensions from the publisher's ids to the subscriber's,
/// dropping what the subscriber did not negotiate and what does not concern
/// it (rid, repaired-rid), writing its mid and its transport-wide sequence.
fn map_extensions(
    packet: &RtpPacket,
    from: &ExtensionMap,
    to: &ExtensionMap,
    mid: Option<&str>,
    transport_cc_seq: &mut u16,
) -> OutboundExtensions {
    let mut out = OutboundExtensions::default();
    if let (Some(id), Some(mid)) = (to.id(ExtensionKind::Mid), mid) {
        out.push(id, mid.as_bytes());
    }
    for kind in [ExtensionKind::AbsSendTime, ExtensionKind::AudioLevel] {
        if let (Some(id), Some(v)) = (to.id(kind), packet.extension_of(from, kind)) {
            out.push(id, v);
        }
    }
    if let Some(id) = to.id(ExtensionKind::TransportCc) {
        *transport_cc_seq = transport_cc_seq.wrapping_add(1);
        out.push(id, &transport_cc_seq.to_be_bytes());
    }
    out
}

/// A duration in RTP clock units (wrapping, as RTP time does).
pub(super) fn rtp_units(d: std::time::Duration, clock_rate: u32) -> u32 {
    (d.as_nanos() * u128::from(clock_rate) / 1_000_000_000) as u32
}
