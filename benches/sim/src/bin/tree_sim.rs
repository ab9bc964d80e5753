//! The cascading-tree simulation's command line: see [`sfu_sim::tree_sim`]
//! for the model, the flags and the metrics. The last line printed is one
//! JSON object.

use sfu_sim::tree_sim::{TreeOptions, run};

fn main() {
    let opts = match TreeOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tree_sim: {e}");
            std::process::exit(2);
        }
    };
    let r = run(opts);
    println!(
        "{} nodes, fanout {}, {} viewers, loss {}, seed {}, {} s: depth {}, \
         {:.4} delivered within 250 ms ({:.4} at all), {:.3} publisher NACKs per loss, \
         origin sends {:.3} copies of the stream ({:.3} originals + {:.3} retransmissions), \
         at most {} relay children per node",
        opts.nodes,
        opts.fanout,
        opts.viewers,
        opts.loss,
        opts.seed,
        opts.seconds,
        r.depth,
        r.delivered_within_deadline,
        r.delivered_eventually,
        r.publisher_nacks_per_publisher_loss,
        r.origin_relay_copies,
        r.origin_relay_media_copies,
        r.origin_relay_retransmission_overhead,
        r.relay_children_max,
    );
    println!("{}", r.to_json(&opts));
}
