//! The router demo's command line: see [`sfu_sim::router_demo`].

use sfu_sim::router_demo::{DemoOptions, run};

fn main() {
    let mut opts = DemoOptions::default();
    let args: Vec<String> = std::env::args().collect();
    for pair in args[1..].chunks(2) {
        match (pair[0].as_str(), pair.get(1).and_then(|v| v.parse().ok())) {
            ("--subscribers", Some(n)) => opts.subscribers = n as usize,
            ("--seconds", Some(n)) => opts.seconds = n,
            _ => {
                eprintln!("usage: router_demo [--subscribers N] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    let report = run(opts);
    println!("sub  preference  video_pkts  audio_pkts  switches  layers(q/h/f packets)");
    for (i, s) in report.subscribers.iter().enumerate() {
        let mut per_layer = [0usize; 3];
        for r in &s.video {
            per_layer[usize::from(r.layer)] += 1;
        }
        let pref = if s.first_preference == s.second_preference {
            s.first_preference.to_string()
        } else {
            format!("{}->{}", s.first_preference, s.second_preference)
        };
        println!(
            "{i:>3}  {pref:<10}  {:>10}  {:>10}  {:>8}  {}/{}/{}",
            s.video.len(),
            s.audio_seqs.len(),
            s.switch_events,
            per_layer[0],
            per_layer[1],
            per_layer[2]
        );
    }
    let mut per_layer = [0usize; 3];
    for (_, l) in &report.upstream_keyframe_requests {
        per_layer[*l] += 1;
    }
    println!(
        "keyframe requests: {} from subscribers -> {} to the publisher (q/h/f: {}/{}/{}), {} suppressed by the 500 ms interval",
        report.subscriber_keyframe_requests,
        report.upstream_keyframe_requests.len(),
        per_layer[0],
        per_layer[1],
        per_layer[2],
        report.stats.keyframe_requests_suppressed
    );
    println!(
        "packets: {} received from the publisher, {} forwarded; subscriptions ended when the publisher left: {}",
        report.stats.rtp_received,
        report.stats.rtp_forwarded,
        report
            .subscribers
            .iter()
            .map(|s| s.ended.len())
            .sum::<usize>()
    );
}
