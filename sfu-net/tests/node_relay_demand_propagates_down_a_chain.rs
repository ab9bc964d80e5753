//! A chain of relays, node 0 → node 1 → node 2 (a track's tree across
//! processes): node 1 relays on a track relayed to it, with all its
//! layers, and the demand of node 2's viewers travels up through node 1,
//! so each link carries only what is wanted below it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_world;
mod relay_layers;

use std::time::Duration;

use node_world::World;
use relay_layers::{
    LinkTap, SimulcastCamera, assert_receives, link, relay, simulcast_publisher, viewer,
};

#[test]
fn a_viewer_two_links_down_gets_its_layer_and_each_link_carries_only_what_is_wanted_below() {
    let mut w = World::new(51, 3);
    let (cam, source) = simulcast_publisher(&mut w, 0, 0);
    let (out01, in01) = link(&mut w, 0, 1);
    let (out12, in12) = link(&mut w, 1, 2);
    let first = relay(&mut w, (0, out01), (1, in01), source, "0", "cam");
    // Node 1 relays on what node 0 relays to it.
    let second = relay(&mut w, (1, out12), (2, in12), in01, "cam", "cam");
    assert_eq!(second.len(), 3, "every layer relayed on");
    let (far, far_session) = viewer(&mut w, 2, 1, in12, "cam", Some("h"));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[cam, far])));

    let mut camera = SimulcastCamera::new(cam, "0");
    let mut top = LinkTap::new(0, 1);
    let mut bottom = LinkTap::new(1, 2);
    let mut run = |w: &mut World, top: &mut LinkTap, bottom: &mut LinkTap, ms| {
        w.run_with(Duration::from_millis(ms), &mut |w| {
            camera.tick(w);
            top.take(w);
            bottom.take(w);
        })
    };
    let per_layer = |tap: &LinkTap, ssrcs: &[u32]| ssrcs.iter().map(|&s| tap.on(s)).collect();
    run(&mut w, &mut top, &mut bottom, 3000);
    top.clear();
    bottom.clear();
    let since = w.now;
    run(&mut w, &mut top, &mut bottom, 2000);
    assert_receives(&w, far, 1, since);
    let (a, b): (Vec<usize>, Vec<usize>) = (per_layer(&top, &first), per_layer(&bottom, &second));
    println!("h wanted two links down: 0→1 {a:?}, 1→2 {b:?}");
    assert!(a[1] >= 110 && a[0] + a[2] == 0, "0→1 {a:?}");
    assert!(b[1] >= 110 && b[0] + b[2] == 0, "1→2 {b:?}");

    // A viewer on node 1 wants f: the top link carries h and f, the bottom
    // one still h only.
    let (near, _) = viewer(&mut w, 1, 2, in01, "cam", Some("f"));
    assert!(w.run_until(Duration::from_secs(5), |w| w.connected(&[near])));
    run(&mut w, &mut top, &mut bottom, 2000);
    top.clear();
    bottom.clear();
    let since = w.now;
    run(&mut w, &mut top, &mut bottom, 2000);
    assert_receives(&w, near, 2, since);
    assert_receives(&w, far, 1, since);
    let (a, b): (Vec<usize>, Vec<usize>) = (per_layer(&top, &first), per_layer(&bottom, &second));
    println!("and f on node 1: 0→1 {a:?}, 1→2 {b:?}");
    assert!(a[1] >= 110 && a[2] >= 165 && a[0] == 0, "0→1 {a:?}");
    assert!(b[1] >= 110 && b[0] + b[2] == 0, "1→2 {b:?}");

    // The far viewer moves to q: the change travels up both links.
    w.nodes[2]
        .set_layer(far_session, None, Some("q".into()))
        .unwrap();
    run(&mut w, &mut top, &mut bottom, 1000);
    top.clear();
    bottom.clear();
    let since = w.now;
    run(&mut w, &mut top, &mut bottom, 2000);
    assert_receives(&w, far, 0, since);
    let (a, b): (Vec<usize>, Vec<usize>) = (per_layer(&top, &first), per_layer(&bottom, &second));
    println!("then q two links down: 0→1 {a:?}, 1→2 {b:?}");
    assert!(a[0] >= 55 && a[2] >= 165 && a[1] == 0, "0→1 {a:?}");
    assert!(b[0] >= 55 && b[1] + b[2] == 0, "1→2 {b:?}");
    for n in 0..3 {
        assert_eq!(w.nodes[n].stats().relay_demand_dropped, 0, "node {n}");
    }
}
