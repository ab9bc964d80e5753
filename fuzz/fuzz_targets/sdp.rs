//! Arbitrary text through every SDP entry point: the parser, the publish
//! and viewer answers, and the SFU's renegotiation checking a client
//! answer. Nothing panics, and whatever is accepted prints as SDP that
//! parses back to the same description.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sfu_net::sdp::*;

const PUBLISH: &str = include_str!("../../sfu-net/tests/fixtures/chromium156_publish_offer.sdp");

fn local() -> LocalTransport {
    LocalTransport {
        ice: IceParameters {
            ufrag: "sfuUfrag".to_owned(),
            pwd: "sfuPasswordSfuPassword24".to_owned(),
        },
        fingerprint: Fingerprint::of_der(b"fuzz"),
        candidates: vec![std::net::SocketAddr::from(([203, 0, 113, 7], 8443))],
        session_id: 1,
    }
}

fn round_trips(d: &Description) {
    let again = Description::parse(&d.to_sdp());
    // Re-joined lines may pass the line or size bound; nothing else may differ.
    if let Ok(again) = again {
        assert_eq!(&again, d);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let caps = Capabilities::default();
    if let Ok(d) = Description::parse(text) {
        round_trips(&d);
    }
    if let Ok(offer) = PublishOffer::parse(text)
        && let Ok(answer) = offer.answer(&local(), &caps)
    {
        assert_eq!(Description::parse(&answer.to_sdp()).as_ref(), Ok(&answer));
        let _ = offer.tracks(&answer);
    }
    if let Ok(offer) = ViewerOffer::parse(text) {
        let senders: Vec<SectionSender> = offer
            .description()
            .sections
            .iter()
            .filter_map(|s| {
                Some(SectionSender {
                    mid: s.mid.clone(),
                    track: OutgoingTrack {
                        kind: s.kind,
                        codec: s.media_codecs().next()?.clone(),
                        ssrc: 1,
                        rtx_ssrc: Some(2),
                        msid: Msid {
                            stream: "s".into(),
                            track: "t".into(),
                        },
                        cname: "c".into(),
                    },
                })
            })
            .collect();
        if let Ok(answer) = offer.answer(&local(), &caps, &senders) {
            assert_eq!(Description::parse(&answer.to_sdp()).as_ref(), Ok(&answer));
        }
    }
    // The same text as a client's answer to an SFU offer.
    if let Some(neg) = offer_in_flight() {
        let _ = neg.clone().apply_answer(text);
    }
});

/// A session after a Chromium publish, with an SFU offer in flight.
fn offer_in_flight() -> Option<&'static Negotiation> {
    static NEG: OnceLock<Option<Negotiation>> = OnceLock::new();
    NEG.get_or_init(|| {
        let caps = Capabilities::default();
        let publish = PublishOffer::parse(PUBLISH).ok()?;
        let answer = publish.answer(&local(), &caps).ok()?;
        let mut neg = Negotiation::from_publish(&publish, &answer, local(), caps);
        neg.create_offer().ok()?;
        Some(neg)
    })
    .as_ref()
}
