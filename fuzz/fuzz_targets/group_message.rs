//! Arbitrary bytes on the meeting's MLS broadcast channel, as the page
//! server receives them from a member: `GroupMessage::decode` never panics
//! and what it accepts re-encodes to the same bytes; the server's
//! `CallRelay` takes whatever decodes from a few senders (joins, leaves in
//! between) without panicking, and broadcasts at most two messages per
//! input (no amplification).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfu_e2ee::relay::CallRelay;
use sfu_e2ee::wire::{ClientId, GroupMessage};

fuzz_target!(|data: &[u8]| {
    let mut relay = CallRelay::new();
    // Chunks split at 0xFE bytes: several messages from three senders.
    for (i, chunk) in data.split(|b| *b == 0xfe).enumerate() {
        let from = ClientId((i % 3) as u64);
        match GroupMessage::decode(chunk) {
            Ok(msg) => {
                assert_eq!(msg.to_bytes(), chunk);
                let _ = relay.handle_client_message(from, msg);
            }
            Err(_) if chunk.first() == Some(&0) => relay.handle_disconnect(from),
            Err(_) => {}
        }
        let mut n = 0;
        while relay.poll_broadcast().is_some() {
            n += 1;
        }
        assert!(n <= 2, "{n} broadcasts for one input");
    }
});
