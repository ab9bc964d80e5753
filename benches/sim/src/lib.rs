//! Simulations of the SFU in simulated time (not published): the real
//! `sfu-core` routers and `sfu-nack` shield, driven by seeded models of
//! publishers, subscribers and links from the test kit, with no sockets and
//! no wall clock. Same options, same seed, same numbers.
//!
//! - [`nack_sim`]: publisher → SFU A → relay → SFU B → subscribers over
//!   lossy links, shield on or off; `cargo run --release -p sfu-sim --bin
//!   nack_sim -- --seed 7 --seconds 10` prints one JSON line.
//! - [`tree_sim`]: one publisher, 10 nodes in a per-track cascading tree
//!   (fanout 2, or a star), 1 000 viewers, lossy links on every hop;
//!   `cargo run --release -p sfu-sim --bin tree_sim -- --seed 7` prints one
//!   JSON line.
//! - [`router_demo`]: one simulcast publisher, fifty subscribers with mixed
//!   layer preferences and a keyframe-request storm; `cargo run --release
//!   -p sfu-sim --bin router_demo`.
//!
//! Each binary is a thin command line over its module's `run`; the goal
//! tests in `tests/` call the same functions.

mod model;
pub mod nack_sim;
pub mod router_demo;
pub mod tree_sim;
