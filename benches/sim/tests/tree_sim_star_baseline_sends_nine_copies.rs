//! Without the tree (the origin relays to all nine other nodes) the
//! origin sends nine copies of the stream; with fanout 2, two.

use sfu_sim::tree_sim as sim;
use sfu_sim::tree_sim::TreeOptions;

#[test]
fn the_star_sends_nine_copies_from_the_origin() {
    let o = TreeOptions::default().star();
    assert_eq!((o.nodes, o.viewers, o.fanout), (10, 1000, 9));
    let star = sim::run(o);
    // One copy per child, a little less when a child's subscription starts
    // late (at its first keyframe): over seeds 1–20, 8.875–9.0.
    assert!(
        star.origin_relay_media_copies <= 9.0 && star.origin_relay_media_copies > 8.5,
        "{} copies without retransmissions",
        star.origin_relay_media_copies
    );
    assert!(
        star.origin_relay_copies > 9.0 && star.origin_relay_copies < 10.5,
        "{} copies in all",
        star.origin_relay_copies
    );
    assert_eq!(star.relay_children[0], 9);
    assert_eq!(star.relay_children_max, 9);
    assert_eq!(star.depth, 1);
    assert!(star.delivered_within_deadline >= 0.995, "{star:?}");

    // The origin's egress does not depend on the viewers: a small tree
    // run is enough to compare.
    let tree = sim::run(TreeOptions {
        viewers: 100,
        ..TreeOptions::default()
    });
    assert!(
        star.origin_relay_copies > 4.0 * tree.origin_relay_copies,
        "star {} vs tree {}",
        star.origin_relay_copies,
        tree.origin_relay_copies
    );
}
