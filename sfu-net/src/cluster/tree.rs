//! Where a node joins a track's tree: below the shallowest live node that
//! still has room, so each relay's upstream carries at most `fanout` copies
//! and depth grows as log(nodes).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::NodeId;

/// A tree holds at most this many nodes; edges beyond it are ignored.
pub const MAX_TREE_NODES: usize = 4096;

fn children_of(edges: &[(NodeId, NodeId)]) -> BTreeMap<&NodeId, Vec<&NodeId>> {
    let mut children: BTreeMap<&NodeId, Vec<&NodeId>> = BTreeMap::new();
    for (node, parent) in edges.iter().take(MAX_TREE_NODES) {
        if node != parent {
            children.entry(parent).or_default().push(node);
        }
    }
    children
}

/// `root` and every node below it in `edges` (`(node, parent)` pairs), in
/// breadth-first order; cycles and repeats are visited once.
pub fn subtree(edges: &[(NodeId, NodeId)], root: &NodeId) -> Vec<NodeId> {
    let children = children_of(edges);
    let mut seen = BTreeSet::from([root]);
    let mut order = vec![root.clone()];
    let mut queue = VecDeque::from([root]);
    while let Some(n) = queue.pop_front() {
        for c in children.get(n).into_iter().flatten() {
            if seen.insert(*c) {
                order.push((*c).clone());
                queue.push_back(c);
            }
        }
    }
    order
}

/// The parent `me` should attach below in a track's tree, or `None` if no
/// node can take it.
///
/// The tree is the `origin` (where the track is published) and `edges`
/// (`(node, parent)`, as the directory holds them). Only nodes reachable
/// from the origin through nodes `usable` accepts (alive and not draining;
/// the caller decides) are candidates, so a dead node's subtree is skipped
/// until it re-attaches. `me` and its own subtree are never candidates (no
/// cycles when a node re-parents with its children), nor are the nodes in
/// `skip` (they refused us just now). A candidate has room when fewer than
/// `fanout` usable children hang below it. The shallowest candidate with
/// room wins; among equals, the one with fewer children, then the lowest id.
pub fn choose_parent(
    origin: &NodeId,
    edges: &[(NodeId, NodeId)],
    me: &NodeId,
    usable: impl Fn(&NodeId) -> bool,
    fanout: usize,
    skip: &[NodeId],
) -> Option<NodeId> {
    if origin == me || !usable(origin) || fanout == 0 {
        return None;
    }
    let children = children_of(edges);
    let mut seen = BTreeSet::from([origin]);
    let mut level = vec![origin];
    while !level.is_empty() {
        let mut best: Option<(&NodeId, usize)> = None;
        let mut next = Vec::new();
        for n in &level {
            let below: Vec<&NodeId> = children
                .get(*n)
                .into_iter()
                .flatten()
                .copied()
                .filter(|c| *c != me && usable(c))
                .collect();
            if below.len() < fanout && !skip.contains(n) {
                let better = match best {
                    None => true,
                    Some((b, count)) => (below.len(), *n) < (count, b),
                };
                if better {
                    best = Some((n, below.len()));
                }
            }
            for c in below {
                if seen.insert(c) {
                    next.push(c);
                }
            }
        }
        if let Some((n, _)) = best {
            return Some(n.clone());
        }
        level = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn edges(list: &[(&str, &str)]) -> Vec<(NodeId, NodeId)> {
        list.iter().map(|(n, p)| (id(n), id(p))).collect()
    }

    #[test]
    fn the_origin_takes_fanout_children_then_nodes_attach_below() {
        let o = id("o");
        let all = |_: &NodeId| true;
        assert_eq!(
            choose_parent(&o, &[], &id("a"), all, 2, &[]),
            Some(o.clone())
        );
        let e = edges(&[("a", "o"), ("b", "o")]);
        assert_eq!(choose_parent(&o, &e, &id("c"), all, 2, &[]), Some(id("a")));
        let e = edges(&[("a", "o"), ("b", "o"), ("c", "a")]);
        assert_eq!(choose_parent(&o, &e, &id("d"), all, 2, &[]), Some(id("b")));
        // K = 1: a chain.
        let e = edges(&[("a", "o"), ("b", "a")]);
        assert_eq!(choose_parent(&o, &e, &id("c"), all, 1, &[]), Some(id("b")));
    }

    #[test]
    fn a_dead_parent_is_skipped_and_a_node_never_attaches_below_itself() {
        let o = id("o");
        // o → a → b → c, a dies: b re-attaches; with K = 1, below c? No:
        // c is b's own subtree, so it goes to o, whose one child is dead.
        let e = edges(&[("a", "o"), ("b", "a"), ("c", "b")]);
        let alive = |n: &NodeId| n.as_str() != "a";
        assert_eq!(
            choose_parent(&o, &e, &id("b"), alive, 1, &[]),
            Some(o.clone())
        );
        // A refusal moves on to the next candidate.
        let all = |_: &NodeId| true;
        let e = edges(&[("a", "o"), ("b", "o")]);
        assert_eq!(
            choose_parent(&o, &e, &id("c"), all, 2, &[id("a")]),
            Some(id("b"))
        );
        // A dead origin has no tree.
        assert_eq!(choose_parent(&o, &e, &id("c"), |n| n != &o, 2, &[]), None);
    }

    #[test]
    fn cycles_in_the_records_end_the_walk() {
        let o = id("o");
        let e = edges(&[("a", "o"), ("b", "a"), ("a", "b")]);
        assert_eq!(subtree(&e, &id("a")).len(), 2);
        assert_eq!(choose_parent(&o, &e, &id("c"), |_| true, 1, &[]), None);
        assert_eq!(choose_parent(&o, &e, &id("c"), |_| true, 2, &[]), Some(o));
    }
}
