//! Session identity and what the application tells the endpoint about a
//! session's transport when it creates one (from the offer it just answered).

use std::fmt::Debug;
use std::hash::Hash;

use crate::dtls::Fingerprint;
use crate::ice::IceCredentials;

/// The caller's name for a session on an [`Endpoint`](crate::Endpoint):
/// any small copyable key. The [`Node`](crate::Node) uses the router's
/// [`SessionId`](sfu_core::SessionId), so one id names a session in every
/// layer.
pub trait SessionKey: Copy + Eq + Hash + Debug {}

impl<K: Copy + Eq + Hash + Debug> SessionKey for K {}

/// Everything the endpoint needs to accept one client's transport: our ICE
/// credentials for it and what its SDP said about itself.
#[derive(Debug, Clone)]
pub struct TransportConfig {
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
