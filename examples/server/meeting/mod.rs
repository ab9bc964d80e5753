//! The end-to-end encrypted meeting's server side: the MLS broadcast
//! channel ([`channel`]), its HTTP face (here), and the browser E2EE
//! module's files.

pub mod channel;
pub mod member;
mod rtp;

use std::time::Instant;

use hyper::{Method, StatusCode};
use serde::Serialize;

use crate::http::Reply;
use crate::ids;
use channel::{ChannelError, Channels, POLL_WAIT, Ticket};
use sfu::e2ee::wire::ClientId;

/// The browser E2EE module, served from the binary (no CDN).
pub fn module_file(name: &str) -> Option<&'static str> {
    Some(match name {
        "sframe.js" => include_str!("../pages/e2ee/sframe.js"),
        "codec.js" => include_str!("../pages/e2ee/codec.js"),
        "frames.js" => include_str!("../pages/e2ee/frames.js"),
        "transform.js" => include_str!("../pages/e2ee/transform.js"),
        "committer.js" => include_str!("../pages/e2ee/committer.js"),
        "wire.js" => include_str!("../pages/e2ee/wire.js"),
        "safety.js" => include_str!("../pages/e2ee/safety.js"),
        "mls.js" => include_str!("../pages/e2ee/mls.js"),
        "e2ee.js" => include_str!("../pages/e2ee/e2ee.js"),
        "vendor/ts-mls.js" => include_str!("../pages/e2ee/vendor/ts-mls.js"),
        _ => return None,
    })
}

/// `…/demo/rooms/{room}/member`: `POST` starts the room's Rust member (or
/// finds it), `GET` reads what it did, `DELETE` takes it out (it also
/// leaves by itself after 30 s alone).
pub fn handle_member(members: Option<&member::Members>, method: &Method, room: &str) -> Reply {
    let Some(members) = members.filter(|_| ids::valid_name(room)) else {
        return Reply::error(StatusCode::NOT_FOUND, "not_found", "no Rust member here");
    };
    match *method {
        Method::POST => match members.start(room) {
            Ok(stats) => Reply::json(StatusCode::OK, &stats),
            Err(e) => Reply::error(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e),
        },
        Method::GET => match members.stats(room) {
            Some(stats) => Reply::json(StatusCode::OK, &stats),
            None => Reply::error(StatusCode::NOT_FOUND, "not_found", "no member in this room"),
        },
        Method::DELETE if members.stop(room) => {
            Reply::bytes(StatusCode::NO_CONTENT, "text/plain", "")
        }
        Method::DELETE => {
            Reply::error(StatusCode::NOT_FOUND, "not_found", "no member in this room")
        }
        _ => Reply::error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "GET, POST or DELETE",
        ),
    }
}

/// Ends the channel leases that ran out, twice a second.
pub fn spawn_sweeper(channels: std::sync::Arc<Channels>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tick.tick().await;
            channels.sweep(Instant::now());
        }
    });
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Connected {
    /// The client id, in decimal (a u64 does not fit a JSON number).
    client: String,
    /// `client.tokenhex`: the bearer for send, poll and leave.
    credential: String,
    after: u64,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `client.tokenhex` → its parts.
fn credential(presented: Option<&[u8]>) -> Option<(ClientId, Vec<u8>)> {
    let s = std::str::from_utf8(presented?).ok()?.trim();
    let (client, token) = s.split_once('.')?;
    Some((ClientId(client.parse().ok()?), unhex(token)?))
}

fn refused(e: &ChannelError) -> Reply {
    match e {
        ChannelError::Full => {
            Reply::error(StatusCode::SERVICE_UNAVAILABLE, "room_full", e.to_string())
        }
        ChannelError::UnknownClient => {
            Reply::error(StatusCode::UNAUTHORIZED, "unknown_client", e.to_string())
        }
        ChannelError::Rejected(_) => {
            Reply::error(StatusCode::BAD_REQUEST, "invalid_message", e.to_string())
        }
        ChannelError::NoRandomness => {
            Reply::error(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
        }
    }
}

fn after_of(query: &str) -> Option<u64> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("after="))
        .and_then(|v| v.parse().ok())
}

/// `…/demo/rooms/{room}/mls/{op}`. The bearer is `Authorization: Bearer
/// client.token`, or the body for `leave` (a page's `sendBeacon` sets no
/// headers).
pub async fn handle(
    channels: &Channels,
    method: &Method,
    room: &str,
    op: &str,
    query: &str,
    bearer: Option<&[u8]>,
    body: &[u8],
) -> Reply {
    if !ids::valid_name(room) {
        return Reply::error(StatusCode::NOT_FOUND, "not_found", "no such room");
    }
    let now = Instant::now();
    match (method, op) {
        (&Method::POST, "connect") => match channels.connect(now, room) {
            Ok(Ticket {
                client,
                token,
                after,
            }) => Reply::json(
                StatusCode::OK,
                &Connected {
                    client: client.0.to_string(),
                    credential: format!("{}.{}", client.0, hex(&token)),
                    after,
                },
            ),
            Err(e) => refused(&e),
        },
        (&Method::POST, "send") => {
            let Some((client, token)) = credential(bearer) else {
                return refused(&ChannelError::UnknownClient);
            };
            match channels.send(room, client, &token, body) {
                Ok(()) => Reply::bytes(StatusCode::NO_CONTENT, "text/plain", ""),
                Err(e) => refused(&e),
            }
        }
        (&Method::POST, "leave") => {
            let Some((client, token)) = credential(bearer).or_else(|| credential(Some(body)))
            else {
                return refused(&ChannelError::UnknownClient);
            };
            match channels.leave(room, client, &token) {
                Ok(()) => Reply::bytes(StatusCode::NO_CONTENT, "text/plain", ""),
                Err(e) => refused(&e),
            }
        }
        (&Method::GET, "poll") => {
            let Some((client, token)) = credential(bearer) else {
                return refused(&ChannelError::UnknownClient);
            };
            let Some(after) = after_of(query) else {
                return Reply::error(StatusCode::BAD_REQUEST, "invalid_request", "?after=N");
            };
            let deadline = tokio::time::Instant::now() + POLL_WAIT;
            loop {
                let (data, notify) =
                    match channels.take(Instant::now(), room, client, &token, after) {
                        Ok(x) => x,
                        Err(e) => return refused(&e),
                    };
                if let Some(d) = data {
                    return Reply::bytes(StatusCode::OK, "application/octet-stream", d);
                }
                // Registered before the next look, so a message sequenced
                // in between still wakes us.
                let woken = notify.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if let Ok((Some(d), _)) = channels.take(Instant::now(), room, client, &token, after)
                {
                    return Reply::bytes(StatusCode::OK, "application/octet-stream", d);
                }
                if tokio::time::timeout_at(deadline, woken).await.is_err() {
                    return Reply::bytes(StatusCode::NO_CONTENT, "application/octet-stream", "");
                }
            }
        }
        _ => Reply::error(
            StatusCode::NOT_FOUND,
            "not_found",
            "connect, send, poll or leave",
        ),
    }
}
