//! Garbage, truncated, mutated and huge descriptions never panic anywhere
//! in the SDP path (the `rtc-sdp` grammar, our attribute reading, answers,
//! printing), and what parses still prints and parses back the same.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sdp_support;

use sdp_support::*;
use sfu_net::sdp::limits::*;
use sfu_net::sdp::*;
use sfu_testkit::rng::Rng;

/// Fragments that steer mutations toward the grammar's edges.
const TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "=",
    ":",
    " ",
    ";",
    ",",
    "/",
    "~",
    "*",
    "a=",
    "m=",
    "c=",
    "b=",
    "t=",
    "o=",
    "v=0",
    "0",
    "9",
    "-1",
    "127",
    "128",
    "255",
    "256",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "a=mid:",
    "a=rid:",
    "a=simulcast:send ",
    "a=simulcast:recv ",
    "a=ssrc-group:FID ",
    "a=ssrc:",
    "a=extmap:",
    "a=rtpmap:",
    "a=fmtp:",
    "a=rtcp-fb:",
    "a=rtcp-fb:* nack",
    "a=group:BUNDLE ",
    "a=fingerprint:sha-256 ",
    "a=setup:",
    "a=candidate:",
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:z\r\n",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "apt=",
    "profile-level-id=",
    "\u{0}",
    "\u{7f}",
    "é",
    "\u{1F600}",
    "z=",
    "r=",
    "k=",
    "u=http://[",
    "i=",
];

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
            2 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                // Duplicate a run (repeats lines, sections, attributes).
                let end = (at + rng.below(400)).min(bytes.len());
                let run: Vec<u8> = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
            4 => bytes.truncate(at),
            5 => {
                let digit = b'0' + rng.below(10) as u8;
                bytes.splice(at..at, std::iter::repeat_n(digit, 1 + rng.below(30)));
            }
            _ => {
                let len = rng.below(16);
                let noise: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                bytes.splice(at..at, noise);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn viewer_senders(offer: &ViewerOffer) -> Vec<SectionSender> {
    offer
        .description()
        .sections
        .iter()
        .filter(|s| s.kind != MediaKind::Application)
        .map(|s| SectionSender {
            mid: s.mid.clone(),
            track: OutgoingTrack {
                kind: s.kind,
                codec: s.codecs.first().cloned().unwrap_or(PayloadFormat {
                    pt: 96,
                    name: CodecName::Vp8,
                    clock_rate: 90_000,
                    channels: None,
                    fmtp: None,
                    rtcp_fb: vec![],
                }),
                ssrc: 1,
                rtx_ssrc: Some(2),
                msid: Msid {
                    stream: "s".into(),
                    track: "t".into(),
                },
                cname: "c".into(),
            },
        })
        .collect()
}

/// Runs every entry point on `text`; checks printing is stable for what parses.
/// Returns whether the publish path accepted it.
fn exercise(text: &str, neg: &mut Negotiation) -> bool {
    let caps = Capabilities::default();
    if let Ok(d) = Description::parse(text) {
        let printed = d.to_sdp();
        match Description::parse(&printed) {
            Ok(again) => assert_eq!(again, d, "print/parse changed the description"),
            // What we print is bounded by what we accepted, but lines may
            // grow past the line limit when re-joined; that must be the
            // only way printing can fail to parse.
            Err(e) => assert!(
                matches!(e, SdpError::LineTooLong { .. } | SdpError::TooLarge { .. }),
                "our own print failed to parse: {e}\n{printed}"
            ),
        }
    }
    let mut accepted = false;
    if let Ok(offer) = PublishOffer::parse(text)
        && let Ok(answer) = offer.answer(&local(), &caps)
    {
        accepted = true;
        let printed = answer.to_sdp();
        assert_eq!(Description::parse(&printed).unwrap(), answer);
        let mut after = Negotiation::from_publish(&offer, &answer, local(), caps.clone());
        if let Ok(offer2) = after.create_offer() {
            assert_eq!(Description::parse(&offer2.to_sdp()).unwrap(), offer2);
        }
    }
    if let Ok(offer) = ViewerOffer::parse(text) {
        let senders = viewer_senders(&offer);
        if let Ok(answer) = offer.answer(&local(), &caps, &senders) {
            assert_eq!(Description::parse(&answer.to_sdp()).unwrap(), answer);
        }
    }
    // The same text as a client's answer to an SFU offer in flight.
    if !neg.offer_in_flight() {
        neg.create_offer().unwrap();
    }
    let _ = neg.apply_answer(text);
    accepted
}

fn negotiation() -> Negotiation {
    let offer = PublishOffer::parse(PUBLISH).unwrap();
    let answer = offer.answer(&local(), &Capabilities::default()).unwrap();
    Negotiation::from_publish(&offer, &answer, local(), Capabilities::default())
}

#[test]
fn seeded_mutations_of_chromium_offers_never_panic() {
    let mut rng = Rng::new(0x5d9_e3b1_7f4a_2c61);
    let mut neg = negotiation();
    let mut accepted = 0;
    let iterations = 6000;
    for i in 0..iterations {
        let bases = [PUBLISH, SIMULCAST, WHEP, REAL[0], REAL[1], REAL[2], REAL[3]];
        let base = bases[i % bases.len()];
        let text = mutate(&mut rng, base);
        if exercise(&text, &mut neg) {
            accepted += 1;
        }
    }
    // The loop must reach deep code, not only the syntax check: many
    // single mutations leave an acceptable offer.
    assert!(
        accepted > iterations / 20,
        "only {accepted} of {iterations} mutants accepted"
    );
    assert!(
        accepted < iterations,
        "mutations never broke anything: the mutator is inert"
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
    let mut neg = negotiation();
    for _ in 0..3000 {
        let len = rng.below(600);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!exercise(&text, &mut neg));
        // Garbage behind a valid session header reaches the attribute readers.
        let framed = format!("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n{text}");
        exercise(&framed, &mut neg);
    }
}

#[test]
fn every_truncation_of_every_fixture_is_handled() {
    let mut neg = negotiation();
    for fixture in [PUBLISH, SIMULCAST, WHEP] {
        // Every cut next to a line end (where the grammar changes state),
        // and a stride through the middle of lines.
        let bytes = fixture.as_bytes();
        let near_line_end =
            |e: usize| (e.saturating_sub(2)..e + 2).any(|i| bytes.get(i) == Some(&b'\n'));
        for end in (0..fixture.len()).filter(|e| near_line_end(*e) || e % 17 == 0) {
            exercise(&fixture[..end], &mut neg);
        }
        // The full fixture is accepted (the loop above reached the end).
        assert!(exercise(fixture, &mut neg) || std::ptr::eq(fixture, WHEP));
    }
}

#[test]
fn huge_inputs_are_refused_by_size_before_parsing() {
    let mut neg = negotiation();
    let huge = "a".repeat(MAX_SDP_BYTES * 8);
    assert!(matches!(
        Description::parse(&huge),
        Err(SdpError::TooLarge { .. })
    ));
    let long_line = format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns={}\r\n",
        "x".repeat(MAX_LINE_BYTES * 4)
    );
    assert!(matches!(
        Description::parse(&long_line),
        Err(SdpError::LineTooLong { line: 3, .. })
    ));
    // Many short lines within the size bound.
    let many = format!(
        "{PUBLISH}{}",
        "a=x\r\n".repeat((MAX_SDP_BYTES - PUBLISH.len()) / 5 - 1)
    );
    assert!(many.len() <= MAX_SDP_BYTES);
    assert!(exercise(&many, &mut neg));
    // One line full of payload types, ids and rids near every bound.
    let pts: String = (0..200).map(|p| format!(" {p}")).collect();
    let wide = PUBLISH.replacen(
        "m=audio 50123 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        &format!("m=audio 50123 UDP/TLS/RTP/SAVPF{pts}"),
        1,
    );
    assert!(matches!(
        Description::parse(&wide),
        Err(SdpError::TooMany { .. })
    ));
}

#[test]
fn control_characters_inside_lines_are_refused() {
    for bad in ["\r", "\u{0}", "\u{1b}", "\u{7f}", "\u{85}"] {
        let sdp = PUBLISH.replacen("minptime=10", &format!("minptime{bad}=10"), 1);
        assert!(
            matches!(Description::parse(&sdp), Err(SdpError::Syntax(_))),
            "{bad:?}"
        );
    }
    // Tabs are not SDP either (RFC 8866 separates fields with one space).
    let tab = PUBLISH.replacen("a=mid:0", "a=mid:\t0", 1);
    assert!(Description::parse(&tab).is_err());
}
