//! The tree simulation is deterministic: same options, same JSON.

use sfu_sim::tree_sim as sim;
use sfu_sim::tree_sim::TreeOptions;

#[test]
fn the_same_seed_gives_the_same_run() {
    let o = TreeOptions {
        seed: 5,
        viewers: 100,
        seconds: 3,
        ..TreeOptions::default()
    };
    let (a, b) = (sim::run(o), sim::run(o));
    assert_eq!(a.to_json(&o), b.to_json(&o));
    let other = TreeOptions { seed: 6, ..o };
    assert_ne!(a.to_json(&o), sim::run(other).to_json(&other));
}
