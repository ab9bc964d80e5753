//! The router: sessions, tracks and subscriptions, and the commands that
//! change them. Media forwarding is in `media`, RTCP termination in
//! `feedback`.

mod feedback;
mod media;
mod output;

pub use output::{
    EndReason, Output, RouterEvent, RouterStats, SubscriptionInfo, SubscriptionStatus,
};

use std::collections::VecDeque;
use std::time::Instant;

use crate::error::{Error, Limit};
use crate::policy::{ForwardAll, Hint, Simulcast};
use crate::recovery::{ForwardNacks, LossRecovery, RecoveryActions};
use crate::rewrite::{ResumePoint, Rewriter};
use crate::session::{PullConfig, Session, SessionConfig, SsrcRoute, Subscription};
use crate::track::{Track, TrackConfig, TrackId};
use crate::{LayerIndex, Map, RouterConfig, SessionId, SubscriptionId};

/// The sans-IO SFU router. See the crate documentation for the run loop.
///
/// `R` is the loss-recovery hook NACKs are handed to: [`ForwardNacks`] (the
/// baseline) unless built with [`Router::with_loss_recovery`].
pub struct Router<R: LossRecovery = ForwardNacks> {
    config: RouterConfig,
    sessions: Map<SessionId, Session>,
    tracks: Map<TrackId, Track>,
    subs: Map<SubscriptionId, Subscription>,
    /// Pulls of tracks not published yet, by (publisher, name).
    waiting: Map<(SessionId, String), Vec<SubscriptionId>>,
    recovery: R,
    actions: RecoveryActions,
    outputs: VecDeque<Output>,
    events: VecDeque<RouterEvent>,
    stats: RouterStats,
    next_session: u64,
    next_track: u32,
    next_subscription: u64,
    epoch: Option<Instant>,
    next_report: Option<Instant>,
    next_transport_feedback: Option<Instant>,
}

impl<R: LossRecovery> std::fmt::Debug for Router<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("sessions", &self.sessions.len())
            .field("tracks", &self.tracks.len())
            .field("subscriptions", &self.subs.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Router<ForwardNacks> {
    /// A router with the baseline loss recovery ([`ForwardNacks`]).
    pub fn new(config: RouterConfig) -> Self {
        Self::with_loss_recovery(config, ForwardNacks)
    }
}

impl<R: LossRecovery> Router<R> {
    /// A router whose NACK handling is `recovery` (e.g. `sfu-nack`'s shield).
    pub fn with_loss_recovery(config: RouterConfig, recovery: R) -> Self {
        Self {
            config,
            sessions: Map::default(),
            tracks: Map::default(),
            subs: Map::default(),
            waiting: Map::default(),
            recovery,
            actions: RecoveryActions::default(),
            outputs: VecDeque::with_capacity(1024),
            events: VecDeque::new(),
            stats: RouterStats::default(),
            next_session: 1,
            next_track: 1,
            next_subscription: 1,
            epoch: None,
            next_report: None,
            next_transport_feedback: None,
        }
    }

    /// The loss-recovery hook, e.g. to read its statistics.
    pub fn loss_recovery(&self) -> &R {
        &self.recovery
    }

    /// The loss-recovery hook, mutably.
    pub fn loss_recovery_mut(&mut self) -> &mut R {
        &mut self.recovery
    }

    /// The configuration.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Number of published tracks (a gauge: O(1), the map's length).
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// Number of subscriptions, active or waiting for their track to be
    /// published (a gauge: O(1), the map's length).
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Round-trip time to a session, estimated from its receiver reports.
    pub fn session_rtt(&self, session: SessionId) -> Option<std::time::Duration> {
        self.sessions.get(&session).and_then(|s| s.rtt)
    }

    fn touch(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
        self.next_report
            .get_or_insert(now + self.config.receiver_report_interval);
        self.next_transport_feedback
            .get_or_insert(now + self.config.transport_feedback_interval);
    }

    /// Creates a session (one client transport).
    pub fn create_session(
        &mut self,
        now: Instant,
        config: SessionConfig,
    ) -> Result<SessionId, Error> {
        if self.sessions.len() >= self.config.limits.max_sessions {
            return Err(Error::LimitExceeded(Limit::Sessions));
        }
        self.touch(now);
        let id = SessionId(self.next_session);
        self.next_session += 1;
        self.sessions.insert(id, Session::new(id, config));
        Ok(id)
    }

    /// Replaces a session's negotiated header extensions (renegotiation).
    pub fn update_session(
        &mut self,
        session: SessionId,
        config: SessionConfig,
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        if let Some(ssrc) = config.rtcp_ssrc {
            s.rtcp_ssrc = ssrc;
        }
        s.config = config;
        Ok(())
    }

    /// Closes a session: its tracks end (every subscriber gets
    /// [`RouterEvent::SubscriptionEnded`]), its pulls end, and so do pulls still
    /// waiting for its tracks.
    pub fn close_session(&mut self, now: Instant, session: SessionId) -> Result<(), Error> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        let names: Vec<String> = s.tracks.keys().cloned().collect();
        let pulls = s.pulls.clone();
        for name in names {
            self.end_track(now, session, &name, EndReason::PublisherClosed);
        }
        for sub in pulls {
            self.end_subscription(sub, EndReason::SubscriberClosed);
        }
        let waiting: Vec<(SessionId, String)> = self
            .waiting
            .keys()
            .filter(|(p, _)| *p == session)
            .cloned()
            .collect();
        for key in waiting {
            for sub in self.waiting.remove(&key).unwrap_or_default() {
                self.end_subscription(sub, EndReason::PublisherClosed);
            }
        }
        self.sessions.remove(&session);
        Ok(())
    }

    /// Publishes a track in `session`. Pulls already waiting for
    /// `(session, name)` become active.
    pub fn publish_track(
        &mut self,
        now: Instant,
        session: SessionId,
        config: TrackConfig,
    ) -> Result<TrackId, Error> {
        config.validate(self.config.limits.max_track_name_len)?;
        let limits = self.config.limits;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        if s.tracks.contains_key(&config.name) {
            return Err(Error::DuplicateTrackName {
                session,
                name: config.name,
            });
        }
        if s.tracks.len() >= limits.max_tracks_per_session {
            return Err(Error::LimitExceeded(Limit::TracksPerSession));
        }
        let announced = config
            .layers
            .iter()
            .flat_map(|l| l.ssrc.into_iter().chain(l.rtx_ssrc));
        let mut seen = Vec::new();
        for ssrc in announced {
            if s.ssrcs.contains_key(&ssrc) || seen.contains(&ssrc) {
                return Err(Error::DuplicateSsrc(ssrc));
            }
            seen.push(ssrc);
        }
        let id = TrackId(self.next_track);
        self.next_track += 1;
        for (i, layer) in config.layers.iter().enumerate() {
            let layer_index = LayerIndex(i as u8);
            if let Some(ssrc) = layer.ssrc {
                s.ssrcs.insert(
                    ssrc,
                    SsrcRoute {
                        track: id,
                        layer: layer_index,
                        rtx: false,
                    },
                );
            }
            if let Some(ssrc) = layer.rtx_ssrc {
                s.ssrcs.insert(
                    ssrc,
                    SsrcRoute {
                        track: id,
                        layer: layer_index,
                        rtx: true,
                    },
                );
            }
        }
        let name = config.name.clone();
        s.tracks.insert(name.clone(), id);
        self.tracks.insert(id, Track::new(session, config));
        self.recovery.on_track_published(id, session);
        self.touch(now);
        self.events.push_back(RouterEvent::TrackPublished {
            session,
            name: name.clone(),
        });
        for sub in self.waiting.remove(&(session, name)).unwrap_or_default() {
            self.activate(sub, id);
        }
        Ok(id)
    }

    /// Closes a published track; every subscriber gets
    /// [`RouterEvent::SubscriptionEnded`].
    pub fn close_track(
        &mut self,
        now: Instant,
        session: SessionId,
        name: &str,
    ) -> Result<(), Error> {
        let s = self
            .sessions
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        if !s.tracks.contains_key(name) {
            return Err(Error::UnknownTrack {
                session,
                name: name.to_owned(),
            });
        }
        self.end_track(now, session, name, EndReason::TrackClosed);
        Ok(())
    }

    /// `session` pulls `(publisher, name)`. Allowed before the track exists:
    /// the subscription waits and turns active when it is published.
    pub fn pull_track(
        &mut self,
        now: Instant,
        session: SessionId,
        publisher: SessionId,
        name: &str,
        config: PullConfig,
    ) -> Result<SubscriptionId, Error> {
        if session == publisher {
            return Err(Error::PullOwnTrack(session));
        }
        if !self.sessions.contains_key(&publisher) {
            return Err(Error::UnknownSession(publisher));
        }
        let limits = self.config.limits;
        let track = self
            .sessions
            .get(&publisher)
            .and_then(|p| p.tracks.get(name).copied());
        if let Some(t) = track.and_then(|t| self.tracks.get(&t))
            && t.subscribers.len() >= limits.max_subscribers_per_track
        {
            return Err(Error::LimitExceeded(Limit::SubscribersPerTrack));
        }
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(Error::UnknownSession(session))?;
        if s.pulls.len() >= limits.max_subscriptions_per_session {
            return Err(Error::LimitExceeded(Limit::SubscriptionsPerSession));
        }
        for ssrc in std::iter::once(config.ssrc).chain(config.rtx_ssrc) {
            if s.out_ssrcs.contains_key(&ssrc) {
                return Err(Error::DuplicateSsrc(ssrc));
            }
        }
        if config.codecs.is_empty() || config.codecs.len() > 16 {
            return Err(Error::InvalidTrack("a pull needs 1 to 16 payload types"));
        }
        let id = SubscriptionId(self.next_subscription);
        self.next_subscription += 1;
        s.pulls.push(id);
        s.out_ssrcs.insert(config.ssrc, id);
        if let Some(rtx) = config.rtx_ssrc {
            s.out_ssrcs.insert(rtx, id);
        }
        let mut rewriter = Rewriter::default();
        if let Some(point) = config.resume {
            rewriter.resume(point);
        }
        self.subs.insert(
            id,
            Subscription {
                subscriber: session,
                publisher,
                track_name: name.to_owned(),
                track: None,
                ssrc: config.ssrc,
                rtx_ssrc: config.rtx_ssrc,
                rtx_seq: 0,
                codecs: config.codecs,
                mid: config.mid,
                policy: config.policy,
                rewriter,
                target: None,
                packets_sent: 0,
                octets_sent: 0,
                switches: 0,
                keyframe_requests_received: 0,
                nacks_received: 0,
                sent_reports: Default::default(),
                feedback: Default::default(),
            },
        );
        self.touch(now);
        match track {
            Some(t) => self.activate(id, t),
            None => self
                .waiting
                .entry((publisher, name.to_owned()))
                .or_default()
                .push(id),
        }
        Ok(id)
    }

    /// Ends a subscription at the application's request.
    pub fn close_subscription(&mut self, subscription: SubscriptionId) -> Result<(), Error> {
        let sub = self
            .subs
            .get(&subscription)
            .ok_or(Error::UnknownSubscription(subscription))?;
        if sub.track.is_none() {
            let key = (sub.publisher, sub.track_name.clone());
            if let Some(list) = self.waiting.get_mut(&key) {
                list.retain(|s| *s != subscription);
                if list.is_empty() {
                    self.waiting.remove(&key);
                }
            }
        }
        self.end_subscription(subscription, EndReason::Unsubscribed);
        Ok(())
    }

    /// Passes an application hint (preferred layer, pause, bitrate cap) to
    /// the subscription's policy. Takes effect from the next packet.
    pub fn hint(&mut self, subscription: SubscriptionId, hint: Hint) -> Result<(), Error> {
        let sub = self
            .subs
            .get_mut(&subscription)
            .ok_or(Error::UnknownSubscription(subscription))?;
        if let Some(p) = sub.policy.as_mut() {
            p.on_hint(&hint);
        } else {
            // Not active yet: remember it for the default policy.
            let mut p: Box<dyn crate::SubscriptionPolicy> = Box::new(Simulcast::default());
            p.on_hint(&hint);
            sub.policy = Some(p);
        }
        Ok(())
    }

    /// A snapshot of a subscription.
    pub fn subscription(&self, subscription: SubscriptionId) -> Option<SubscriptionInfo> {
        let s = self.subs.get(&subscription)?;
        Some(SubscriptionInfo {
            status: if s.track.is_some() {
                SubscriptionStatus::Active
            } else {
                SubscriptionStatus::Waiting
            },
            subscriber: s.subscriber,
            publisher: s.publisher,
            track_name: s.track_name.clone(),
            current_layer: s.rewriter.current(),
            packets_sent: s.packets_sent,
            octets_sent: s.octets_sent,
            switches: s.switches,
            keyframe_requests_received: s.keyframe_requests_received,
            nacks_received: s.nacks_received,
        })
    }

    /// Where `subscription`'s numbering stands now: a pull given this
    /// point continues its sequence numbers and timestamps on the same
    /// SSRC (as the point in [`RouterEvent::SubscriptionEnded`] does).
    pub fn resume_point(&self, subscription: SubscriptionId) -> Option<ResumePoint> {
        self.subs.get(&subscription)?.rewriter.resume_point()
    }

    /// Keyframe requests sent upstream and suppressed for one layer of a
    /// track, as `(sent, suppressed)`.
    pub fn keyframe_requests(&self, track: TrackId, layer: LayerIndex) -> Option<(u64, u64)> {
        let l = self.tracks.get(&track)?.layer(layer)?;
        Some((l.keyframe_requests_sent, l.keyframe_requests_suppressed))
    }

    /// When the track `(session, name)` last received an RTP packet on any
    /// of its layers (`Ok(None)`: none yet). The same instant the layers'
    /// activity ([`RouterConfig::layer_inactive_after`]) is judged by, so an
    /// application can tell a live track from an idle one without keeping
    /// its own per-packet state.
    pub fn track_last_packet(
        &self,
        session: SessionId,
        name: &str,
    ) -> Result<Option<Instant>, Error> {
        let id = self
            .sessions
            .get(&session)
            .ok_or(Error::UnknownSession(session))?
            .tracks
            .get(name)
            .ok_or_else(|| Error::UnknownTrack {
                session,
                name: name.to_owned(),
            })?;
        Ok(self
            .tracks
            .get(id)
            .and_then(|t| t.layers.iter().filter_map(|l| l.last_packet_at).max()))
    }

    /// Next RTP/RTCP packet to send, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<RouterEvent> {
        self.events.pop_front()
    }

    /// When [`Router::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mine = if self.sessions.is_empty() {
            None
        } else {
            [self.next_report, self.next_transport_feedback]
                .into_iter()
                .flatten()
                .min()
        };
        match (mine, self.recovery.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs timers: receiver reports to publishers, layer activity, and the
    /// loss-recovery hook's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        if self.next_report.is_some_and(|t| now >= t) {
            self.send_receiver_reports(now);
            self.refresh_layers(now);
            self.next_report = Some(now + self.config.receiver_report_interval);
        }
        if self.next_transport_feedback.is_some_and(|t| now >= t) {
            for (id, s) in &mut self.sessions {
                if let Some(packet) = s.twcc.report(s.rtcp_ssrc) {
                    self.stats.transport_feedback_sent += 1;
                    self.outputs.push_back(Output::Rtcp {
                        session: *id,
                        packet,
                    });
                }
            }
            self.next_transport_feedback = Some(now + self.config.transport_feedback_interval);
        }
        self.recovery.handle_timeout(now, &mut self.actions);
        self.run_recovery_actions(now);
    }

    fn activate(&mut self, subscription: SubscriptionId, track_id: TrackId) {
        let Some(track) = self.tracks.get_mut(&track_id) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(&subscription) else {
            return;
        };
        sub.track = Some(track_id);
        if sub.policy.is_none() {
            sub.policy = Some(if track.layers.len() > 1 {
                Box::new(Simulcast::default())
            } else {
                Box::new(ForwardAll::default())
            });
        }
        // A single-layer track's policy may be the remembered-hint Simulcast:
        // it picks the highest (only) layer, which is right.
        track.subscribers.push(subscription);
        self.events.push_back(RouterEvent::SubscriptionActive {
            subscriber: sub.subscriber,
            subscription,
        });
    }

    fn end_track(&mut self, _now: Instant, session: SessionId, name: &str, reason: EndReason) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(id) = s.tracks.remove(name) else {
            return;
        };
        s.ssrcs.retain(|_, r| r.track != id);
        if let Some(track) = self.tracks.remove(&id) {
            for sub in track.subscribers {
                self.end_subscription(sub, reason);
            }
        }
        self.recovery.on_track_closed(id);
    }

    fn end_subscription(&mut self, subscription: SubscriptionId, reason: EndReason) {
        let Some(sub) = self.subs.remove(&subscription) else {
            return;
        };
        if let Some(t) = sub.track.and_then(|t| self.tracks.get_mut(&t)) {
            t.subscribers.retain(|s| *s != subscription);
        }
        if let Some(s) = self.sessions.get_mut(&sub.subscriber) {
            s.pulls.retain(|p| *p != subscription);
            s.out_ssrcs.retain(|_, p| *p != subscription);
        }
        self.recovery.on_subscription_closed(subscription);
        self.events.push_back(RouterEvent::SubscriptionEnded {
            subscriber: sub.subscriber,
            subscription,
            reason,
            resume: sub.rewriter.resume_point(),
        });
    }
}
