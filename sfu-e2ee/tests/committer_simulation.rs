//! Randomised simulation: 30 clients, 1 000 seeded schedules of joins, sends,
//! deliveries at each client's own pace, leaves and crashes, through the real
//! `CallMember` and `CallRelay` over symbolic MLS. Every state is checked
//! (one committer per view, one safety number per view) and every schedule
//! must end with all remaining clients in one epoch whose roster is exactly
//! them. Run: `cargo test -p sfu-e2ee --release committer_simulation -- --nocapture`.

mod model;

use model::world::{Slot, Step, World};
use sfu_testkit::rng::Rng;

const CLIENTS: usize = 30;
const SCHEDULES: u64 = 1000;
const MAX_CRASHES: u32 = 12;

fn pick(rng: &mut Rng, steps: &[Step]) -> Step {
    // Weighted by kind so schedules are long and varied: deliveries and
    // sends dominate, joins trickle in, crashes are rare.
    let weight = |s: &Step| match s {
        Step::Deliver(_) => 12,
        Step::Send(_) => 8,
        Step::Start(_) => 2,
        Step::Crash(_) => 1,
    };
    let total: usize = steps.iter().map(weight).sum();
    let mut r = rng.below(total);
    for s in steps {
        let w = weight(s);
        if r < w {
            return *s;
        }
        r -= w;
    }
    steps[steps.len() - 1]
}

fn run_schedule(seed: u64) -> Result<(usize, usize, u64, usize), String> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut world = World::new(CLIENTS);
    let mut steps = Vec::new();
    let (mut n, mut settled) = (0, 0);
    loop {
        world.enabled(MAX_CRASHES, &mut steps);
        if steps.is_empty() {
            break;
        }
        let step = pick(&mut rng, &steps);
        world
            .apply(step)
            .map_err(|e| format!("seed {seed} step {n} {step:?}: {e}"))?;
        world
            .check()
            .map_err(|e| format!("seed {seed} step {n} {step:?}: {e}"))?;
        if world.is_settled() {
            settled += 1;
            world
                .check_quiescent()
                .map_err(|e| format!("seed {seed} step {n}: {e}"))?;
        }
        n += 1;
    }
    world
        .check_quiescent()
        .map_err(|e| format!("seed {seed}: {e}"))?;
    let live = world
        .clients
        .iter()
        .filter(|s| matches!(s, Slot::Live { .. }))
        .count();
    let epoch = world
        .clients
        .iter()
        .find_map(|s| match s {
            Slot::Live { member, .. } => member.keying().group.as_ref().map(|g| g.epoch),
            _ => None,
        })
        .unwrap_or(0);
    Ok((n, live, epoch, settled))
}

#[test]
fn committer_simulation_thirty_clients_thousand_schedules() {
    let t = std::time::Instant::now();
    let (mut steps, mut survivors, mut epochs, mut settled) = (0usize, 0usize, 0u64, 0usize);
    for seed in 0..SCHEDULES {
        let (n, live, epoch, s) = run_schedule(seed).unwrap_or_else(|e| panic!("{e}"));
        settled += s;
        steps += n;
        survivors += live;
        epochs += epoch;
    }
    println!(
        "committer_simulation: {SCHEDULES} schedules x {CLIENTS} clients: {steps} steps, {settled} settled states checked, mean {:.1} survivors, mean final epoch {:.1}, {:.1?}",
        survivors as f64 / SCHEDULES as f64,
        epochs as f64 / SCHEDULES as f64,
        t.elapsed()
    );
}
