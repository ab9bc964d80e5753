//! `sfu-e2ee` will be the crate clients link for end-to-end encryption:
//! SFrame (RFC 9605) with codec-aware clear bytes, per-sender keys from an
//! MLS (RFC 9420) group, and the designated-committer join protocol as a
//! sans-IO state machine. The SFU itself never needs it.
