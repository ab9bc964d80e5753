//! The browser's `GroupMessage` codec (`examples/server/pages/e2ee/wire.js`)
//! accepts exactly the byte strings `GroupMessage::decode` accepts, decodes
//! them to the same fields and re-encodes them to the same bytes: random and
//! edge messages (ids past 2^53, 4 096 listed clients, exactly 1 MiB) and
//! hostile ones (every truncation, trailing bytes, wrong type bytes, huge
//! lengths and counts, flipped bytes, noise) are replayed by
//! `tests/browser/e2ee_traces.mjs`, and a flipped verdict must be reported.
//! Run: `cargo test -p sfu-e2ee --release --test group_messages_match_js -- --nocapture`.

mod js_replay;

use std::collections::HashSet;

use serde_json::{Value, json};
use sfu_e2ee::wire::{ClientId, CommitRef, GroupMessage, MAX_LISTED_CLIENTS, MAX_MESSAGE_LEN};
use sfu_testkit::rng::Rng;

use js_replay::{clean, hex, scratch, write_lines};

/// The decoded fields, in the words `e2ee_traces.mjs` uses.
fn describe(m: &GroupMessage) -> String {
    let ids = |l: &[ClientId]| {
        l.iter()
            .map(|c| c.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    match m {
        GroupMessage::JoinRequest {
            client,
            key_package,
        } => format!("join {} {}", client.0, hex(key_package)),
        GroupMessage::Left { client } => format!("left {}", client.0),
        GroupMessage::Found { client } => format!("found {}", client.0),
        GroupMessage::Welcome {
            commit,
            joiners,
            welcome,
        } => format!(
            "welcome {} {} {}",
            hex(&commit.0),
            ids(joiners),
            hex(welcome)
        ),
        GroupMessage::Commit {
            epoch,
            added,
            removed,
            commit,
        } => format!(
            "commit {epoch} {} {} {}",
            ids(added),
            ids(removed),
            hex(commit)
        ),
    }
}

/// Ids where a JS Number would go wrong, and ordinary ones.
fn id(rng: &mut Rng) -> u64 {
    match rng.below(6) {
        0 => 0,
        1 => u64::MAX,
        2 => (1 << 53) + rng.below_u64(3) - 1,
        3 => rng.next_u64(),
        _ => rng.below_u64(1000),
    }
}

fn ids(rng: &mut Rng, n: usize) -> Vec<ClientId> {
    (0..n).map(|_| ClientId(id(rng))).collect()
}

fn random_message(rng: &mut Rng) -> GroupMessage {
    let (len, n, r) = (rng.below(64), rng.below(12), rng.below(4));
    match rng.below(5) {
        0 => GroupMessage::JoinRequest {
            client: ClientId(id(rng)),
            key_package: rng.bytes(len),
        },
        1 => GroupMessage::Left {
            client: ClientId(id(rng)),
        },
        2 => GroupMessage::Found {
            client: ClientId(id(rng)),
        },
        3 => GroupMessage::Welcome {
            commit: CommitRef::of(&rng.bytes(8)),
            joiners: ids(rng, n),
            welcome: rng.bytes(len),
        },
        _ => GroupMessage::Commit {
            epoch: id(rng),
            added: ids(rng, n),
            removed: ids(rng, r),
            commit: rng.bytes(len),
        },
    }
}

/// Messages at the limits: the largest lists, exactly 1 MiB, empty fields.
fn edge_messages() -> Vec<GroupMessage> {
    let many = |n: usize| (0..n as u64).map(ClientId).collect::<Vec<_>>();
    // 1 type byte, 8 of client, 4 of length: a key package filling 1 MiB.
    let full = MAX_MESSAGE_LEN - 13;
    vec![
        GroupMessage::Welcome {
            commit: CommitRef([0xff; 16]),
            joiners: many(MAX_LISTED_CLIENTS),
            welcome: vec![],
        },
        GroupMessage::Welcome {
            commit: CommitRef([0; 16]),
            joiners: many(MAX_LISTED_CLIENTS + 1),
            welcome: vec![1],
        },
        GroupMessage::Commit {
            epoch: u64::MAX,
            added: many(MAX_LISTED_CLIENTS),
            removed: many(MAX_LISTED_CLIENTS),
            commit: vec![],
        },
        GroupMessage::Commit {
            epoch: 0,
            added: vec![],
            removed: many(MAX_LISTED_CLIENTS + 1),
            commit: vec![7],
        },
        GroupMessage::JoinRequest {
            client: ClientId(u64::MAX),
            key_package: vec![0xab; full],
        },
        GroupMessage::JoinRequest {
            client: ClientId(1),
            key_package: vec![0xcd; full + 1],
        },
        GroupMessage::JoinRequest {
            client: ClientId(0),
            key_package: vec![],
        },
    ]
}

/// Damaged copies of one encoding.
fn hostile_variants(rng: &mut Rng, b: &[u8], out: &mut Vec<Vec<u8>>) {
    if b.len() <= 200 {
        for cut in 0..b.len() {
            out.push(b[..cut].to_vec());
        }
    } else {
        out.push(b[..b.len() - 1].to_vec());
        out.push(b[..rng.below(b.len())].to_vec());
    }
    let mut v = b.to_vec();
    v.push(rng.byte());
    out.push(v);
    for t in [0u8, 6, 0x80, 0xff] {
        let mut v = b.to_vec();
        v[0] = t;
        out.push(v);
    }
    if b.len() <= 200 {
        for _ in 0..4 {
            let mut v = b.to_vec();
            let at = rng.below(v.len());
            v[at] ^= 1 << rng.below(8);
            out.push(v);
        }
        // Every length or count field pushed to its maximum: a u32 or u16
        // written at each offset.
        for at in 1..b.len().saturating_sub(1) {
            let mut v = b.to_vec();
            v[at] = 0xff;
            v[at + 1] = 0xff;
            out.push(v);
        }
    }
}

fn cases() -> Vec<(Vec<u8>, Option<String>)> {
    let mut rng = Rng::splitmix(0x3172e);
    let mut inputs: Vec<Vec<u8>> = vec![vec![], vec![1], vec![5; 3]];
    let mut messages = edge_messages();
    messages.extend((0..2000).map(|_| random_message(&mut rng)));
    for (i, m) in messages.iter().enumerate() {
        let b = m.to_bytes();
        if i < 400 {
            hostile_variants(&mut rng, &b, &mut inputs);
        }
        inputs.push(b);
    }
    for _ in 0..2000 {
        let len = rng.below(48);
        let mut b = rng.bytes(len);
        if let Some(t) = b.first_mut() {
            *t = 1 + *t % 6;
        }
        inputs.push(b);
    }
    // A 1 MiB + 1 message of a valid shape, and one with a 4 GiB length.
    inputs.push([&[2u8][..], &[0; MAX_MESSAGE_LEN]].concat());
    inputs.push([&[1u8][..], &[0; 8], &[0xff; 4], &[0; 9]].concat());
    let mut seen = HashSet::new();
    inputs.retain(|b| seen.insert(b.clone()));
    inputs
        .into_iter()
        .map(|b| {
            let verdict = GroupMessage::decode(&b).ok().map(|m| {
                assert_eq!(m.to_bytes(), b, "decode then encode is the identity");
                describe(&m)
            });
            (b, verdict)
        })
        .collect()
}

fn replay(lines: &[String], name: &str) -> (bool, String) {
    let path = scratch("wire", name);
    write_lines(&path, lines);
    let r = js_replay::replay(&path);
    clean(&path);
    r
}

fn line((b, verdict): &(Vec<u8>, Option<String>)) -> String {
    json!({"wire": hex(b), "ok": verdict.is_some(), "desc": verdict}).to_string()
}

#[test]
fn js_codec_accepts_and_rejects_what_rust_does() {
    let cases = cases();
    let accepted = cases.iter().filter(|(_, v)| v.is_some()).count();
    let lines: Vec<String> = cases.iter().map(line).collect();
    let (ok, text) = replay(&lines, "wire.jsonl");
    print!("{text}");
    assert!(ok, "JS codec diverged:\n{text}");
    assert!(text.lines().any(|l| l == "e2ee traces ok"), "{text}");
    let expect = format!(
        "e2ee wire: {} cases, {accepted} accepted, {} rejected",
        cases.len(),
        cases.len() - accepted
    );
    assert!(text.contains(&expect), "expected `{expect}` in:\n{text}");
    assert!(accepted > 2000 && cases.len() - accepted > 10_000);
}

/// A verdict or a decoded field changed in the expectations is reported.
#[test]
fn a_wrong_wire_expectation_is_reported() {
    let cases = cases();
    let (good, bad) = (
        cases
            .iter()
            .position(|(_, v)| v.is_some())
            .expect("some accepted"),
        cases
            .iter()
            .position(|(_, v)| v.is_none())
            .expect("some rejected"),
    );
    type Edit = fn(&mut Value);
    let edits: [(&str, usize, Edit); 3] = [
        ("an accepted case marked rejected", good, |v| {
            v["ok"] = json!(false)
        }),
        ("a rejected case marked accepted", bad, |v| {
            v["ok"] = json!(true);
            v["desc"] = json!("left 0")
        }),
        ("a decoded field", good, |v| {
            let d = v["desc"].as_str().unwrap_or("").to_string();
            v["desc"] = json!(format!("{d}0"))
        }),
    ];
    for (what, at, edit) in edits {
        let mut v: Value = serde_json::from_str(&line(&cases[at])).expect("own json");
        edit(&mut v);
        let lines = vec![line(&cases[0]), v.to_string()];
        let (ok, text) = replay(&lines, "wrong.jsonl");
        assert!(
            !ok && text.contains("divergence"),
            "{what} went unnoticed:\n{text}"
        );
        println!("{what}: {}", text.lines().next().unwrap_or(""));
    }
}
