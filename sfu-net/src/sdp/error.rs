//! What can be wrong with a session description, in offer/answer terms.

use super::model::MediaKind;

/// Why a session description was refused.
///
/// Every variant names the protocol element at fault so that a WHIP/WHEP
/// server can return it verbatim as a one-line 4xx reason. Values copied from
/// the peer's text are shortened to [`MAX_QUOTED`](super::limits::MAX_QUOTED)
/// bytes first, so an error never carries an unbounded string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The whole description is larger than we accept.
    #[error("session description is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Size of the rejected text.
        size: usize,
        /// The bound it exceeded.
        limit: usize,
    },
    /// One line is longer than we accept.
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: usize,
        /// The bound it exceeded.
        limit: usize,
    },
    /// A bounded list grew past its limit (m-sections, codecs, rids, ssrcs...).
    #[error("too many {what} (more than {limit})")]
    TooMany {
        /// What was counted, e.g. `"m-sections"`.
        what: &'static str,
        /// The bound it exceeded.
        limit: usize,
    },
    /// The text is not SDP (RFC 8866 grammar), as reported by the grammar layer.
    #[error("invalid SDP syntax: {0}")]
    Syntax(String),
    /// A known attribute has a value that does not follow its grammar.
    #[error("malformed a={attribute}: {value:?}")]
    MalformedAttribute {
        /// The attribute name, e.g. `"rtpmap"`.
        attribute: &'static str,
        /// The offending value, shortened.
        value: String,
    },
    /// No media sections at all.
    #[error("the description has no m-sections")]
    NoMediaSections,
    /// An m-section has no `a=mid`.
    #[error("m-section {index} has no a=mid")]
    MissingMid {
        /// 0-based position of the m-section.
        index: usize,
    },
    /// Two m-sections share a mid.
    #[error("mid {mid:?} is used by more than one m-section")]
    DuplicateMid {
        /// The repeated mid.
        mid: String,
    },
    /// A media type we do not carry (`text`, `message`, ...).
    #[error("unsupported media type {kind:?}")]
    UnsupportedMediaKind {
        /// The `m=` media token.
        kind: String,
    },
    /// An audio/video m-section whose transport is not `UDP/TLS/RTP/SAVPF`.
    #[error("m-section {mid:?} uses transport {proto:?}, only UDP/TLS/RTP/SAVPF is supported")]
    UnsupportedTransport {
        /// The section's mid.
        mid: String,
        /// The `m=` proto field.
        proto: String,
    },
    /// No `a=group:BUNDLE`; every session runs on one 5-tuple (RFC 8843).
    #[error("no a=group:BUNDLE: BUNDLE is required")]
    MissingBundle,
    /// An active m-section is left out of the BUNDLE group.
    #[error("m-section {mid:?} is not in the BUNDLE group")]
    NotBundled {
        /// The section's mid.
        mid: String,
    },
    /// The BUNDLE group names a mid that no m-section has.
    #[error("BUNDLE group names unknown mid {mid:?}")]
    UnknownBundleMid {
        /// The unknown mid.
        mid: String,
    },
    /// An active m-section lacks `a=rtcp-mux` (RFC 5761 is required).
    #[error("m-section {mid:?} has no a=rtcp-mux: rtcp-mux is required")]
    MissingRtcpMux {
        /// The section's mid.
        mid: String,
    },
    /// No `a=ice-ufrag` / `a=ice-pwd`.
    #[error("missing ICE credentials (a=ice-ufrag and a=ice-pwd)")]
    MissingIceCredentials,
    /// ICE credentials outside RFC 8839's length/charset rules.
    #[error("invalid ICE credentials: {reason}")]
    InvalidIceCredentials {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// No `a=fingerprint` for the DTLS certificate.
    #[error("missing a=fingerprint")]
    MissingFingerprint,
    /// A fingerprint with a hash other than sha-256.
    #[error("unsupported fingerprint hash {hash:?}, only sha-256 is supported")]
    UnsupportedFingerprintHash {
        /// The hash function token.
        hash: String,
    },
    /// No `a=setup`.
    #[error("missing a=setup")]
    MissingSetup,
    /// The peer wants a DTLS role we cannot take (we are always the DTLS server).
    #[error("a=setup:{setup} is not supported here: the SFU is always the DTLS server")]
    UnsupportedSetup {
        /// The peer's role token.
        setup: &'static str,
    },
    /// No codec of the m-section is one we can carry.
    #[error("no common codec for {kind} m-section {mid:?}")]
    NoCommonCodec {
        /// The section's mid.
        mid: String,
        /// Audio or video.
        kind: MediaKind,
    },
    /// Every m-section is rejected or not audio/video: nothing to carry.
    #[error("no audio or video m-section to negotiate")]
    NothingToNegotiate,
    /// A mid the description does not have.
    #[error("no m-section has mid {mid:?}")]
    UnknownMid {
        /// The mid asked for.
        mid: String,
    },
    /// A track offered for an m-section of the other media type.
    #[error("m-section {mid:?} is {section}, the track is {track}")]
    TrackKindMismatch {
        /// The section's mid.
        mid: String,
        /// The section's kind.
        section: MediaKind,
        /// The track's kind.
        track: MediaKind,
    },
    /// `a=simulcast` names a rid that has no `a=rid` line.
    #[error("a=simulcast in m-section {mid:?} names rid {rid:?} that has no a=rid line")]
    UnknownRid {
        /// The section's mid.
        mid: String,
        /// The undeclared rid.
        rid: String,
    },
    /// An answer that does not correspond to the offer it claims to answer.
    #[error("answer does not match the offer: {reason}")]
    AnswerMismatch {
        /// What differs, e.g. "m-section 2 has mid \"x\", the offer had \"3\"".
        reason: String,
    },
    /// An operation needs an offer in flight and there is none (or the reverse).
    #[error("negotiation state: {reason}")]
    NegotiationState {
        /// What was expected.
        reason: &'static str,
    },
}

/// Shortens peer-controlled text before it is stored in an error.
pub(crate) fn quote(value: &str) -> String {
    let limit = super::limits::MAX_QUOTED;
    if value.len() <= limit {
        return value.to_owned();
    }
    let mut end = limit;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = value.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

pub(crate) fn malformed(attribute: &'static str, value: &str) -> SdpError {
    SdpError::MalformedAttribute {
        attribute,
        value: quote(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_cuts_on_a_char_boundary() {
        let long = "é".repeat(100);
        let q = quote(&long);
        assert!(q.len() <= super::super::limits::MAX_QUOTED + '…'.len_utf8());
        assert!(q.ends_with('…'));
        assert_eq!(quote("short"), "short");
    }
}
