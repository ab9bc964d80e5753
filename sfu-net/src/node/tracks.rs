//! What a session's tracks are doing, as the Calls API's `GET
//! sessions/{id}` reports them, and closing published tracks that stopped
//! receiving media (Calls garbage-collects a track after 30 s without).
//!
//! Activity is read from the router, which already stamps every layer
//! with its last packet: nothing is kept or updated per packet here.

use std::time::{Duration, Instant};

use sfu_core::{SessionId, SubscriptionStatus};

use crate::Error;

use super::Node;
use super::event::{NodeEvent, TrackEndReason};

/// Idle tracks are looked for at most this often: a track is closed at
/// most this late, and a publisher sending just often enough to stay alive
/// cannot make the node scan its tracks more often.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Which side of a session a track is on (the Calls API's `location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackLocation {
    /// The session publishes it (Calls: `local`).
    Local,
    /// The session pulls it from another session (Calls: `remote`).
    Remote,
}

/// Where a track is in its life (the Calls API's track `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    /// Published and receiving RTP: a layer got a packet within the
    /// router's [`layer_inactive_after`](sfu_core::RouterConfig::layer_inactive_after).
    /// Pulled: the subscription delivers to a connected session and its
    /// published track is active.
    Active,
    /// Published but no RTP lately; pulled, and the published track is
    /// inactive, or the pull ended (its section is idle).
    Inactive,
    /// Published and no RTP yet; pulled, and waiting for the track to be
    /// published, for its first RTP, for the client's answer to the node's
    /// offer, or for the session to connect.
    Initializing,
}

/// One track of a session, from [`Node::session_tracks`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackInfo {
    /// Published by the session or pulled by it.
    pub location: TrackLocation,
    /// The session's m-section carrying it: the publisher's section for a
    /// local track, the section it is delivered into for a remote one.
    /// `None` on a relay link, and for a pull waiting for its track to be
    /// published before the node can offer a section for it.
    pub mid: Option<String>,
    /// The publishing session: the session itself for a local track.
    pub session: SessionId,
    /// The track's name in the publishing session.
    pub name: String,
    /// Active, inactive or initializing.
    pub status: TrackStatus,
}

impl Node {
    /// The tracks of `session`, for the Calls API's `GET sessions/{id}`:
    /// one entry per track it publishes ([`TrackLocation::Local`]), in
    /// publish order, then one per m-section that pulls or pulled a track
    /// ([`TrackLocation::Remote`]), then the pulls still waiting for an
    /// answer to the node's offer or for their track.
    pub fn session_tracks(
        &self,
        now: Instant,
        session: SessionId,
    ) -> Result<Vec<TrackInfo>, Error> {
        let s = self.sessions.get(&session).ok_or(Error::UnknownSession)?;
        let mut tracks = Vec::with_capacity(s.published.len() + s.senders.len());
        for p in &s.published {
            tracks.push(TrackInfo {
                location: TrackLocation::Local,
                mid: p.mid.clone(),
                session,
                name: p.name.clone(),
                status: self.published_status(now, session, &p.name),
            });
        }
        // A relay link has no transport of its own to wait for.
        let connected = s.client().is_none_or(|c| c.connected);
        for sender in &s.senders {
            let Some((publisher, name)) = &sender.pulled else {
                continue;
            };
            let status = match &sender.pull {
                None => TrackStatus::Inactive,
                Some(pull) => match self.router.subscription(pull.subscription) {
                    Some(info) if info.status == SubscriptionStatus::Active && connected => {
                        self.published_status(now, pull.publisher, &pull.name)
                    }
                    Some(_) => TrackStatus::Initializing,
                    None => TrackStatus::Inactive,
                },
            };
            tracks.push(TrackInfo {
                location: TrackLocation::Remote,
                mid: sender.mid.clone(),
                session: *publisher,
                name: name.clone(),
                status,
            });
        }
        let offered = s.client().into_iter().flat_map(|c| &c.offered);
        for o in offered {
            tracks.push(TrackInfo {
                location: TrackLocation::Remote,
                mid: o.sender.mid.clone(),
                session: o.publisher,
                name: o.name.clone(),
                status: TrackStatus::Initializing,
            });
        }
        for w in &s.waiting {
            tracks.push(TrackInfo {
                location: TrackLocation::Remote,
                mid: None,
                session: w.publisher,
                name: w.name.clone(),
                status: TrackStatus::Initializing,
            });
        }
        Ok(tracks)
    }

    /// The status of the published track `(session, name)` now.
    fn published_status(&self, now: Instant, session: SessionId, name: &str) -> TrackStatus {
        let inactive_after = self.router.config().layer_inactive_after;
        match self.router.track_last_packet(session, name) {
            Ok(Some(t)) if now.saturating_duration_since(t) < inactive_after => TrackStatus::Active,
            Ok(None) => TrackStatus::Initializing,
            Ok(Some(_)) | Err(_) => TrackStatus::Inactive,
        }
    }

    /// A client track was just published at `now`: it is idle, unless RTP
    /// arrives, at `now` plus the idle timeout.
    pub(super) fn schedule_idle_check(&mut self, now: Instant) {
        if let Some(at) = now.checked_add(self.track_idle_timeout) {
            self.next_idle_check = Some(self.next_idle_check.map_or(at, |t| t.min(at)));
        }
    }

    /// Closes every client track whose last RTP (or publish, when none
    /// came) is a whole idle timeout old, and schedules the next check at
    /// the earliest moment another one can be: RTP only moves that later.
    pub(super) fn close_idle_tracks(&mut self, now: Instant) {
        let timeout = self.track_idle_timeout;
        let mut idle = Vec::new();
        let mut next: Option<Instant> = None;
        for (&id, s) in &self.sessions {
            // Tracks a relay link publishes are ended by the link's owner.
            if s.client().is_none() {
                continue;
            }
            for p in &s.published {
                let last = self
                    .router
                    .track_last_packet(id, &p.name)
                    .ok()
                    .flatten()
                    .unwrap_or(p.published_at);
                let Some(expiry) = last.checked_add(timeout) else {
                    continue;
                };
                if expiry <= now {
                    idle.push((id, p.name.clone()));
                } else {
                    next = Some(next.map_or(expiry, |t| t.min(expiry)));
                }
            }
        }
        for (session, name) in idle {
            self.close_idle_track(now, session, name);
        }
        self.next_idle_check = next.map(|t| t.max(now + IDLE_CHECK_INTERVAL));
    }

    /// Unpublishes an idle track as a forced close of it would: the
    /// router ends its subscriptions (their sections go idle when the
    /// events are pumped), the publisher's section stays negotiated.
    fn close_idle_track(&mut self, now: Instant, session: SessionId, name: String) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        let Some(i) = s.published.iter().position(|p| p.name == name) else {
            return;
        };
        s.published.remove(i);
        let _ = self.router.close_track(now, session, &name);
        self.tracks_idle_closed += 1;
        self.push_event(NodeEvent::TrackEnded {
            session,
            name,
            reason: TrackEndReason::Idle,
        });
    }
}
