//! The load generator's command line: see [`sfu_loadgen`] for what it
//! measures. The last line printed is one JSON object; `--sweep` runs the
//! README's grid (N = 10, 100, 500, 1000 viewers at 100 and 1 000 pps) and
//! prints it as a Markdown table, then one JSON object per run.

use sfu_loadgen::{LoadOptions, LoadReport, run};

const SWEEP_VIEWERS: [usize; 4] = [10, 100, 500, 1000];
const SWEEP_PPS: [u32; 2] = [100, 1000];

fn main() {
    let mut opts = LoadOptions::default();
    let mut sweep = false;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--sweep" {
            sweep = true;
            i += 1;
            continue;
        }
        match (
            args[i].as_str(),
            args.get(i + 1).and_then(|v| v.parse::<u64>().ok()),
        ) {
            ("--viewers", Some(n)) if n > 0 => opts.viewers = n as usize,
            ("--seconds", Some(n)) if n > 0 => opts.seconds = n,
            ("--pps", Some(n)) if n > 0 => opts.pps = n as u32,
            ("--size", Some(n)) if n >= 32 => opts.packet_size = n as usize,
            _ => {
                eprintln!(
                    "usage: loadgen [--viewers N] [--seconds S] [--pps P] [--size BYTES] [--sweep]"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    if sweep {
        let mut reports = Vec::new();
        for pps in SWEEP_PPS {
            for viewers in SWEEP_VIEWERS {
                let r = run(LoadOptions {
                    viewers,
                    pps,
                    ..opts
                });
                eprintln!("{}", r.to_json());
                reports.push(r);
            }
        }
        println!(
            "| viewers | pps | decrypted / expected | SFU CPU per forwarded packet | paced sendmmsg floor | ratio | wake-ups/s |"
        );
        println!("|---|---|---|---|---|---|---|");
        for r in &reports {
            println!("{}", table_row(r));
        }
        for r in &reports {
            println!("{}", r.to_json());
        }
        return;
    }
    let r = run(opts);
    print_report(&r, opts);
}

fn table_row(r: &LoadReport) -> String {
    format!(
        "| {} | {} | {} / {} | {:.2} µs | {:.2} µs | {:.2}× | {:.0} |",
        r.options.viewers,
        r.options.pps,
        r.received_packets(),
        r.expected_packets(),
        r.sfu_ns_per_packet() / 1e3,
        r.raw_paced_ns_per_packet() / 1e3,
        r.sfu_ns_per_packet() / r.raw_paced_ns_per_packet(),
        r.driver_turns as f64 / r.options.seconds as f64,
    )
}

fn print_report(r: &LoadReport, opts: LoadOptions) {
    println!(
        "publisher sent {} RTP packets of {} bytes ({} on the wire) at {} pps for {} s",
        r.sent_packets, opts.packet_size, r.wire_size, opts.pps, opts.seconds
    );
    println!(
        "{} viewers decrypted {} of {} ({:.3}% loss; fewest by one viewer: {}), {} decrypt failures",
        opts.viewers,
        r.received_packets(),
        r.expected_packets(),
        r.loss() * 100.0,
        r.received_per_viewer.iter().min().unwrap_or(&0),
        r.decrypt_failures
    );
    println!(
        "the SFU received {} of them; {} forwarded; endpoint dropped {}, socket refused {}",
        r.sfu_received_packets, r.forwarded_packets, r.endpoint_dropped, r.driver_send_dropped
    );
    println!(
        "sfu-driver thread: {:.1} ms CPU for {} forwarded packets = {:.0} ns/packet, {} wake-ups",
        r.sfu_cpu.as_secs_f64() * 1e3,
        r.forwarded_packets,
        r.sfu_ns_per_packet(),
        r.driver_turns
    );
    println!(
        "raw sendmmsg baseline: {:.1} ms CPU for {} packets = {:.0} ns/packet; ratio {:.2}",
        r.raw_send_cpu.as_secs_f64() * 1e3,
        r.raw_send_packets,
        r.raw_ns_per_packet(),
        r.sfu_ns_per_packet() / r.raw_ns_per_packet()
    );
    println!(
        "raw sendmmsg paced at {} batches/s: {:.1} ms CPU = {:.0} ns/packet; ratio {:.2}",
        opts.pps,
        r.raw_paced_send_cpu.as_secs_f64() * 1e3,
        r.raw_paced_ns_per_packet(),
        r.sfu_ns_per_packet() / r.raw_paced_ns_per_packet()
    );
    println!("{}", r.to_json());
}
