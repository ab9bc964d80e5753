//! `tracks/new`, `tracks/close`, `tracks/update` and the session's state.

use std::sync::Arc;

use hyper::StatusCode;

use sfu::net::{Error, PullTrack, PushTrack, SessionId, TrackState};

use super::wire::{
    CloseRequest, SessionDescription, Track, TrackReply, TracksReply, TracksRequest, code_of, fail,
    offer_of, parse,
};
use super::{Calls, CallsSession, MAX_TRACKS, PULL_WAIT};
use crate::http::Reply;
use crate::ids;

/// A remote track of a request, resolved to the node's ids.
struct Remote {
    index: usize,
    pull: PullTrack,
    calls_id: String,
    /// The track's name as the client asked for it (a track relayed from
    /// another node has another name in its relay session).
    track_name: String,
}

fn too_many(n: usize) -> Option<Reply> {
    (n > MAX_TRACKS).then(|| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "too_many_tracks",
            format!("{n} tracks in one request; the limit is {MAX_TRACKS}"),
        )
    })
}

fn rid_of(t: &Track) -> Option<String> {
    t.simulcast.as_ref().and_then(|s| s.preferred_rid.clone())
}

fn outcome_reply(base: TrackReply, result: &Result<TrackState, Error>) -> TrackReply {
    match result {
        Ok(_) => base,
        Err(e) => base.failed(code_of(e).1, e.to_string()),
    }
}

impl Calls {
    /// Where track `name` of session `id` comes from on this node: its
    /// publisher's session here, or (cluster mode) this node's place in
    /// the track's tree when another node holds the session.
    pub(super) async fn source_of(
        &self,
        app: &str,
        id: &str,
        name: &str,
    ) -> Result<(SessionId, String), (&'static str, String)> {
        if let Some(publisher) = self.sessions.get(app, id) {
            return Ok((publisher.node, name.to_owned()));
        }
        match self.cluster.get() {
            Some(cluster) if ids::is_id(id) && ids::valid_track_name(name) => {
                let key = sfu::net::cluster::TrackKey {
                    app: app.to_owned(),
                    session: id.to_owned(),
                    name: name.to_owned(),
                };
                cluster
                    .source(&key)
                    .await
                    .map_err(|e| (e.code(), e.to_string()))
            }
            _ => Err(("session_not_found", format!("no session {id} in this app"))),
        }
    }

    /// Resolves a remote track: its session must be of the same app.
    /// In cluster mode, a session of another node: its track is pulled
    /// from this node's place in the track's tree.
    async fn resolve(&self, app: &str, index: usize, t: &Track) -> Result<Remote, Box<TrackReply>> {
        let base = TrackReply {
            location: Some("remote"),
            mid: t.mid.clone(),
            track_name: t.track_name.clone(),
            session_id: t.session_id.clone(),
            ..TrackReply::default()
        };
        let (Some(id), Some(name)) = (&t.session_id, &t.track_name) else {
            return Err(Box::new(base.failed(
                "invalid_request",
                "remote tracks need sessionId and trackName",
            )));
        };
        if let Some(sim) = &t.simulcast {
            let known = |v: &Option<String>| {
                v.as_deref()
                    .is_none_or(|v| v == "none" || v == "asciibetical")
            };
            if !known(&sim.priority_ordering) || !known(&sim.rid_not_available) {
                return Err(Box::new(base.failed(
                    "invalid_request",
                    "priorityOrdering and ridNotAvailable are \"none\" or \"asciibetical\"",
                )));
            }
        }
        let (publisher, source_name) = match self.source_of(app, id, name).await {
            Ok(source) => source,
            Err((code, description)) => return Err(Box::new(base.failed(code, description))),
        };
        let mut pull = PullTrack::new(publisher, source_name).with_layer(rid_of(t));
        if let Some(mid) = &t.mid {
            pull = pull.into_mid(mid.clone());
        }
        Ok(Remote {
            index,
            pull,
            calls_id: id.clone(),
            track_name: name.clone(),
        })
    }

    /// Waits (up to [`PULL_WAIT`]) until every pulled track is published,
    /// so one exchange delivers them all; returns those still missing.
    async fn wait_published(&self, remotes: &[Remote]) -> Vec<bool> {
        let deadline = tokio::time::Instant::now() + PULL_WAIT;
        loop {
            let published = self.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            let wanted: Vec<(SessionId, String)> = remotes
                .iter()
                .map(|r| (r.pull.publisher, r.pull.name.clone()))
                .collect();
            let missing = self
                .sfu
                .call(move |n, _| {
                    wanted
                        .iter()
                        .map(|(s, name)| !n.published_tracks(*s).iter().any(|(t, _)| t == name))
                        .collect::<Vec<bool>>()
                })
                .await
                .unwrap_or_else(|_| vec![true; remotes.len()]);
            if !missing.contains(&true)
                || tokio::time::timeout_at(deadline, published).await.is_err()
            {
                return missing;
            }
        }
    }

    /// `POST sessions/{id}/tracks/new`.
    pub(super) async fn new_tracks(
        &self,
        app: &str,
        session: &Arc<CallsSession>,
        body: &[u8],
    ) -> Reply {
        let request: TracksRequest = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        let offer = match offer_of(
            request.session_description.clone(),
            "tracks/new takes an offer (answers go to renegotiate)",
        ) {
            Ok(o) => o,
            Err(reply) => return reply,
        };
        let mut replies: Vec<Option<TrackReply>> = vec![None; request.tracks.len()];
        let mut locals: Vec<(usize, PushTrack)> = Vec::new();
        let mut remotes: Vec<Remote> = Vec::new();
        for (i, t) in request.tracks.iter().enumerate() {
            match t.location.as_deref() {
                Some("local") => {
                    match (&t.mid, &t.track_name) {
                        (Some(mid), Some(name)) if ids::valid_track_name(name) => {
                            locals.push((i, PushTrack::new(mid.clone(), name.clone())))
                        }
                        _ => replies[i] = Some(TrackReply::default().failed(
                            "invalid_request",
                            "local tracks need a mid and a trackName of 1-128 printable characters",
                        )),
                    }
                }
                Some("remote") => match self.resolve(app, i, t).await {
                    Ok(r) => remotes.push(r),
                    Err(reply) => replies[i] = Some(*reply),
                },
                _ => {
                    replies[i] = Some(TrackReply::default().failed(
                        "invalid_request",
                        "location must be \"local\" or \"remote\"",
                    ))
                }
            }
        }
        if let (true, Some(offer)) = (request.auto_discover, &offer) {
            for push in Self::discover(offer) {
                if !locals.iter().any(|(_, p)| p.mid == push.mid) {
                    locals.push((replies.len(), push));
                    replies.push(None);
                }
            }
        }
        if let Some(reply) = too_many(replies.len()) {
            return reply;
        }
        if !locals.is_empty() && !remotes.is_empty() {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "push (local) and pull (remote) tracks go in separate tracks/new requests",
            );
        }
        if !locals.is_empty() {
            let Some(offer) = offer else {
                return Reply::error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "local tracks need the client's offer (sessionDescription)",
                );
            };
            let pushes: Vec<PushTrack> = locals.iter().map(|(_, p)| p.clone()).collect();
            let node = session.node;
            let _turn = session.lock.lock().await;
            let negotiated = match self
                .sfu
                .try_call(move |n, now| n.push_tracks(now, node, &offer, &pushes))
                .await
            {
                Ok(n) => n,
                Err(e) => return fail(&e),
            };
            for ((i, push), outcome) in locals.iter().zip(&negotiated.tracks) {
                let base = TrackReply {
                    location: Some("local"),
                    mid: Some(push.mid.clone()),
                    track_name: Some(push.name.clone()),
                    session_id: Some(session.id.clone()),
                    ..TrackReply::default()
                };
                replies[*i] = Some(outcome_reply(base, &outcome.result));
            }
            return tracks_reply(negotiated.description, replies);
        }
        if remotes.is_empty() {
            return tracks_reply(None, replies);
        }
        // Pulls of tracks not published yet wait for them (without an
        // offer of the client's, whose sections would already carry them).
        if offer.is_none() {
            let missing = self.wait_published(&remotes).await;
            let mut kept = Vec::new();
            for (r, missing) in remotes.into_iter().zip(missing) {
                if missing {
                    replies[r.index] = Some(
                        TrackReply {
                            location: Some("remote"),
                            mid: r.pull.mid.clone(),
                            track_name: Some(r.track_name.clone()),
                            session_id: Some(r.calls_id.clone()),
                            ..TrackReply::default()
                        }
                        .failed(
                            "track_not_found",
                            format!("not published within {} s", PULL_WAIT.as_secs()),
                        ),
                    );
                } else {
                    kept.push(r);
                }
            }
            remotes = kept;
            if remotes.is_empty() {
                return tracks_reply(None, replies);
            }
        }
        let pulls: Vec<PullTrack> = remotes.iter().map(|r| r.pull.clone()).collect();
        let node = session.node;
        let _turn = session.lock.lock().await;
        let negotiated = match self
            .sfu
            .try_call(move |n, now| n.pull_tracks(now, node, &pulls, offer.as_deref()))
            .await
        {
            Ok(n) => n,
            Err(e) => return fail(&e),
        };
        for (r, outcome) in remotes.iter().zip(&negotiated.tracks) {
            let base = TrackReply {
                location: Some("remote"),
                mid: outcome.mid.clone(),
                track_name: Some(r.track_name.clone()),
                session_id: Some(r.calls_id.clone()),
                ..TrackReply::default()
            };
            replies[r.index] = Some(outcome_reply(base, &outcome.result));
        }
        tracks_reply(negotiated.description, replies)
    }

    /// `PUT sessions/{id}/tracks/close`.
    pub(super) async fn close_tracks(&self, session: &CallsSession, body: &[u8]) -> Reply {
        let request: CloseRequest = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if let Some(reply) = too_many(request.tracks.len()) {
            return reply;
        }
        let mids: Vec<String> = request
            .tracks
            .iter()
            .filter_map(|t| t.mid.clone())
            .collect();
        if mids.len() != request.tracks.len() || mids.is_empty() {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "tracks/close takes tracks:[{mid}], at least one",
            );
        }
        let offer = match offer_of(request.session_description, "tracks/close takes an offer") {
            Ok(o) => o,
            Err(reply) => return reply,
        };
        let (node, force) = (session.node, request.force);
        let _turn = session.lock.lock().await;
        let asked = mids.clone();
        let negotiated = match self
            .sfu
            .try_call(move |n, now| n.close_tracks(now, node, &asked, offer.as_deref(), force))
            .await
        {
            Ok(n) => n,
            Err(e) => return fail(&e),
        };
        let replies = mids
            .iter()
            .map(|mid| {
                let base = TrackReply {
                    mid: Some(mid.clone()),
                    ..TrackReply::default()
                };
                let outcome = negotiated
                    .tracks
                    .iter()
                    .find(|o| o.mid.as_deref() == Some(mid.as_str()));
                Some(match outcome {
                    Some(o) => outcome_reply(base, &o.result),
                    None => base,
                })
            })
            .collect();
        tracks_reply(negotiated.description, replies)
    }
}

fn tracks_reply(
    description: Option<sfu::net::SessionDescription>,
    replies: Vec<Option<TrackReply>>,
) -> Reply {
    let description = description.map(SessionDescription::from_node);
    Reply::json(
        StatusCode::OK,
        &TracksReply {
            requires_immediate_renegotiation: description.as_ref().is_some_and(|d| d.is_offer()),
            session_description: description,
            tracks: replies.into_iter().flatten().collect(),
        },
    )
}
