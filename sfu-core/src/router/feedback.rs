//! RTCP termination: feedback from subscribers (keyframe requests, NACKs,
//! receiver reports, REMB) and from publishers (sender reports), and the
//! reports the router generates itself.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Output, Router};
use crate::error::Error;
use crate::receive::SenderClock;
use crate::recovery::{LossRecovery, StreamKey};
use crate::rtcp::{self, Feedback};
use crate::{SessionId, SubscriptionId};
use rtc_rtcp::reception_report::ReceptionReport;

impl<R: LossRecovery> Router<R> {
    /// Feeds one decrypted RTCP compound packet received from `session`.
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        session: SessionId,
        data: Bytes,
    ) -> Result<(), Error> {
        if !self.sessions.contains_key(&session) {
            return Err(Error::UnknownSession(session));
        }
        self.stats.rtcp_received += 1;
        let feedback = match rtcp::parse(&data) {
            Ok(f) => f,
            Err(e) => {
                self.stats.rtcp_malformed += 1;
                return Err(e);
            }
        };
        for item in feedback {
            match item {
                Feedback::SenderReport {
                    ssrc,
                    ntp,
                    rtp,
                    reports,
                } => {
                    self.on_sender_report(now, session, ssrc, ntp, rtp);
                    self.on_reception_reports(now, session, &reports);
                }
                Feedback::ReceiverReport { reports } => {
                    self.on_reception_reports(now, session, &reports)
                }
                Feedback::KeyframeRequest { media_ssrc } => {
                    match self.subscription_by_ssrc(session, media_ssrc) {
                        Some(sub) => self.subscriber_keyframe_request(now, sub),
                        None => self.stats.rtcp_unknown_ssrc += 1,
                    }
                }
                Feedback::Nack { media_ssrc, seqs } => {
                    self.on_nack(now, session, media_ssrc, &seqs)
                }
                Feedback::Remb { bitrate_bps, ssrcs } => {
                    self.on_remb(now, session, bitrate_bps, &ssrcs)
                }
                Feedback::Other => {}
            }
        }
        self.run_recovery_actions(now);
        Ok(())
    }

    fn subscription_by_ssrc(&self, session: SessionId, ssrc: u32) -> Option<SubscriptionId> {
        self.sessions.get(&session)?.out_ssrcs.get(&ssrc).copied()
    }

    /// A publisher's SR: remember its clock, and regenerate an SR for every
    /// subscriber receiving that layer, in the subscriber's timestamps.
    fn on_sender_report(
        &mut self,
        now: Instant,
        session: SessionId,
        ssrc: u32,
        ntp: u64,
        rtp: u32,
    ) {
        let Some(route) = self
            .sessions
            .get(&session)
            .and_then(|s| s.ssrcs.get(&ssrc).copied())
            .filter(|r| !r.rtx)
        else {
            self.stats.rtcp_unknown_ssrc += 1;
            return;
        };
        let Some(track) = self.tracks.get_mut(&route.track) else {
            return;
        };
        if let Some(layer) = track.layer_mut(route.layer) {
            layer.sender_clock = Some(SenderClock {
                ntp,
                rtp,
                received_at: now,
            });
        }
        for id in &track.subscribers {
            let Some(sub) = self.subs.get_mut(id) else {
                continue;
            };
            if sub.rewriter.current() != Some(route.layer) {
                continue;
            }
            let out_rtp = rtp.wrapping_add(sub.rewriter.ts_delta());
            sub.sent_reports.record(ntp, now);
            self.stats.sender_reports_sent += 1;
            self.outputs.push_back(Output::Rtcp {
                session: sub.subscriber,
                packet: rtcp::sender_report(
                    sub.ssrc,
                    ntp,
                    out_rtp,
                    sub.packets_sent,
                    sub.octets_sent,
                ),
            });
        }
    }

    /// Report blocks from a subscriber about what we send it: loss and RTT
    /// for its policy, RTT for the session.
    fn on_reception_reports(
        &mut self,
        now: Instant,
        session: SessionId,
        reports: &[ReceptionReport],
    ) {
        for r in reports.iter().take(31) {
            let Some(id) = self.subscription_by_ssrc(session, r.ssrc) else {
                continue;
            };
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            let rtt = sub
                .sent_reports
                .sent_at(r.last_sender_report)
                .filter(|_| r.last_sender_report != 0)
                .map(|sent| {
                    let dlsr = Duration::from_nanos((u64::from(r.delay) * 1_000_000_000) >> 16);
                    now.saturating_duration_since(sent).saturating_sub(dlsr)
                });
            sub.feedback.fraction_lost = Some(f32::from(r.fraction_lost) / 256.0);
            if rtt.is_some() {
                sub.feedback.rtt = rtt;
            }
            let feedback = sub.feedback;
            if let Some(p) = sub.policy.as_mut() {
                p.on_feedback(now, &feedback);
            }
            if let Some(rtt) = rtt {
                self.recovery.on_subscription_rtt(id, rtt);
            }
            if let (Some(rtt), Some(s)) = (rtt, self.sessions.get_mut(&session)) {
                s.rtt = Some(rtt);
            }
        }
    }

    fn on_nack(&mut self, now: Instant, session: SessionId, media_ssrc: u32, seqs: &[u16]) {
        let Some(id) = self.subscription_by_ssrc(session, media_ssrc) else {
            self.stats.rtcp_unknown_ssrc += 1;
            return;
        };
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        let Some(track) = sub.track else {
            return;
        };
        sub.nacks_received += seqs.len() as u64;
        self.stats.nacks_received += seqs.len() as u64;
        // Group by layer: a NACK can span a switch.
        let mut mapped: Vec<(StreamKey, u64)> = seqs
            .iter()
            .filter_map(|&s| sub.rewriter.to_input(s))
            .map(|(layer, ext)| (StreamKey { track, layer }, ext))
            .collect();
        mapped.sort_by_key(|(k, e)| (k.layer, *e));
        let mut start = 0;
        while start < mapped.len() {
            let key = mapped[start].0;
            let end = mapped[start..]
                .iter()
                .position(|(k, _)| *k != key)
                .map_or(mapped.len(), |n| start + n);
            let lost: Vec<u64> = mapped[start..end].iter().map(|(_, e)| *e).collect();
            self.recovery
                .on_nack(now, id, key, &lost, &mut self.actions);
            start = end;
        }
    }

    /// A bandwidth estimate for the link to `session` from elsewhere (e.g. a
    /// transport-wide congestion controller): its subscriptions' policies
    /// see it as [`crate::ReceiverFeedback::estimate_bps`].
    pub fn set_bandwidth_estimate(
        &mut self,
        now: Instant,
        session: SessionId,
        bps: u64,
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        for id in &s.pulls {
            if let Some(sub) = self.subs.get_mut(id) {
                sub.feedback.estimate_bps = Some(bps);
                let feedback = sub.feedback;
                if let Some(p) = sub.policy.as_mut() {
                    p.on_feedback(now, &feedback);
                }
            }
        }
        Ok(())
    }

    fn on_remb(&mut self, now: Instant, session: SessionId, bitrate_bps: u64, ssrcs: &[u32]) {
        let Some(s) = self.sessions.get(&session) else {
            return;
        };
        let targets: Vec<SubscriptionId> = if ssrcs.is_empty() {
            s.pulls.clone()
        } else {
            ssrcs
                .iter()
                .filter_map(|x| s.out_ssrcs.get(x).copied())
                .collect()
        };
        for id in targets {
            if let Some(sub) = self.subs.get_mut(&id) {
                sub.feedback.remb_bps = Some(bitrate_bps);
                let feedback = sub.feedback;
                if let Some(p) = sub.policy.as_mut() {
                    p.on_feedback(now, &feedback);
                }
            }
        }
    }

    /// Periodic receiver reports to every publisher, one block per stream
    /// that received media since the session started.
    pub(super) fn send_receiver_reports(&mut self, now: Instant) {
        let mut per_session: Vec<(SessionId, Vec<ReceptionReport>)> = Vec::new();
        for track in self.tracks.values_mut() {
            let mut blocks = Vec::new();
            for layer in &mut track.layers {
                let Some(ssrc) = layer.ssrc else { continue };
                let clock = layer.sender_clock;
                if let Some(block) = layer.receive.report(ssrc, clock.as_ref(), now) {
                    blocks.push(block);
                }
            }
            if blocks.is_empty() {
                continue;
            }
            match per_session.iter_mut().find(|(s, _)| *s == track.session) {
                Some((_, b)) => b.extend(blocks),
                None => per_session.push((track.session, blocks)),
            }
        }
        for (session, blocks) in per_session {
            let Some(s) = self.sessions.get(&session) else {
                continue;
            };
            // An RR holds at most 31 blocks.
            for chunk in blocks.chunks(31) {
                self.stats.receiver_reports_sent += 1;
                self.outputs.push_back(Output::Rtcp {
                    session,
                    packet: rtcp::receiver_report(s.rtcp_ssrc, chunk.to_vec()),
                });
            }
        }
    }

    /// Marks layers without recent packets inactive and refreshes bitrates,
    /// so policies fall back when a publisher drops a layer.
    pub(super) fn refresh_layers(&mut self, now: Instant) {
        let after = self.config.layer_inactive_after;
        for track in self.tracks.values_mut() {
            for (layer, info) in track.layers.iter_mut().zip(track.info.iter_mut()) {
                info.active = layer
                    .last_packet_at
                    .is_some_and(|t| now.saturating_duration_since(t) < after);
                info.bitrate_bps = layer.rate.bps(now);
            }
        }
    }
}
