//! The crate's one error type.

/// Everything that can go wrong in `sfu-e2ee`, named in protocol terms.
///
/// Every variant that can be caused by network input is a normal, expected
/// outcome: callers count it and drop the frame or message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SFrame header (RFC 9605 §4.3) ends before its KID or CTR field does.
    #[error("SFrame header truncated")]
    HeaderTruncated,
    /// A cipher suite identifier this crate does not implement.
    #[error("unsupported SFrame cipher suite {0:#06x}")]
    UnsupportedCipherSuite(u16),
    /// Raw key material of the wrong length for the cipher suite.
    #[error("key of {got} bytes, cipher suite needs {expected}")]
    KeyLength {
        /// What the suite needs.
        expected: usize,
        /// What was supplied.
        got: usize,
    },
    /// The ciphertext is shorter than the suite's authentication tag.
    #[error("SFrame ciphertext shorter than its authentication tag")]
    CiphertextTruncated,
    /// The AEAD tag did not verify: wrong key, tampered bytes or tampered clear bytes.
    #[error("SFrame authentication failed")]
    AuthenticationFailed,
    /// No key is installed for the KID in the header.
    #[error("no SFrame key for KID {0}")]
    UnknownKeyId(u64),
    /// No send key is installed yet (we are not in an epoch).
    #[error("no SFrame send key installed")]
    NoSendKey,
    /// The key for this KID belongs to an epoch whose grace period is over.
    #[error("SFrame key for KID {0} expired with its epoch")]
    KeyExpired(u64),
    /// The CTR was already accepted, or is older than the replay window.
    #[error("SFrame CTR {ctr} for KID {kid} replayed or older than the replay window")]
    Replayed {
        /// Key ID of the frame.
        kid: u64,
        /// Counter of the frame.
        ctr: u64,
    },
    /// The sender used every counter value of its key.
    #[error("SFrame counter space exhausted for this key")]
    CounterExhausted,
    /// A frame shorter than its codec's clear bytes (e.g. a VP8 keyframe under 10 bytes).
    #[error("frame shorter than its codec's clear bytes")]
    FrameTooShort,
    /// An H.264 Annex B frame that does not parse (no start code, empty NAL unit).
    #[error("malformed H.264 Annex B frame")]
    MalformedH264,
    /// An AV1 temporal unit whose OBU headers or sizes do not parse.
    #[error("malformed AV1 OBU sequence")]
    MalformedAv1,
    /// A frame with nothing to encrypt (for example only parameter sets).
    #[error("frame has no payload to encrypt")]
    NothingToEncrypt,
    /// A broadcast message of the designated-committer protocol that does not parse.
    #[error("malformed group message")]
    MalformedGroupMessage,
    /// A key package that is not valid MLS, not for our cipher suite, or whose
    /// credential does not name the client that sent the join request.
    #[error("key package rejected: {0}")]
    KeyPackageRejected(&'static str),
    /// A Welcome that does not decrypt with our key package or does not verify.
    #[error("welcome rejected: {0}")]
    WelcomeRejected(String),
    /// A Commit that MLS rejects (wrong epoch, bad signature, bad confirmation).
    #[error("commit rejected: {0}")]
    CommitRejected(String),
    /// An MLS operation on our own state failed (storage, key generation, exporter).
    #[error("MLS failure: {0}")]
    Mls(String),
}
