//! The meeting demo's "page server": rooms as app-level lists of Calls
//! sessions (the Calls API has no rooms), kept here, bounded, and left
//! when a member's session ends.

use std::collections::HashMap;
use std::sync::Mutex;

use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use sfu::net::NodeEvent;

use crate::calls::Sessions;
use crate::http::Reply;
use crate::ids;
use crate::node::Listener;

const MAX_ROOMS: usize = 1024;
const MAX_MEMBERS: usize = 32;
const MAX_MEMBER_TRACKS: usize = 16;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Member {
    session_id: String,
    #[serde(default)]
    tracks: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Room<'a> {
    members: &'a [Member],
}

/// Rooms by name.
#[derive(Default)]
pub struct Rooms {
    rooms: Mutex<HashMap<String, Vec<Member>>>,
}

impl Rooms {
    /// `GET` lists a room, `PUT {sessionId, tracks}` joins or updates it.
    /// `sessions` are the demo app's: only a live one of those may join.
    pub fn handle(
        &self,
        method: &Method,
        room: &str,
        body: &[u8],
        sessions: &Sessions,
        app: &str,
    ) -> Reply {
        if !ids::valid_name(room) {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "not_found",
                "room names are 1-64 letters, digits, '-' or '_'",
            );
        }
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        match *method {
            Method::GET => {
                let members = rooms.get(room).map(Vec::as_slice).unwrap_or(&[]);
                Reply::json(StatusCode::OK, &Room { members })
            }
            Method::PUT => {
                let member: Member = match serde_json::from_slice(body) {
                    Ok(m) => m,
                    Err(e) => {
                        return Reply::error(
                            StatusCode::BAD_REQUEST,
                            "invalid_request",
                            format!("expected {{sessionId, tracks}}: {e}"),
                        );
                    }
                };
                if sessions.get(app, &member.session_id).is_none() {
                    return Reply::error(
                        StatusCode::NOT_FOUND,
                        "session_not_found",
                        "join with a live session of the demo app",
                    );
                }
                if member.tracks.len() > MAX_MEMBER_TRACKS
                    || !member.tracks.iter().all(|t| ids::valid_track_name(t))
                {
                    return Reply::error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        format!("at most {MAX_MEMBER_TRACKS} track names of 1-128 characters"),
                    );
                }
                if !rooms.contains_key(room) && rooms.len() >= MAX_ROOMS {
                    return Reply::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "overloaded",
                        "too many rooms",
                    );
                }
                let members = rooms.entry(room.to_owned()).or_default();
                match members
                    .iter()
                    .position(|m| m.session_id == member.session_id)
                {
                    Some(i) => members[i].tracks = member.tracks,
                    None if members.len() >= MAX_MEMBERS => {
                        return Reply::error(StatusCode::CONFLICT, "room_full", "the room is full");
                    }
                    None => members.push(member),
                }
                Reply::json(StatusCode::OK, &Room { members })
            }
            _ => Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "GET or PUT",
            ),
        }
    }

    /// The room's members: `(session id, track names)`.
    pub fn members(&self, room: &str) -> Vec<(String, Vec<String>)> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .get(room)
            .map(|m| {
                m.iter()
                    .map(|x| (x.session_id.clone(), x.tracks.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes `session_id` from every room.
    pub fn leave(&self, session_id: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.retain(|_, members| {
            members.retain(|m| m.session_id != session_id);
            !members.is_empty()
        });
    }
}

/// Leaves rooms when sessions end: needs the Calls id, which the Calls
/// registry forgets on the same event, so it runs before it.
pub struct RoomsListener {
    pub rooms: std::sync::Arc<Rooms>,
    pub sessions: std::sync::Arc<Sessions>,
}

impl Listener for RoomsListener {
    fn on_event(&self, event: &NodeEvent) {
        if let NodeEvent::Closed { session, .. } = event
            && let Some(id) = self.sessions.calls_id(*session)
        {
            self.rooms.leave(&id);
        }
    }
}
