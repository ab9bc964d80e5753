//! The Calls API's JSON shapes (camelCase, as Cloudflare's), and how the
//! node's errors read in them.

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use sfu::net::Error;

use crate::http::Reply;

/// `{type, sdp}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

impl SessionDescription {
    pub fn offer(sdp: String) -> Self {
        Self {
            kind: "offer".into(),
            sdp,
        }
    }

    pub fn answer(sdp: String) -> Self {
        Self {
            kind: "answer".into(),
            sdp,
        }
    }

    pub fn from_node(d: sfu::net::SessionDescription) -> Self {
        match d.kind {
            sfu::net::SdpType::Offer => Self::offer(d.sdp),
            sfu::net::SdpType::Answer => Self::answer(d.sdp),
        }
    }

    pub fn is_offer(&self) -> bool {
        self.kind == "offer"
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    pub session_description: Option<SessionDescription>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSessionReply {
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_description: Option<SessionDescription>,
}

/// `simulcast` of a remote track.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Simulcast {
    pub preferred_rid: Option<String>,
    pub priority_ordering: Option<String>,
    pub rid_not_available: Option<String>,
}

/// One entry of `tracks` in a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    pub location: Option<String>,
    pub mid: Option<String>,
    pub track_name: Option<String>,
    pub session_id: Option<String>,
    pub simulcast: Option<Simulcast>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TracksRequest {
    pub session_description: Option<SessionDescription>,
    #[serde(default)]
    pub tracks: Vec<Track>,
    #[serde(default)]
    pub auto_discover: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseRequest {
    pub session_description: Option<SessionDescription>,
    #[serde(default)]
    pub tracks: Vec<Track>,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Renegotiate {
    pub session_description: SessionDescription,
}

/// One entry of `tracks` in a reply.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl TrackReply {
    pub fn failed(mut self, code: &'static str, description: impl Into<String>) -> Self {
        self.error_code = Some(code);
        self.error_description = Some(description.into());
        self
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracksReply {
    pub requires_immediate_renegotiation: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_description: Option<SessionDescription>,
    pub tracks: Vec<TrackReply>,
}

#[derive(Debug, Serialize)]
pub struct SessionState {
    pub tracks: Vec<TrackReply>,
}

/// The client's offer of a request, if it sent one; an answer where an
/// offer belongs is refused with `refusal`.
pub fn offer_of(
    description: Option<SessionDescription>,
    refusal: &str,
) -> Result<Option<String>, Reply> {
    match description {
        Some(d) if d.is_offer() => Ok(Some(d.sdp)),
        Some(_) => Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            refusal,
        )),
        None => Ok(None),
    }
}

/// Parses a JSON body (Calls clients also send it as `text/plain`).
pub fn parse<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the body is not the expected JSON: {e}"),
        )
    })
}

/// The error code, and HTTP status when the whole request fails, for a
/// node error.
pub fn code_of(e: &Error) -> (StatusCode, &'static str) {
    use Error::*;
    match e {
        Sdp(_) => (StatusCode::BAD_REQUEST, "invalid_sdp"),
        UnknownSession => (StatusCode::NOT_FOUND, "session_not_found"),
        UnknownMid(_) | NoSectionForPull | SectionBusy(_) => {
            (StatusCode::BAD_REQUEST, "invalid_mid")
        }
        KindMismatch(_) | FormatMismatch(_) => (StatusCode::BAD_REQUEST, "incompatible_track"),
        TrackNotPublished(_) => (StatusCode::NOT_FOUND, "track_not_found"),
        DuplicateTrackName(_) => (StatusCode::CONFLICT, "duplicate_track_name"),
        TooManyTracks(_) => (StatusCode::BAD_REQUEST, "too_many_tracks"),
        InvalidRid => (StatusCode::BAD_REQUEST, "invalid_rid"),
        NotNegotiated => (StatusCode::CONFLICT, "not_negotiated"),
        NotAClient => (StatusCode::CONFLICT, "not_a_client"),
        DriverStopped | DriverBusy => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        TooManySessions(_) => (StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions"),
        SessionInUse => (StatusCode::CONFLICT, "session_in_use"),
        _ => (StatusCode::BAD_REQUEST, "rejected"),
    }
}

/// A whole-request failure from a node error.
pub fn fail(e: &Error) -> Reply {
    let (status, code) = code_of(e);
    Reply::error(status, code, e.to_string())
}
