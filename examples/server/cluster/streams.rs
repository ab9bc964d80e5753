//! WHIP streams across nodes: a stream published on one node is watched
//! with WHEP on any other. Its tracks are in the directory like a Calls
//! session's, under the app [`WHIP_APP`] (not a valid Calls app id, so the
//! two never meet) with the stream's name as the session.

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use sfu::net::cluster::TrackKey;
use sfu::net::{PullTrack, SessionId};

use super::join::JoinError;
use super::{Cluster, peer};
use crate::http::Reply;

/// The directory's app for WHIP streams.
pub const WHIP_APP: &str = "~whip";

/// `GET /cluster/v1/streams/{stream}`: the tracks a stream publishes here.
#[derive(Debug, Serialize, Deserialize)]
struct StreamTracks {
    tracks: Vec<String>,
}

/// Tracks of one stream, at most (a WHIP offer carries a few).
const MAX_STREAM_TRACKS: usize = 16;

impl Cluster {
    /// A WHIP publisher of `stream` is live here as `session`, publishing
    /// `names`.
    pub fn stream_published(&self, stream: &str, session: SessionId, names: &[String]) {
        self.state().streams.insert(stream.to_owned(), session);
        self.session_recorded(WHIP_APP, stream);
        for name in names {
            self.track_published(WHIP_APP, stream, name);
        }
    }

    /// The stream `session` published, which just closed.
    pub(super) fn stream_closed(&self, session: SessionId) {
        let stream = {
            let mut st = self.state();
            let Some(stream) = st
                .streams
                .iter()
                .find(|(_, s)| **s == session)
                .map(|(n, _)| n.clone())
            else {
                return;
            };
            st.streams.remove(&stream);
            stream
        };
        self.session_ended(WHIP_APP, &stream);
    }

    /// The WHIP publisher of `stream` on this node.
    pub(super) fn stream_session(&self, stream: &str) -> Option<SessionId> {
        self.state().streams.get(stream).copied()
    }

    /// Pulls of every track of `stream`, published on another node, from
    /// this node's place in each track's tree.
    pub async fn stream_pulls(&self, stream: &str) -> Result<Vec<PullTrack>, JoinError> {
        let (name, me) = (stream.to_owned(), self.id().clone());
        let owner = self
            .dir
            .run(move |d, now| {
                let Some(node) = d.session(WHIP_APP, &name)?.filter(|n| *n != me) else {
                    return Ok(None);
                };
                Ok(d.nodes(now, std::slice::from_ref(&node))?.pop().flatten())
            })
            .await?
            .ok_or(JoinError::NotFound)?;
        let path = format!("/cluster/v1/streams/{stream}");
        let (status, body) = peer::call(&owner.http, Method::GET, &path, &self.secret, Vec::new())
            .await
            .map_err(|_| JoinError::NoParent)?;
        if status != StatusCode::OK {
            return Err(JoinError::NotFound);
        }
        let tracks: StreamTracks =
            serde_json::from_slice(&body).map_err(|_| JoinError::NotFound)?;
        let mut pulls = Vec::new();
        for name in tracks.tracks.iter().take(MAX_STREAM_TRACKS) {
            if !crate::ids::valid_track_name(name) {
                continue;
            }
            let key = TrackKey {
                app: WHIP_APP.to_owned(),
                session: stream.to_owned(),
                name: name.clone(),
            };
            let (link, relay) = self.source(&key).await?;
            pulls.push(PullTrack::new(link, relay));
        }
        Ok(pulls)
    }

    /// `GET /cluster/v1/streams/{stream}`.
    pub(super) async fn stream_reply(&self, stream: &str) -> Reply {
        let Some(session) = self.stream_session(stream) else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "stream_not_found",
                format!("no publisher of {stream} here"),
            );
        };
        let tracks = self
            .sfu
            .call(move |n, _| n.published_tracks(session))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        Reply::json(StatusCode::OK, &StreamTracks { tracks })
    }
}
