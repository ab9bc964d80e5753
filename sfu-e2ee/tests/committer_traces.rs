//! The browser's `CallMember` (`examples/server/pages/e2ee/committer.js`)
//! behaves exactly like this crate's: 10 000 seeded schedules of 3–12
//! clients (joins, sends, deliveries at each client's pace, leaves and
//! crashes, a committer crashing between its Welcome and its Commit, and in
//! a third of them hostile broadcasts: garbage, forged join requests,
//! Welcomes, Commits, Founds and Lefts) run through the real `CallMember` and
//! `CallRelay` over the symbolic MLS; every client's inputs and outputs are
//! written to a trace, and `tests/browser/e2ee_traces.mjs` replays each
//! client's inputs into the JS `CallMember` over the JS port of the model,
//! requiring every transmit (bytes, in queue order), event (epoch, safety
//! number, removal, rejection and its error), phase and keying state (the
//! model's group and pending Commit) to be identical. A corrupted copy of a
//! trace must be reported, so the comparator is known to be live.
//! Run: `cargo test -p sfu-e2ee --release --test committer_traces -- --nocapture`.

#[path = "committer_traces/hostile.rs"]
mod hostile;
mod js_replay;
mod model;

use std::rc::Rc;

use hostile::{hostile, u64s};
use js_replay::{clean, hex, replay, scratch, write_lines};
use model::ModelKeying;
use model::world::{Slot, Step, World};
use serde_json::{Value, json};
use sfu_e2ee::Error;
use sfu_e2ee::committer::{CallEvent, CallMember, Phase};
use sfu_e2ee::wire::{ClientId, GroupMessage};
use sfu_testkit::rng::Rng;

const SCHEDULES: u64 = 10_000;
/// Longest schedule; real ones end long before (every crash gets used up).
const MAX_STEPS: usize = 5_000;
const MAX_INJECTIONS: u32 = 6;
/// Before the first input (the replay starts from the same value, so the
/// state after the join is always written).
const NO_STATE_YET: u64 = 0;

/// One client's trace: what it read and everything it produced.
struct Recording {
    id: u64,
    /// Log index of its first broadcast input (its own join request).
    from: usize,
    /// After each input (the join first): j joining, m member, c committer, g gone.
    phases: String,
    /// Inputs that produced output: `[input, [transmit hex], [event]]`,
    /// with a fourth element, the new `state_of`, where it changed.
    outputs: Vec<Value>,
    /// Whether the last message it sent was a Welcome.
    sent_welcome: bool,
    /// Fingerprint of the keying state after the last input.
    state: u64,
}

#[derive(Default)]
struct Totals {
    clients: usize,
    inputs: usize,
    transmits: usize,
    events: usize,
    rejected: usize,
    removed: usize,
    crash_between_welcome_and_commit: usize,
    hostile_schedules: usize,
    states: usize,
}

/// Rust `Error` as the JS twin names it: variant, payload, `Display`.
fn error_json(e: &Error) -> Value {
    let (code, detail) = match e {
        Error::MalformedGroupMessage => ("MalformedGroupMessage", None),
        Error::KeyPackageRejected(s) => ("KeyPackageRejected", Some(s.to_string())),
        Error::WelcomeRejected(s) => ("WelcomeRejected", Some(s.clone())),
        Error::CommitRejected(s) => ("CommitRejected", Some(s.clone())),
        Error::Mls(s) => ("Mls", Some(s.clone())),
        other => panic!("committer produced an error outside the protocol: {other:?}"),
    };
    json!([code, detail, e.to_string()])
}

/// FNV of the model's group and pending group, so the JS keying is seen
/// to take the same calls (a Commit not discarded shows here, nowhere else).
fn state_of(k: &ModelKeying) -> u64 {
    let mut b = Vec::new();
    for g in [k.group.as_ref(), k.pending()] {
        let Some(g) = g else {
            b.push(0);
            continue;
        };
        b.push(1);
        u64s(&mut b, &[g.gid, g.epoch, g.auth]);
        b.extend_from_slice(&(g.leaves.len() as u16).to_be_bytes());
        for l in &g.leaves {
            u64s(&mut b, &[l.map_or(u64::MAX, |c| c.0)]);
        }
    }
    model::fnv(&b, 0)
}

fn phase_char(m: &CallMember<ModelKeying>) -> char {
    match m.phase() {
        Phase::Joining => 'j',
        Phase::Member if m.is_committer() => 'c',
        Phase::Member => 'm',
        Phase::Gone => 'g',
    }
}

/// Records what `m` produced since it had `queued_before` transmits queued.
fn record(
    rec: &mut Recording,
    input: usize,
    m: &mut CallMember<ModelKeying>,
    queued_before: usize,
    totals: &mut Totals,
) {
    let mut transmits = Vec::new();
    let queued = m.queued_transmits();
    if queued > queued_before {
        // The queue has no peek: the new messages are the last ones of a copy.
        let mut copy = m.clone();
        for _ in 0..queued_before {
            copy.poll_transmit();
        }
        while let Some(t) = copy.poll_transmit() {
            transmits.push(json!(hex(&t.to_bytes())));
        }
    }
    let mut events = Vec::new();
    while let Some(ev) = m.poll_event() {
        events.push(match ev {
            CallEvent::EpochChanged {
                epoch,
                safety_number,
            } => json!(["epoch", epoch.to_string(), safety_number.to_string()]),
            CallEvent::Removed => {
                totals.removed += 1;
                json!(["removed"])
            }
            CallEvent::Rejected(e) => {
                totals.rejected += 1;
                json!(["rejected", error_json(&e)])
            }
            other => panic!("unknown event {other:?}"),
        });
    }
    totals.inputs += 1;
    totals.transmits += transmits.len();
    totals.events += events.len();
    rec.phases.push(phase_char(m));
    let state = state_of(m.keying());
    if state != rec.state {
        rec.state = state;
        totals.states += 1;
        rec.outputs
            .push(json!([input, transmits, events, format!("{state:016x}")]));
    } else if !transmits.is_empty() || !events.is_empty() {
        rec.outputs.push(json!([input, transmits, events]));
    }
}

fn drain_relay(world: &mut World) {
    while let Some(m) = world.relay.poll_broadcast() {
        world.log.push(m.to_bytes().into());
    }
}

/// One schedule as a JSON line, and its counts added to `totals`.
fn run_schedule(seed: u64, totals: &mut Totals) -> String {
    let mut rng = Rng::splitmix_stream(seed, 0xe2ee);
    let n = 3 + rng.below(10);
    let max_crashes = rng.below(n + 1) as u32;
    let hostile_schedule = rng.chance(1.0 / 3.0);
    totals.hostile_schedules += usize::from(hostile_schedule);
    // Paces vary per schedule: quick readers settle between steps, slow ones
    // leave several Commits of one epoch in flight.
    let (w_deliver, w_send) = (2 + rng.below(14), 2 + rng.below(10));
    let mut world = World::new(n);
    let mut recs: Vec<Option<Recording>> = (0..n).map(|_| None).collect();
    let mut steps = Vec::new();
    let mut injections = 0;
    for _ in 0..MAX_STEPS {
        if hostile_schedule && injections < MAX_INJECTIONS && rng.chance(0.02) {
            injections += 1;
            for m in hostile(&mut rng, &world) {
                world.log.push(Rc::from(m));
            }
            continue;
        }
        world.enabled(max_crashes, &mut steps);
        if steps.is_empty() {
            break;
        }
        let weight = |s: &Step| match s {
            Step::Deliver(_) => w_deliver,
            Step::Send(_) => w_send,
            Step::Start(_) => 2,
            Step::Crash(_) => 1,
        };
        let mut r = rng.below(steps.iter().map(weight).sum());
        let mut step = steps[steps.len() - 1];
        for s in &steps {
            if r < weight(s) {
                step = *s;
                break;
            }
            r -= weight(s);
        }
        let mut run = Run {
            world: &mut world,
            recs: &mut recs,
            rng: &mut rng,
            max_crashes,
            honest: !hostile_schedule,
            totals,
        };
        run.apply(step);
        if !hostile_schedule {
            // Forged messages may split the group; honest runs may not.
            world
                .check()
                .unwrap_or_else(|e| panic!("seed {seed} {step:?}: {e}"));
        }
    }
    let clients: Vec<Value> = recs
        .into_iter()
        .flatten()
        .map(|r| json!({"id": r.id, "from": r.from, "phases": r.phases, "out": r.outputs}))
        .collect();
    totals.clients += clients.len();
    let log: Vec<String> = world.log.iter().map(|e| hex(e)).collect();
    json!({"seed": seed, "log": log, "clients": clients}).to_string()
}

/// One schedule's state while a step is applied.
struct Run<'a> {
    world: &'a mut World,
    recs: &'a mut [Option<Recording>],
    rng: &'a mut Rng,
    max_crashes: u32,
    honest: bool,
    totals: &'a mut Totals,
}

impl Run<'_> {
    fn apply(&mut self, step: Step) {
        let (world, recs, totals) = (&mut *self.world, &mut *self.recs, &mut *self.totals);
        match step {
            Step::Start(i) => {
                // As World::apply: connect and have the join request sequenced.
                let id = ClientId(i as u64);
                let mut member = CallMember::join(id, ModelKeying::new(id)).expect("join");
                let mut rec = Recording {
                    id: i as u64,
                    from: world.log.len(),
                    phases: String::new(),
                    outputs: Vec::new(),
                    sent_welcome: false,
                    state: NO_STATE_YET,
                };
                record(&mut rec, 0, &mut member, 0, totals);
                let request = member.poll_transmit().expect("join request");
                world
                    .relay
                    .handle_client_message(id, request)
                    .expect("relay takes the join request");
                drain_relay(world);
                world.clients[i] = Slot::Live {
                    member: Box::new(member),
                    cursor: rec.from,
                };
                recs[i] = Some(rec);
            }
            Step::Send(i) => {
                let Slot::Live { member, .. } = &mut world.clients[i] else {
                    unreachable!("send from a client not live");
                };
                let msg = member.poll_transmit().expect("queued");
                let rec = recs[i].as_mut().expect("started");
                rec.sent_welcome = matches!(msg, GroupMessage::Welcome { .. });
                // After forged broadcasts the relay's roster can disagree with
                // the clients'; it refuses such messages, as a real server would.
                let sent = world.relay.handle_client_message(ClientId(i as u64), msg);
                assert!(sent.is_ok() || !self.honest, "relay refused client {i}");
                drain_relay(world);
                // Now and then the committer dies right after its Welcome.
                if rec.sent_welcome && world.crashes < self.max_crashes && self.rng.chance(0.15) {
                    self.apply(Step::Crash(i));
                }
            }
            Step::Deliver(i) => {
                let Slot::Live { member, cursor } = &mut world.clients[i] else {
                    unreachable!("delivery to a client not live");
                };
                let entry = world.log[*cursor].clone();
                *cursor += 1;
                let rec = recs[i].as_mut().expect("started");
                let input = *cursor - rec.from;
                let before = member.queued_transmits();
                member.handle_broadcast(&entry);
                record(rec, input, member, before, totals);
            }
            Step::Crash(i) => {
                if let (Slot::Live { member, .. }, Some(rec)) = (&world.clients[i], &recs[i]) {
                    let mut copy = member.clone();
                    if rec.sent_welcome
                        && matches!(copy.poll_transmit(), Some(GroupMessage::Commit { .. }))
                    {
                        totals.crash_between_welcome_and_commit += 1;
                    }
                }
                world.clients[i] = Slot::Gone;
                world.crashes += 1;
                world.relay.handle_disconnect(ClientId(i as u64));
                drain_relay(world);
            }
        }
    }
}

/// A founder flooded with valid join requests while its first Commit is
/// held back: the pending-join bound (and a Commit adding 1 023) in a trace.
fn flood_schedule(totals: &mut Totals) -> String {
    let mut log: Vec<Vec<u8>> = vec![
        GroupMessage::JoinRequest {
            client: ClientId(0),
            key_package: b"kp\0\0\0\0\0\0\0\0".to_vec(),
        }
        .to_bytes(),
        GroupMessage::Found {
            client: ClientId(0),
        }
        .to_bytes(),
    ];
    for c in 1000..2030u64 {
        let mut kp = b"kp".to_vec();
        kp.extend_from_slice(&c.to_be_bytes());
        log.push(
            GroupMessage::JoinRequest {
                client: ClientId(c),
                key_package: kp,
            }
            .to_bytes(),
        );
    }
    let mut m = CallMember::join(ClientId(0), ModelKeying::new(ClientId(0))).expect("join");
    let mut rec = Recording {
        id: 0,
        from: 0,
        phases: String::new(),
        outputs: Vec::new(),
        sent_welcome: false,
        state: NO_STATE_YET,
    };
    record(&mut rec, 0, &mut m, 0, totals);
    m.poll_transmit();
    let mut sent = 0;
    let mut i = 0;
    while i < log.len() {
        let before = m.queued_transmits();
        m.handle_broadcast(&log[i]);
        record(&mut rec, i + 1, &mut m, before, totals);
        i += 1;
        // Once the flood is read, the held-back Commit is sequenced.
        if i == log.len() && sent < 2 {
            while let Some(t) = m.poll_transmit() {
                if matches!(t, GroupMessage::Commit { .. }) {
                    sent += 1;
                }
                log.push(t.to_bytes());
            }
        }
    }
    assert!(
        rec.outputs
            .iter()
            .any(|o| o.to_string().contains("too many pending"))
    );
    totals.clients += 1;
    let log: Vec<String> = log.iter().map(|e| hex(e)).collect();
    let client = json!({"id": 0, "from": 0, "phases": rec.phases, "out": rec.outputs});
    json!({"seed": "flood", "log": log, "clients": [client]}).to_string()
}

#[test]
fn js_call_member_replays_rust_traces() {
    let t = std::time::Instant::now();
    let mut totals = Totals::default();
    let mut lines: Vec<String> = (0..SCHEDULES)
        .map(|seed| run_schedule(seed, &mut totals))
        .collect();
    lines.push(flood_schedule(&mut totals));
    let path = scratch("traces", "traces.jsonl");
    write_lines(&path, &lines);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let generated = t.elapsed();
    let (ok, text) = replay(&path);
    print!("{text}");
    assert!(ok, "JS CallMember diverged:\n{text}");
    assert!(text.lines().any(|l| l == "e2ee traces ok"), "{text}");
    // The script must have replayed every input and compared every output.
    let expect = format!(
        "{} schedules, {} clients, {} inputs, {} outputs compared ({} transmits, {} events), {} phases and {} keying states checked",
        SCHEDULES + 1,
        totals.clients,
        totals.inputs,
        totals.transmits + totals.events,
        totals.transmits,
        totals.events,
        totals.inputs,
        totals.states,
    );
    assert!(text.contains(&expect), "expected `{expect}` in:\n{text}");
    assert!(totals.crash_between_welcome_and_commit > 100);
    assert!(totals.rejected > 1000 && totals.removed > 10);
    println!(
        "committer_traces: {expect}; {} hostile schedules, {} rejections, {} removals, {} committers crashed between Welcome and Commit; trace {} MB written in {generated:.1?}, total {:.1?}",
        totals.hostile_schedules,
        totals.rejected,
        totals.removed,
        totals.crash_between_welcome_and_commit,
        bytes / 1_000_000,
        t.elapsed()
    );
    clean(&path);
}

/// Each kind of output, changed in one place, is reported as a divergence.
#[test]
fn a_corrupted_trace_is_reported() {
    let mut totals = Totals::default();
    // Enough schedules that each kind of output appears.
    let lines: Vec<String> = (0..200).map(|s| run_schedule(s, &mut totals)).collect();
    let path = scratch("traces", "small.jsonl");
    write_lines(&path, &lines);
    let (ok, text) = replay(&path);
    assert!(ok, "{text}");

    type Corrupt = fn(&mut Value) -> bool;
    let corruptions: [(&str, Corrupt); 6] = [
        ("a keying state", |c| {
            edit_output(c, |o| {
                let s = o.get(3)?.as_str()?.replace(|ch: char| ch != '0', "0");
                o[3] = json!(s);
                Some(())
            })
        }),
        ("a transmit byte", |c| {
            edit_output(c, |o| {
                let t = o[1].as_array_mut()?.first_mut()?;
                let mut s = t.as_str()?.to_string();
                let last = if s.ends_with('0') { "1" } else { "0" };
                s.replace_range(s.len() - 1.., last);
                *t = json!(s);
                Some(())
            })
        }),
        ("a safety number digit", |c| {
            edit_event(c, "epoch", |e| {
                let s = e[2]
                    .as_str()?
                    .replacen(|ch: char| ch.is_ascii_digit(), "x", 1);
                e[2] = json!(s);
                Some(())
            })
        }),
        ("a rejection's error", |c| {
            edit_event(c, "rejected", |e| {
                e[1][0] = json!(if e[1][0] == "Mls" {
                    "CommitRejected"
                } else {
                    "Mls"
                });
                Some(())
            })
        }),
        ("a phase", |c| {
            let s = c["phases"].as_str().unwrap_or("").to_string();
            let Some(p) = s.find('m') else { return false };
            let mut s = s.into_bytes();
            s[p] = b'c';
            c["phases"] = json!(String::from_utf8(s).unwrap_or_default());
            true
        }),
        ("a missing event", |c| {
            edit_output(c, |o| o[2].as_array_mut()?.pop().map(|_| ()))
        }),
    ];
    for (what, corrupt) in corruptions {
        let mut bad = lines.clone();
        let done = bad.iter_mut().any(|line| {
            let mut v: Value = serde_json::from_str(line).expect("own json");
            let hit = v["clients"]
                .as_array_mut()
                .is_some_and(|cs| cs.iter_mut().any(corrupt));
            if hit {
                *line = v.to_string();
            }
            hit
        });
        assert!(done, "no trace has {what} to corrupt");
        let path = scratch("traces", "corrupted.jsonl");
        write_lines(&path, &bad);
        let (ok, text) = replay(&path);
        assert!(!ok, "a corrupted {what} went unnoticed:\n{text}");
        assert!(text.contains("divergence"), "{what}: {text}");
        println!("corrupted {what}: {}", text.lines().next().unwrap_or(""));
        clean(&path);
    }
    clean(&scratch("traces", "small.jsonl"));
}

fn edit_output(client: &mut Value, f: impl Fn(&mut Value) -> Option<()>) -> bool {
    client["out"]
        .as_array_mut()
        .is_some_and(|outs| outs.iter_mut().any(|o| f(o).is_some()))
}

fn edit_event(client: &mut Value, kind: &str, f: impl Fn(&mut Value) -> Option<()>) -> bool {
    edit_output(client, |o| {
        let e = o[2].as_array_mut()?.iter_mut().find(|e| e[0] == kind)?;
        f(e)
    })
}
