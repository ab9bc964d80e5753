//! Generic NACK entries carry exactly the lost numbers: PID is the first,
//! bit i of BLP is PID + i + 1 (RFC 4585 §6.2.1), with no off-by-one at 16.

// Tests fail loudly on the first unexpected `None` or `Err`.
#![allow(clippy::unwrap_used)]

use sfu_nack::{NackPair, pack_nacks, unpack_nacks};

#[test]
fn known_inputs_pack_to_known_pairs() {
    let pairs: Vec<_> = pack_nacks([100u16, 101, 103, 116, 117]).collect();
    assert_eq!(
        pairs,
        [
            NackPair {
                pid: 100,
                blp: 0x8005
            },
            NackPair { pid: 117, blp: 0 },
        ]
    );
    // Across the wrap: 14 is PID + 16 (the last bit), 15 is PID + 17.
    let pairs: Vec<_> = pack_nacks([65534u16, 65535, 0, 14, 15]).collect();
    assert_eq!(
        pairs,
        [
            NackPair {
                pid: 65534,
                blp: 0x8003
            },
            NackPair { pid: 15, blp: 0 },
        ]
    );
    // Seventeen in a row fill one pair exactly.
    let pairs: Vec<_> = pack_nacks(1000u16..1017).collect();
    assert_eq!(
        pairs,
        [NackPair {
            pid: 1000,
            blp: 0xffff
        }]
    );
}

#[test]
fn known_pairs_unpack_to_known_numbers() {
    let seqs: Vec<u16> = unpack_nacks(&[NackPair {
        pid: 65535,
        blp: 0x8001,
    }])
    .collect();
    assert_eq!(seqs, [65535, 0, 15]);
    let seqs: Vec<u16> = NackPair::new(7).seqs().collect();
    assert_eq!(seqs, [7]);
}

#[test]
fn ascending_runs_round_trip() {
    // A deterministic spread of gaps, across the wrap.
    let mut seq = 65000u16;
    let mut lost = Vec::new();
    for step in 0..2000u32 {
        seq = seq.wrapping_add((step * 7 % 23) as u16 + 1);
        lost.push(seq);
    }
    let pairs: Vec<_> = pack_nacks(lost.iter().copied()).collect();
    let back: Vec<u16> = unpack_nacks(&pairs).collect();
    assert_eq!(back, lost);
    // No pair could have absorbed the next pair's PID.
    for w in pairs.windows(2) {
        assert!(w[1].pid.wrapping_sub(w[0].pid) > 16);
    }
}

#[test]
fn unsorted_input_still_names_every_number() {
    let input = [50u16, 40, 41, 60, 45, 40];
    let pairs: Vec<_> = pack_nacks(input).collect();
    let mut back: Vec<u16> = unpack_nacks(&pairs).collect();
    back.sort_unstable();
    back.dedup();
    let mut want = input.to_vec();
    want.sort_unstable();
    want.dedup();
    assert_eq!(back, want);
}
