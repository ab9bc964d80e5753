//! Shared by the `sdp_*` tests: fixtures and the SFU's transport parameters.
//!
//! `fixtures/chromium_*.sdp` follow Chromium's exact layout, attribute for
//! attribute, with values chosen for the assertions (fixed ufrag, SSRCs,
//! an H.265 entry); `fixtures/chromium156_*.sdp` were captured verbatim from
//! Chromium 156 by `fixtures/capture/capture.js`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use sfu_net::sdp::{Fingerprint, IceParameters, LocalTransport};

pub const PUBLISH: &str = include_str!("../fixtures/chromium_publish_offer.sdp");
pub const SIMULCAST: &str = include_str!("../fixtures/chromium_simulcast_offer.sdp");
pub const WHEP: &str = include_str!("../fixtures/chromium_whep_offer.sdp");
/// Captured from Chromium 156 (see `fixtures/capture/`).
pub const REAL: [&str; 4] = [
    include_str!("../fixtures/chromium156_publish_offer.sdp"),
    include_str!("../fixtures/chromium156_simulcast_offer.sdp"),
    include_str!("../fixtures/chromium156_whep_offer.sdp"),
    include_str!("../fixtures/chromium156_renegotiation_answer_1.sdp"),
];

/// The fingerprint written in every fixture.
pub const CLIENT_FINGERPRINT: &str = "A5:4D:CA:18:25:30:BB:1D:6D:13:2C:DE:D6:23:7B:2E:D9:1E:3F:72:1F:CB:19:71:17:44:94:D6:49:3C:9D:5C";

pub fn client_fingerprint() -> Fingerprint {
    Fingerprint::from_sdp("sha-256", CLIENT_FINGERPRINT).unwrap()
}

/// The SFU side: announced address 203.0.113.7:8443 (a NAT'd public IP,
/// not the bind address).
pub fn local() -> LocalTransport {
    LocalTransport {
        ice: IceParameters {
            ufrag: "sfuUfrag".to_owned(),
            pwd: "sfuPasswordSfuPassword24".to_owned(),
        },
        fingerprint: Fingerprint::of_der(b"not a real certificate, only its hash matters here"),
        candidates: vec!["203.0.113.7:8443".parse().unwrap()],
        session_id: 6_254_117_263_991_155_006,
    }
}

/// Replaces one whole line (without its CRLF) of a fixture.
pub fn replace_line(sdp: &str, from: &str, to: &str) -> String {
    let out = sdp.replace(&format!("{from}\r\n"), &format!("{to}\r\n"));
    assert_ne!(out, sdp, "fixture has no line {from:?}");
    out
}

/// Removes every line starting with `prefix`.
pub fn drop_lines(sdp: &str, prefix: &str) -> String {
    let out: String = sdp
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with(prefix))
        .collect();
    assert_ne!(out, sdp, "fixture has no line starting {prefix:?}");
    out
}
