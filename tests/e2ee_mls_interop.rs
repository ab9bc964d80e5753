//! The browser's MLS keying (`examples/server/pages/e2ee/mls.js`, ts-mls in
//! headless Chromium) and the Rust one (`sfu::e2ee::mls::MlsKeying`,
//! openmls) in the same groups, both ways: Welcomes, Add/Remove Commits and
//! self-updates made by one side and applied by the other, and at every
//! epoch every member reporting the same epoch, roster, safety number,
//! exporter output and per-sender SFrame base keys (the Rust side's own
//! `epoch_keys` open what those base keys seal). Key packages naming
//! another client and tampered Commits are refused by both.
//!
//! The test drives; `tests/browser/e2ee_mls.mjs` runs the page and obeys it,
//! one JSON line per step over its stdin and stdout, inside a private
//! network namespace.

mod support;

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};
use sfu::e2ee::Error;
use sfu::e2ee::committer::{CommitOutcome, GroupKeying};
use sfu::e2ee::mls::{KidLayout, MlsKeying, SFRAME_EXPORTER_LABEL};
use sfu::e2ee::sframe::{CipherSuite, Header, SframeKey};
use sfu::e2ee::wire::ClientId;

/// The SFrame suite calls use; its hash length is the base key length.
const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;
/// An exporter label of our own, so the check covers more than SFrame's.
const CHECK_LABEL: &str = "sfu-e2ee interop check";

fn big(n: u64) -> Value {
    json!({ "big": n.to_string() })
}

fn bytes(b: &[u8]) -> Value {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    json!({ "hex": hex })
}

fn as_bytes(v: &Value) -> Vec<u8> {
    let hex = v["hex"]
        .as_str()
        .unwrap_or_else(|| panic!("not bytes: {v}"));
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn as_big(v: &Value) -> u64 {
    v["big"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a BigInt: {v}"))
}

fn as_u32(v: &Value) -> u32 {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or_else(|| panic!("not a leaf index: {v}"))
}

/// The same message with its last byte (inside the AEAD tag of a
/// PrivateMessage) flipped.
fn tampered(msg: &[u8]) -> Vec<u8> {
    let mut t = msg.to_vec();
    if let Some(b) = t.last_mut() {
        *b ^= 0x01;
    }
    t
}

/// What a JS method threw: its `code` (the Rust error variant's name) and message.
#[derive(Debug)]
struct Thrown {
    code: Option<String>,
    message: String,
}

/// The node script and its page.
struct Page {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    seq: u64,
}

impl Page {
    fn start() -> Self {
        support::prepare_peers();
        let mut child = Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && exec node e2ee_mls.mjs",
            ])
            .current_dir(support::root().join("tests/browser"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("unshare (util-linux) must be installed and the tests run as root");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut page = Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seq: 0,
        };
        let first = page.line();
        assert_eq!(first, "e2ee_mls: ready", "the page did not come up");
        page
    }

    fn line(&mut self) -> String {
        match self.lines.next() {
            Some(Ok(l)) => l,
            other => panic!("e2ee_mls.mjs ended early: {other:?} (its stderr is above)"),
        }
    }

    /// `member.method(...args)` in the page.
    fn call(&mut self, member: &str, method: &str, args: Vec<Value>) -> Result<Value, Thrown> {
        self.seq += 1;
        let req = json!({ "seq": self.seq, "member": member, "method": method, "args": args });
        writeln!(self.stdin, "{req}").expect("write to e2ee_mls.mjs");
        self.stdin.flush().expect("flush to e2ee_mls.mjs");
        let reply: Value = serde_json::from_str(&self.line()).expect("a JSON reply");
        assert_eq!(reply["seq"], json!(self.seq), "reply out of step: {reply}");
        if reply["ok"] == json!(true) {
            Ok(reply["value"].clone())
        } else {
            Err(Thrown {
                code: reply["code"].as_str().map(str::to_owned),
                message: reply["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    fn ok(&mut self, member: &str, method: &str, args: Vec<Value>) -> Value {
        self.call(member, method, args)
            .unwrap_or_else(|e| panic!("{member}.{method}: {e:?}"))
    }

    /// `member.method(...)` must throw an Error with `code`.
    fn refuses(&mut self, member: &str, method: &str, args: Vec<Value>, code: &str) {
        match self.call(member, method, args) {
            Err(t) if t.code.as_deref() == Some(code) => {
                println!("{member}.{method}: {code} ({})", first_line(&t.message))
            }
            other => panic!("{member}.{method} should throw {code}: {other:?}"),
        }
    }

    fn create(&mut self, member: &str, client: u64) {
        self.ok(member, "create", vec![big(client)]);
    }

    fn key_package(&mut self, member: &str) -> Vec<u8> {
        as_bytes(&self.ok(member, "keyPackage", vec![]))
    }

    /// `member.commit(adds, removes)`: the Commit and the Welcome, if any.
    fn commit(
        &mut self,
        member: &str,
        adds: &[(u64, &[u8])],
        removes: &[u32],
    ) -> (Vec<u8>, Option<Vec<u8>>) {
        let adds: Vec<Value> = adds
            .iter()
            .map(|(c, kp)| json!([big(*c), bytes(kp)]))
            .collect();
        let r = self.ok(member, "commit", vec![json!(adds), json!(removes)]);
        let welcome = (!r["welcome"].is_null()).then(|| as_bytes(&r["welcome"]));
        (as_bytes(&r["commit"]), welcome)
    }

    fn apply(&mut self, member: &str, commit: &[u8]) -> String {
        let r = self.ok(member, "applyCommit", vec![bytes(commit)]);
        r.as_str().unwrap_or_default().to_owned()
    }

    /// Sends `quit` and checks the script ends cleanly.
    fn finish(mut self) {
        writeln!(self.stdin, "{}", json!({ "quit": true })).expect("write quit");
        self.stdin.flush().expect("flush quit");
        let last = self.line();
        assert_eq!(last, "e2ee_mls: ok");
        let status = self.child.wait().expect("wait for e2ee_mls.mjs");
        assert!(status.success(), "e2ee_mls.mjs: {status}");
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // After finish() the child is gone; on a panic it may not be.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// What every member of an epoch must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EpochView {
    epoch: u64,
    roster: Vec<(u32, u64)>,
    safety: String,
    exporter: Vec<u8>,
    /// `(leaf, KID, base key)` by leaf.
    base_keys: Vec<(u32, u64, Vec<u8>)>,
}

/// A Rust member's view, its base keys as mls.rs derives them, after
/// checking that its own `epoch_keys` are those base keys' SFrame keys.
fn rust_view(m: &MlsKeying) -> EpochView {
    assert!(m.in_group());
    let layout = KidLayout::default();
    let epoch = m.epoch();
    let secret = m
        .export(SFRAME_EXPORTER_LABEL, SUITE.hash_len())
        .expect("export");
    let roster: Vec<(u32, u64)> = m.roster().into_iter().map(|(l, c)| (l, c.0)).collect();
    let base_keys: Vec<(u32, u64, Vec<u8>)> = roster
        .iter()
        .map(|&(leaf, _)| {
            let mut base = vec![0u8; SUITE.hash_len()];
            SUITE
                .hkdf_expand(&secret, &leaf.to_be_bytes(), &mut base)
                .expect("hkdf");
            (leaf, layout.kid(epoch, leaf).expect("kid"), base)
        })
        .collect();
    let keys = m.epoch_keys(SUITE, layout).expect("epoch_keys");
    assert_eq!(keys.epoch, epoch);
    let own_leaf = m.own_leaf().expect("own leaf");
    assert_eq!(keys.own.kid(), layout.kid(epoch, own_leaf).expect("kid"));
    let mut kids: Vec<u64> = keys.others.iter().map(SframeKey::kid).collect();
    kids.push(keys.own.kid());
    kids.sort_unstable();
    let mut expected: Vec<u64> = base_keys.iter().map(|k| k.1).collect();
    expected.sort_unstable();
    assert_eq!(kids, expected, "epoch_keys covers every member");
    for key in std::iter::once(&keys.own).chain(&keys.others) {
        let (_, kid, base) = base_keys
            .iter()
            .find(|k| k.1 == key.kid())
            .expect("a base key per KID");
        assert_sframe_key_is(key, *kid, base);
    }
    EpochView {
        epoch,
        roster,
        safety: m.safety_number().expect("safety number").to_string(),
        exporter: m.export(CHECK_LABEL, 32).expect("export"),
        base_keys,
    }
}

/// `key` (from `epoch_keys`) seals a frame that the key derived from `base` opens.
fn assert_sframe_key_is(key: &SframeKey, kid: u64, base: &[u8]) {
    let mut frame = Vec::new();
    key.seal(7, b"meta", b"a frame", &mut frame).expect("seal");
    let header = Header::new(kid, 7);
    let from_base = SframeKey::derive(SUITE, kid, base).expect("derive");
    let mut plain = Vec::new();
    from_base
        .open(header, header.len(), b"meta", &frame, &mut plain)
        .unwrap_or_else(|e| panic!("KID {kid}: epoch_keys and the base key differ: {e}"));
    assert_eq!(plain, b"a frame");
}

/// A JS member's view, after checking its own claims hang together.
fn js_view(page: &mut Page, member: &str) -> EpochView {
    let s = page.ok(member, "snapshot", vec![]);
    assert_eq!(s["inGroup"], json!(true), "{member} in a group: {s}");
    let epoch = as_big(&s["epoch"]);
    let roster: Vec<(u32, u64)> = s["roster"]
        .as_array()
        .expect("roster")
        .iter()
        .map(|e| (as_u32(&e[0]), as_big(&e[1])))
        .collect();
    let keys = &s["keys"];
    assert_eq!(as_big(&keys["epoch"]), epoch);
    let own_leaf = as_u32(&s["ownLeaf"]);
    assert_eq!(as_u32(&keys["own"]["leaf"]), own_leaf);
    let mut base_keys: Vec<(u32, u64, Vec<u8>)> = std::iter::once(&keys["own"])
        .chain(keys["others"].as_array().expect("others"))
        .map(|k| {
            (
                as_u32(&k["leaf"]),
                as_big(&k["kid"]),
                as_bytes(&k["baseKey"]),
            )
        })
        .collect();
    base_keys.sort_by_key(|k| k.0);
    let auth = as_bytes(&s["authenticator"]);
    let safety = s["safety"].as_str().expect("safety").to_owned();
    // safety.rs on the authenticator the page reports.
    assert_eq!(
        sfu::e2ee::safety::SafetyNumber::from_epoch_authenticator(&auth).to_string(),
        safety,
        "{member}: safety number of its own authenticator"
    );
    EpochView {
        epoch,
        roster,
        safety,
        exporter: as_bytes(&s["exporter"]),
        base_keys,
    }
}

/// Every member, Rust and JS, reports the same epoch `epoch` with exactly
/// the clients `clients`.
fn same_epoch(page: &mut Page, rust: &[&MlsKeying], js: &[&str], epoch: u64, clients: &[u64]) {
    let mut views: Vec<(String, EpochView)> = rust
        .iter()
        .map(|m| {
            (
                format!("rust member at leaf {:?}", m.own_leaf()),
                rust_view(m),
            )
        })
        .collect();
    for j in js {
        views.push((format!("js {j}"), js_view(page, j)));
    }
    let (first_name, first) = views.first().expect("a member").clone();
    assert_eq!(first.epoch, epoch, "{first_name}: epoch");
    let mut got: Vec<u64> = first.roster.iter().map(|r| r.1).collect();
    got.sort_unstable();
    let mut want = clients.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{first_name}: members of epoch {epoch}");
    for (name, v) in &views {
        assert_eq!(
            v, &first,
            "{name} and {first_name} disagree about epoch {epoch}"
        );
    }
    println!(
        "epoch {epoch}: {} members agree (roster {:?}, safety {})",
        views.len(),
        first.roster,
        first.safety
    );
}

fn rust_member(client: u64) -> MlsKeying {
    MlsKeying::new(ClientId(client)).expect("MlsKeying::new")
}

fn leaf_of(m: &MlsKeying, client: u64) -> u32 {
    m.roster()
        .into_iter()
        .find(|r| r.1 == ClientId(client))
        .map(|r| r.0)
        .unwrap_or_else(|| panic!("client {client} not in the roster"))
}

/// A Rust-founded group: the browser joins by Welcome, then commits an Add
/// and a Remove of Rust members that Rust members apply, and applies Rust
/// Commits (a self-update, and the Commit that removes it).
#[test]
fn rust_founded_group_with_a_browser_committer() {
    let _turn = support::one_browser_at_a_time();
    let mut page = Page::start();

    // Epoch 0: r1 alone. The browser's key package naming client 2 is
    // refused for any other client, by Rust and by the browser itself.
    let mut r1 = rust_member(1);
    r1.found().expect("found");
    page.create("j2", 2);
    let kp2 = page.key_package("j2");
    assert!(matches!(
        r1.check_key_package(ClientId(9), &kp2),
        Err(Error::KeyPackageRejected(_))
    ));
    page.refuses(
        "j2",
        "checkKeyPackage",
        vec![big(9), bytes(&kp2)],
        "KeyPackageRejected",
    );
    assert!(matches!(
        r1.check_key_package(ClientId(2), &tampered(&kp2)),
        Err(Error::KeyPackageRejected(_))
    ));
    r1.check_key_package(ClientId(2), &kp2)
        .expect("j2's key package");

    // Epoch 1: r1 adds j2 (openmls Welcome, ts-mls joins).
    let (_, welcome) = r1.commit(&[(ClientId(2), &kp2)], &[]).expect("commit");
    r1.merge_own_commit().expect("merge");
    page.ok("j2", "join", vec![bytes(&welcome.expect("a welcome"))]);
    same_epoch(&mut page, &[&r1], &["j2"], 1, &[1, 2]);

    // Epoch 2: j2 adds r3. A Rust key package naming another client, or
    // tampered, is refused by the browser; a tampered browser Commit by
    // openmls. That Commit is discarded, as a lost one would be, and j2
    // commits again.
    let mut r3 = rust_member(3);
    let kp3 = r3.key_package().expect("key package");
    page.refuses(
        "j2",
        "checkKeyPackage",
        vec![big(9), bytes(&kp3)],
        "KeyPackageRejected",
    );
    page.refuses(
        "j2",
        "checkKeyPackage",
        vec![big(3), bytes(&tampered(&kp3))],
        "KeyPackageRejected",
    );
    page.ok("j2", "checkKeyPackage", vec![big(3), bytes(&kp3)]);
    page.refuses(
        "j2",
        "commit",
        vec![json!([[big(9), bytes(&kp3)]]), json!([])],
        "KeyPackageRejected",
    );
    let (lost, _) = page.commit("j2", &[(3, &kp3)], &[]);
    assert!(matches!(
        r1.apply_commit(&tampered(&lost)),
        Err(Error::CommitRejected(_))
    ));
    page.ok("j2", "discardOwnCommit", vec![]);
    let (commit, welcome) = page.commit("j2", &[(3, &kp3)], &[]);
    assert_eq!(
        r1.apply_commit(&commit).expect("apply"),
        CommitOutcome::Applied
    );
    page.ok("j2", "mergeOwnCommit", vec![]);
    r3.join(&welcome.expect("a welcome")).expect("r3 joins");
    same_epoch(&mut page, &[&r1, &r3], &["j2"], 2, &[1, 2, 3]);

    // Epoch 3: j2 removes r1, r3 applies it, r1 learns it is out.
    let (commit, welcome) = page.commit("j2", &[], &[leaf_of(&r3, 1)]);
    assert!(welcome.is_none());
    assert_eq!(
        r3.apply_commit(&commit).expect("apply"),
        CommitOutcome::Applied
    );
    assert_eq!(
        r1.apply_commit(&commit).expect("apply"),
        CommitOutcome::Removed
    );
    assert!(!r1.in_group());
    page.ok("j2", "mergeOwnCommit", vec![]);
    same_epoch(&mut page, &[&r3], &["j2"], 3, &[2, 3]);

    // Epoch 4: r3 updates itself; the browser refuses a tampered copy, then
    // r3 discards that Commit and commits again.
    let (lost, _) = r3.commit(&[], &[]).expect("self-update");
    page.refuses(
        "j2",
        "applyCommit",
        vec![bytes(&tampered(&lost))],
        "CommitRejected",
    );
    r3.discard_own_commit();
    let (commit, _) = r3.commit(&[], &[]).expect("self-update");
    assert_eq!(page.apply("j2", &commit), "applied");
    r3.merge_own_commit().expect("merge");
    same_epoch(&mut page, &[&r3], &["j2"], 4, &[2, 3]);

    // Epoch 5: r3 adds a second browser member and removes j2 in one Commit.
    page.create("j5", 5);
    let kp5 = page.key_package("j5");
    let (commit, welcome) = r3
        .commit(&[(ClientId(5), &kp5)], &[leaf_of(&r3, 2)])
        .expect("commit");
    assert_eq!(page.apply("j2", &commit), "removed");
    let out = page.ok("j2", "snapshot", vec![]);
    assert_eq!(out["inGroup"], json!(false), "{out}");
    assert!(out["safety"].is_null(), "{out}");
    r3.merge_own_commit().expect("merge");
    page.ok("j5", "join", vec![bytes(&welcome.expect("a welcome"))]);
    same_epoch(&mut page, &[&r3], &["j5"], 5, &[3, 5]);

    page.finish();
}

/// A browser-founded group: one ts-mls Welcome brings in a Rust and a
/// browser member, a tampered browser self-update is refused by both
/// kinds, and a Rust member removes the founder.
#[test]
fn browser_founded_group_joined_by_rust() {
    let _turn = support::one_browser_at_a_time();
    let mut page = Page::start();

    page.create("j6", 6);
    page.ok("j6", "found", vec![]);
    let s = page.ok("j6", "snapshot", vec![]);
    assert_eq!(as_big(&s["epoch"]), 0);
    assert_eq!(s["roster"], json!([[0, big(6)]]));

    // Epoch 1: j6 adds r7 and j8 with one Welcome.
    let mut r7 = rust_member(7);
    let kp7 = r7.key_package().expect("key package");
    page.create("j8", 8);
    let kp8 = page.key_package("j8");
    let (_, welcome) = page.commit("j6", &[(7, &kp7), (8, &kp8)], &[]);
    let welcome = welcome.expect("a welcome");
    page.ok("j6", "mergeOwnCommit", vec![]);
    r7.join(&welcome).expect("r7 joins");
    page.ok("j8", "join", vec![bytes(&welcome)]);
    same_epoch(&mut page, &[&r7], &["j6", "j8"], 1, &[6, 7, 8]);

    // Epoch 2: j6 updates itself; a tampered copy is refused by both.
    let (lost, _) = page.commit("j6", &[], &[]);
    page.refuses(
        "j8",
        "applyCommit",
        vec![bytes(&tampered(&lost))],
        "CommitRejected",
    );
    assert!(matches!(
        r7.apply_commit(&tampered(&lost)),
        Err(Error::CommitRejected(_))
    ));
    page.ok("j6", "discardOwnCommit", vec![]);
    let (commit, _) = page.commit("j6", &[], &[]);
    assert_eq!(page.apply("j8", &commit), "applied");
    assert_eq!(
        r7.apply_commit(&commit).expect("apply"),
        CommitOutcome::Applied
    );
    page.ok("j6", "mergeOwnCommit", vec![]);
    same_epoch(&mut page, &[&r7], &["j6", "j8"], 2, &[6, 7, 8]);

    // Epoch 3: r7 removes the founder, while j8 holds a Commit of its own
    // for epoch 2 that loses (never sent): applying r7's replaces it.
    let (commit, _) = r7.commit(&[], &[leaf_of(&r7, 6)]).expect("commit");
    let _lost = page.commit("j8", &[], &[]);
    assert_eq!(page.apply("j8", &commit), "applied");
    assert_eq!(page.apply("j6", &commit), "removed");
    r7.merge_own_commit().expect("merge");
    same_epoch(&mut page, &[&r7], &["j8"], 3, &[7, 8]);

    page.finish();
}

/// The committed bundle `examples/server/pages/e2ee/vendor/ts-mls.js` is
/// byte for byte what `tests/browser/build-e2ee-vendor.mjs` builds from the
/// locked packages now.
#[test]
fn vendor_bundle_is_what_the_build_script_makes() {
    let out = std::env::temp_dir().join(format!("sfu-e2ee-ts-mls-{}.js", std::process::id()));
    let out_arg = out.display().to_string();
    support::run_node_unshared(
        "ip link set lo up",
        &["build-e2ee-vendor.mjs", "--out", &out_arg],
        "built ",
    );
    let built = std::fs::read(&out).expect("the rebuilt bundle");
    let _ = std::fs::remove_file(&out);
    let committed =
        std::fs::read(support::root().join("examples/server/pages/e2ee/vendor/ts-mls.js"))
            .expect("the committed bundle");
    assert!(
        built == committed,
        "examples/server/pages/e2ee/vendor/ts-mls.js differs from what build-e2ee-vendor.mjs makes \
         ({} vs {} bytes): run `node tests/browser/build-e2ee-vendor.mjs` and commit the result",
        committed.len(),
        built.len()
    );
}
