//! Relay links between SFU nodes (a cascade): plain RTP/RTCP over UDP
//! between two drivers, one socket per link, no ICE or DTLS, SRTP when the
//! application exchanged keys (as mediasoup's PipeTransport). Each node's
//! router and NACK shield treat the link as one more session, so losses on
//! the link are repaired on the link.

use std::net::{SocketAddr, UdpSocket};

use bytes::Bytes;

use crate::demux::{DatagramKind, classify};
use crate::sdp;
use crate::srtp::{DtlsRole, SrtpSession};
use crate::{Error, SrtpProfile};

/// SRTP keys for a relay link, exchanged by the application out of band:
/// keying material laid out as DTLS-SRTP exporter output (RFC 5764 §4.2).
/// The sending node takes the client half, the receiving node the server half.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayKeys {
    /// The SRTP profile.
    pub profile: SrtpProfile,
    /// `2 * (key + salt)` bytes.
    pub material: Vec<u8>,
}

impl std::fmt::Debug for RelayKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl RelayKeys {
    /// Fresh keys from the OS generator.
    pub fn generate(profile: SrtpProfile) -> Result<Self, Error> {
        let mut material = vec![0u8; profile.keying_material_len()];
        getrandom::fill(&mut material)
            .map_err(|e| Error::SrtpKeying(format!("no OS randomness: {e}")))?;
        Ok(Self { profile, material })
    }
}

/// One track carried by a relay link, as the receiving node must publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayTrack {
    /// The track's name on the sending node (kept on the receiving node).
    pub name: String,
    /// Audio or video.
    pub kind: sdp::MediaKind,
    /// The codec, as the original publisher negotiated it.
    pub codec: sdp::Codec,
    /// Its RTX payload type, if any.
    pub rtx_pt: Option<u8>,
    /// The SSRC the link carries it on.
    pub ssrc: u32,
    /// The RTX SSRC on the link.
    pub rtx_ssrc: Option<u32>,
}

/// What the sending node tells the receiving node about a new link.
#[derive(Debug, Clone)]
pub struct RelayOffer {
    /// The sending node's session for the link.
    pub session: sfu_core::SessionId,
    /// Where the sending node's link socket is.
    pub address: SocketAddr,
    /// The tracks it will send.
    pub tracks: Vec<RelayTrack>,
}

/// The socket and crypto of one link.
pub(super) struct RelayLink {
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub remote: Option<SocketAddr>,
    srtp: Option<SrtpSession>,
    pub dropped: u64,
}

impl RelayLink {
    pub fn bind(
        bind: SocketAddr,
        keys: Option<&RelayKeys>,
        sending: bool,
        remote_ssrcs: &[u32],
    ) -> Result<Self, super::DriverError> {
        let socket = UdpSocket::bind(bind)?;
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let srtp = match keys {
            Some(k) => {
                let role = if sending {
                    DtlsRole::Client
                } else {
                    DtlsRole::Server
                };
                let mut s = SrtpSession::from_dtls_keying(&k.material, k.profile, role)?;
                for ssrc in remote_ssrcs {
                    s.allow_remote_ssrc(*ssrc);
                }
                // The other node's RTCP sender SSRCs are not listed anywhere.
                s.learn_remote_ssrcs(remote_ssrcs.len() + 8);
                Some(s)
            }
            None => None,
        };
        Ok(Self {
            socket,
            local,
            remote: None,
            srtp,
            dropped: 0,
        })
    }

    /// A datagram from the link, decrypted; `None` (counted) for anything
    /// not from the other node or not valid RTP/RTCP.
    pub fn receive(&mut self, from: SocketAddr, data: &[u8]) -> Option<(bool, Bytes)> {
        if Some(from) != self.remote {
            self.dropped += 1;
            return None;
        }
        let rtcp = match classify(data) {
            DatagramKind::Rtp => false,
            DatagramKind::Rtcp => true,
            _ => {
                self.dropped += 1;
                return None;
            }
        };
        let packet = match self.srtp.as_mut() {
            None => Ok(Bytes::copy_from_slice(data)),
            Some(s) if rtcp => s.unprotect_rtcp(data),
            Some(s) => s.unprotect_rtp(data),
        };
        match packet {
            Ok(p) => Some((rtcp, p)),
            Err(_) => {
                self.dropped += 1;
                None
            }
        }
    }

    /// Encrypts (when keyed) a packet for the other node.
    pub fn seal(&mut self, packet: &[u8], rtcp: bool) -> Option<Bytes> {
        match self.srtp.as_mut() {
            None => Some(Bytes::copy_from_slice(packet)),
            Some(s) if rtcp => s.protect_rtcp(packet).ok(),
            Some(s) => s.protect_rtp(packet).ok(),
        }
    }
}
