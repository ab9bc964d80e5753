//! Bounds on everything a peer's session description can make us store.
//!
//! The figures leave room for what browsers really send (a Chromium video
//! m-section offers about 40 payload types and a dozen header extensions)
//! while keeping the worst case for one description well under a megabyte of
//! parsed state.

/// Largest session description accepted, in bytes. A 64-section
/// renegotiation answer from Chromium is about 100 KiB.
pub const MAX_SDP_BYTES: usize = 128 * 1024;
/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 2048;
/// Most `m=` sections in one description.
pub const MAX_MEDIA_SECTIONS: usize = 64;
/// Most payload types in one m-section.
pub const MAX_CODECS: usize = 64;
/// Most `a=rtcp-fb` entries for one payload type.
pub const MAX_RTCP_FB: usize = 16;
/// Most `a=extmap` lines in one m-section.
pub const MAX_EXTENSIONS: usize = 32;
/// Most distinct SSRCs in one m-section.
pub const MAX_SSRCS: usize = 32;
/// Most `a=ssrc-group:FID` pairs in one m-section.
pub const MAX_RTX_PAIRS: usize = 16;
/// Most `a=rid` lines (simulcast layers) in one m-section.
pub const MAX_RIDS: usize = 8;
/// Most `a=candidate` lines kept for one m-section (extra ones are ignored:
/// an ICE-lite agent learns addresses from checks, not from candidates).
pub const MAX_CANDIDATES: usize = 16;
/// Longest token we keep (mid, rid, cname, msid ids, ufrag, fmtp).
pub const MAX_TOKEN_BYTES: usize = 256;
/// Longest peer text quoted inside an error.
pub const MAX_QUOTED: usize = 64;
