//! SDP offer/answer for an SFU that is ICE-lite, the DTLS server, BUNDLE-only
//! and rtcp-mux-only.
//!
//! Text is parsed by the `rtc-sdp` grammar and read into our own
//! [`Description`]; nothing of `rtc-sdp` appears in this API. Four exchanges
//! are covered:
//!
//! - a client publishes ([`PublishOffer`], WHIP): the SFU answers `recvonly`,
//!   one codec per section by [`Capabilities`], simulcast mirrored;
//! - a client views ([`ViewerOffer`], WHEP): the SFU answers `sendonly` with
//!   its own SSRCs, in the codec the published track uses;
//! - the SFU offers ([`Negotiation`]): sections for pulled tracks are
//!   appended, ended ones stopped, mids stay stable;
//! - the client answers that offer ([`Negotiation::apply_answer`]).
//!
//! Every input is untrusted: sizes are bounded by [`limits`] before any
//! parsing, and every refusal is an [`SdpError`] naming what was wrong.

mod answer;
mod attributes;
mod capabilities;
mod codec;
mod error;
pub mod limits;
mod model;
mod negotiation;
mod parse;
mod write;

pub use answer::{
    OutgoingTrack, PublishOffer, PublishedTrack, RemoteTransport, SectionSender, ViewerOffer,
    published_tracks,
};
pub use capabilities::{Capabilities, CodecCapability, LocalTransport};
pub use error::SdpError;
pub use model::{
    Candidate, CandidateKind, CodecName, Description, Direction, ExtensionUri, Fingerprint,
    HeaderExtension, IceParameters, MediaKind, MediaSection, Msid, PayloadFormat, Rid,
    RidDirection, RtcpFeedback, RtxPair, Setup, Simulcast, SimulcastLayer, SsrcInfo,
};
pub use negotiation::{AnsweredOffer, Negotiation, SectionPlan};
