//! `GET sessions/{id}` and `PUT sessions/{id}/tracks/update`.

use std::sync::Arc;

use hyper::StatusCode;

use sfu::net::{PullTrack, TrackInfo, TrackLocation, TrackStatus};

use super::wire::{SessionState, TrackReply, TracksReply, TracksRequest, code_of, fail, parse};
use super::{Calls, CallsSession, MAX_TRACKS};
use crate::http::Reply;

fn status(s: TrackStatus) -> &'static str {
    match s {
        TrackStatus::Active => "active",
        TrackStatus::Inactive => "inactive",
        TrackStatus::Initializing => "initializing",
    }
}

impl Calls {
    /// `GET sessions/{id}`: every track with its status.
    pub(super) async fn state(&self, session: &CallsSession) -> Reply {
        let node = session.node;
        let tracks = match self
            .sfu
            .try_call(move |n, now| n.session_tracks(now, node))
            .await
        {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        let tracks = tracks
            .into_iter()
            .map(|t: TrackInfo| TrackReply {
                location: Some(match t.location {
                    TrackLocation::Local => "local",
                    TrackLocation::Remote => "remote",
                }),
                mid: t.mid,
                session_id: self.sessions.calls_id(t.session),
                track_name: Some(t.name),
                status: Some(status(t.status)),
                ..TrackReply::default()
            })
            .collect();
        Reply::json(StatusCode::OK, &SessionState { tracks })
    }

    /// `PUT sessions/{id}/tracks/update`: a new simulcast preference for a
    /// pulled track, or another track into the same transceiver (mid).
    pub(super) async fn update_tracks(
        &self,
        app: &str,
        session: &Arc<CallsSession>,
        body: &[u8],
    ) -> Reply {
        let request: TracksRequest = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if request.tracks.len() > MAX_TRACKS {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "too_many_tracks",
                format!("at most {MAX_TRACKS} tracks per request"),
            );
        }
        let node = session.node;
        let _turn = session.lock.lock().await;
        let current = match self
            .sfu
            .try_call(move |n, now| n.session_tracks(now, node))
            .await
        {
            Ok(t) => t,
            Err(e) => return fail(&e),
        };
        let mut replies = Vec::with_capacity(request.tracks.len());
        for t in &request.tracks {
            let base = TrackReply {
                location: Some("remote"),
                mid: t.mid.clone(),
                track_name: t.track_name.clone(),
                session_id: t.session_id.clone(),
                ..TrackReply::default()
            };
            let Some(mid) = t
                .mid
                .clone()
                .filter(|_| t.location.as_deref() != Some("local"))
            else {
                replies.push(base.failed("invalid_request", "update takes remote tracks by mid"));
                continue;
            };
            let Some(here) = current
                .iter()
                .find(|c| c.location == TrackLocation::Remote && c.mid.as_deref() == Some(&mid))
            else {
                replies.push(base.failed("invalid_mid", format!("no pulled track on mid {mid}")));
                continue;
            };
            let rid = t.simulcast.as_ref().and_then(|s| s.preferred_rid.clone());
            // Another track into this transceiver: stop the old pull (no
            // SDP: the section stays), then pull the new one into it.
            let replace = match (&t.session_id, &t.track_name) {
                (Some(id), Some(name)) => {
                    let (publisher, source_name) = match self.source_of(app, id, name).await {
                        Ok(source) => source,
                        Err((code, description)) => {
                            replies.push(base.failed(code, description));
                            continue;
                        }
                    };
                    (publisher != here.session || source_name != here.name)
                        .then(|| PullTrack::new(publisher, source_name).into_mid(mid.clone()))
                }
                _ => None,
            };
            let result = self
                .sfu
                .try_call(move |n, now| match replace {
                    Some(pull) => {
                        n.close_tracks(now, node, std::slice::from_ref(&mid), None, true)?;
                        let outcome = n.pull_tracks(now, node, &[pull.with_layer(rid)], None)?;
                        match outcome.tracks.into_iter().next().map(|o| o.result) {
                            Some(Err(e)) => Err(e),
                            _ => Ok(()),
                        }
                    }
                    None => n.set_layer(node, Some(&mid), rid),
                })
                .await;
            replies.push(match result {
                Ok(()) => base,
                Err(e) => base.failed(code_of(&e).1, e.to_string()),
            });
        }
        Reply::json(
            StatusCode::OK,
            &TracksReply {
                requires_immediate_renegotiation: false,
                session_description: None,
                tracks: replies,
            },
        )
    }
}
