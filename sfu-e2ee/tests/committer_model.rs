//! Exhaustive model check of the designated-committer protocol: the real
//! `CallMember` and `CallRelay` code over symbolic MLS, every interleaving of
//! connects, sends, per-client deliveries and crashes (a crash between a
//! committer's Welcome and its Commit included), with states deduplicated by
//! a 128-bit hash. Run: `cargo test -p sfu-e2ee --release committer_model -- --nocapture`.

mod model;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use model::world::{Step, World};

fn fingerprint(w: &World) -> u128 {
    let mut a = std::hash::DefaultHasher::new();
    w.hash(&mut a);
    let mut b = std::hash::DefaultHasher::new();
    0xdead_beefu32.hash(&mut b);
    w.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

struct Stats {
    states: usize,
    transitions: usize,
    terminal: usize,
    settled: usize,
    max_depth: usize,
}

/// Depth-first search over every interleaving, each distinct state once.
fn explore(clients: usize, max_crashes: u32, reduce: bool) -> Result<Stats, String> {
    let mut seen: HashSet<u128> = HashSet::new();
    let root = World::new(clients);
    seen.insert(fingerprint(&root));
    let mut stack: Vec<(World, Vec<Step>, usize)> = Vec::new();
    let mut steps = Vec::new();
    root.enabled_reduced(max_crashes, reduce, &mut steps);
    stack.push((root, steps.clone(), 0));
    let mut stats = Stats {
        states: 1,
        transitions: 0,
        terminal: 0,
        settled: 0,
        max_depth: 0,
    };
    while let Some((world, enabled, next)) = stack.last_mut() {
        if *next == 0 {
            if enabled.is_empty() {
                stats.terminal += 1;
            }
            if world.is_settled() {
                stats.settled += 1;
                if let Err(e) = world.check_quiescent() {
                    let trace: Vec<Step> = stack
                        .iter()
                        .filter_map(|(_, en, n)| en.get(n.wrapping_sub(1)).copied())
                        .collect();
                    return Err(format!("{e}\ntrace: {trace:?}"));
                }
            }
        }
        let Some(step) = enabled.get(*next).copied() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let mut child = world.clone();
        child
            .apply(step)
            .map_err(|e| format!("{e} after {step:?}"))?;
        stats.transitions += 1;
        if !seen.insert(fingerprint(&child)) {
            continue;
        }
        child.check().map_err(|e| format!("{e} after {step:?}"))?;
        stats.states += 1;
        child.enabled_reduced(max_crashes, reduce, &mut steps);
        stack.push((child, steps.clone(), 0));
        stats.max_depth = stats.max_depth.max(stack.len());
    }
    Ok(stats)
}

fn run(clients: usize, max_crashes: u32, reduce: bool) {
    let t = std::time::Instant::now();
    let stats = explore(clients, max_crashes, reduce)
        .unwrap_or_else(|e| panic!("{clients} clients, {max_crashes} crashes: {e}"));
    let mode = if reduce { "reduced" } else { "full" };
    println!(
        "committer_model ({mode}): {clients} clients, up to {max_crashes} crashes/leaves: {} states, {} transitions, {} settled states checked for convergence, {} terminal, depth {}, {:.1?}",
        stats.states,
        stats.transitions,
        stats.settled,
        stats.terminal,
        stats.max_depth,
        t.elapsed()
    );
    assert!(
        stats.settled > stats.terminal,
        "convergence must be checked beyond the all-crashed ends"
    );
}

/// Without reduction, for small calls: every interleaving of every step.
#[test]
fn committer_model_full_interleavings_up_to_four_clients() {
    run(2, 2, false);
    run(3, 3, false);
    run(4, 2, false);
}

/// With partial-order reduction on deliveries, up to five clients.
#[test]
fn committer_model_reduced_up_to_five_clients() {
    run(3, 3, true);
    run(4, 4, true);
    run(5, 3, true);
}
