//! Datagrams a stranger can build to make an SFU work: here a binding
//! request that names a live session (its ufrags are in the SDP) with a
//! valid FINGERPRINT but MESSAGE-INTEGRITY under a key the stranger
//! guessed, so the SFU pays an HMAC before it can drop it. Built with
//! `rtc-stun`, not our codec.

use rtc_stun::attributes::ATTR_USERNAME;
use rtc_stun::fingerprint::FINGERPRINT;
use rtc_stun::integrity::MessageIntegrity;
use rtc_stun::message::{BINDING_REQUEST, Message, Setter, TransactionId};
use rtc_stun::textattrs::TextAttribute;

use crate::rng::Rng;

/// A binding request with USERNAME `sfu_ufrag:peer_ufrag`, a fresh
/// transaction id, and integrity under a wrong password.
pub fn check_with_wrong_integrity(rng: &mut Rng, sfu_ufrag: &str, peer_ufrag: &str) -> Vec<u8> {
    let Ok(provider) = rtc_stun::crypto::default_provider() else {
        return Vec::new();
    };
    let mut tid = [0u8; 12];
    rng.fill(&mut tid);
    let guess: String = (0..24)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect();
    let setters: Vec<Box<dyn Setter + '_>> = vec![
        Box::new(BINDING_REQUEST),
        Box::new(TransactionId(tid)),
        Box::new(TextAttribute::new(
            ATTR_USERNAME,
            format!("{sfu_ufrag}:{peer_ufrag}"),
        )),
        Box::new(MessageIntegrity::new_short_term_integrity_with_provider(
            guess,
            provider.crypto(),
        )),
        Box::new(FINGERPRINT),
    ];
    let mut m = Message::new();
    match m.build(&setters) {
        Ok(()) => m.raw.clone(),
        Err(_) => Vec::new(),
    }
}
