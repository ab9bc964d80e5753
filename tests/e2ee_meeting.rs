//! An end-to-end encrypted meeting on the reference server's demo page
//! with real Chromium pages and the server's Rust member
//! (`examples/server/meeting/member.rs`, linking `sfu-e2ee`):
//! `tests/browser/e2ee_meeting.mjs` in a private network namespace. Three
//! browsers and the Rust member join in turn and all decode each other
//! with matching safety numbers; one leaves and decrypts nothing new; the
//! committer crashes between a Welcome and its Commit and the join
//! completes through the next committer; a page outside the group decodes
//! nothing of what it receives.

mod support;

use support::{example_binary, run_node_unshared};

#[test]
fn three_browsers_and_a_rust_member_hold_an_encrypted_meeting() {
    let _turn = support::one_browser_at_a_time();
    let server = example_binary("server").display().to_string();
    run_node_unshared(
        "ip link set lo up",
        &["e2ee_meeting.mjs", "--server", &server],
        "e2ee meeting ok",
    );
}
