//! Session identity and what the application tells the endpoint about a
//! session when it creates one (from the offer it just answered).

use std::fmt;

use crate::dtls::Fingerprint;
use crate::ice::IceCredentials;

/// Identifies one session (one client transport) on an [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session#{}", self.0)
    }
}

/// Everything the endpoint needs to accept one client: our ICE
/// credentials for it and what its SDP said about itself.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our `a=ice-ufrag`/`a=ice-pwd` for this session.
    pub credentials: IceCredentials,
    /// The client's `a=ice-ufrag`; when set, checks must name it in
    /// USERNAME (`ours:theirs`).
    pub remote_ufrag: Option<String>,
    /// The client's `a=fingerprint`; its DTLS certificate must match.
    pub remote_fingerprint: Fingerprint,
    /// SSRCs the client may send (media, RTX, FEC, and its RTCP sender
    /// SSRC). Packets from any other SSRC never reach the decryptor.
    pub remote_ssrcs: Vec<u32>,
    /// Also accept SSRCs the SDP did not list (rid-based simulcast layers,
    /// the RTCP sender SSRC of a recvonly client): a packet from an unknown
    /// SSRC that authenticates on a throwaway context adds its SSRC, up to
    /// [`EndpointConfig::max_remote_ssrcs`](crate::EndpointConfig::max_remote_ssrcs).
    pub learn_remote_ssrcs: bool,
}
