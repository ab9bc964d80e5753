//! The NACK shield simulation's command line: see [`sfu_sim::nack_sim`] for
//! the model, the flags and the metrics. The last line printed is one JSON
//! object.

use sfu_sim::nack_sim::{SimOptions, run};

fn main() {
    let opts = match SimOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nack_sim: {e}");
            std::process::exit(2);
        }
    };
    let report = run(opts);
    println!(
        "shield {}, loss {}{}, seed {}, {} s: {:.4} delivered within 250 ms, recovery p50 {:.1} ms p99 {:.1} ms",
        if opts.shield { "on" } else { "off" },
        opts.loss,
        if opts.burst { " (burst)" } else { "" },
        opts.seed,
        opts.seconds,
        report.delivered_within_deadline,
        report.recovery_ms_p50,
        report.recovery_ms_p99,
    );
    println!("{}", report.to_json(&opts));
}
