//! The load generator's command line: see [`sfu_loadgen`] for what it
//! measures. The last line printed is one JSON object.

use sfu_loadgen::{LoadOptions, run};

fn main() {
    let mut opts = LoadOptions::default();
    let args: Vec<String> = std::env::args().collect();
    for pair in args[1..].chunks(2) {
        match (
            pair[0].as_str(),
            pair.get(1).and_then(|v| v.parse::<u64>().ok()),
        ) {
            ("--viewers", Some(n)) if n > 0 => opts.viewers = n as usize,
            ("--seconds", Some(n)) if n > 0 => opts.seconds = n,
            ("--pps", Some(n)) if n > 0 => opts.pps = n as u32,
            ("--size", Some(n)) if n >= 32 => opts.packet_size = n as usize,
            _ => {
                eprintln!("usage: loadgen [--viewers N] [--seconds S] [--pps P] [--size BYTES]");
                std::process::exit(2);
            }
        }
    }
    let r = run(opts);
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
        "sfu-driver thread: {:.1} ms CPU for {} forwarded packets = {:.0} ns/packet",
        r.sfu_cpu.as_secs_f64() * 1e3,
        r.forwarded_packets,
        r.sfu_ns_per_packet()
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
