//! Load generator: the `sfu-net` driver on 127.0.0.1 with one publisher and
//! N viewers in the same process, each a real client on its own loopback
//! UDP socket and thread (STUN check with USE-CANDIDATE, a `dimpl` DTLS 1.2
//! client with its own certificate, SRTP keyed from the DTLS exporter). The
//! publisher sends a steady VP8-shaped RTP stream (a keyframe first and on
//! every PLI); viewers decrypt and count what arrives.
//!
//! It reports the driver thread's CPU time per forwarded packet (utime +
//! stime of the thread named `sfu-driver`, divided by the router's
//! `rtp_forwarded`) next to a baseline measured in the same run: the CPU
//! time per packet of a raw `sendmmsg` of as many packets of the forwarded
//! size to as many loopback sinks, one packet per sink per batch as the SFU
//! fans out: back to back (`ratio`, the floor) and paced like the publisher
//! (`ratio_vs_paced`, which also pays a sleep and wake-up per batch). Loss
//! is split into publisher to SFU (`sfu_received_packets`) and SFU to
//! viewers. The last line of output is one JSON object.
//!
//! Run: `cargo run --release -p sfu-loadgen --bin loadgen [-- --viewers N --seconds S --pps P --size BYTES]`

mod baseline;
mod client;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::Duration;

use baseline::{cpu_clock, raw_send, thread_cpu, threads_named};
use client::{Client, PUBLISHER_SSRCS};
use sfu_net::driver::{Driver, DriverConfig};

/// How long viewers keep reading after the publisher stopped.
const DRAIN: Duration = Duration::from_millis(500);

/// What the load run does.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Number of viewers of the one publisher.
    pub viewers: usize,
    /// How long the publisher sends.
    pub seconds: u64,
    /// Publisher packets per second.
    pub pps: u32,
    /// RTP packet size before SRTP (header + payload).
    pub packet_size: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            viewers: 20,
            seconds: 10,
            pps: 1000,
            packet_size: 1200,
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The options it ran with.
    pub options: LoadOptions,
    /// RTP packets the publisher sent.
    pub sent_packets: u64,
    /// `rtp_received` of the router during the media phase: what reached
    /// the SFU from the publisher, decrypted.
    pub sfu_received_packets: u64,
    /// Datagrams and events the endpoint dropped (bounded queues).
    pub endpoint_dropped: u64,
    /// `rtp_forwarded` of the router during the media phase.
    pub forwarded_packets: u64,
    /// RTP packets each viewer received and decrypted.
    pub received_per_viewer: Vec<u64>,
    /// Media datagrams viewers could not decrypt.
    pub decrypt_failures: u64,
    /// Datagrams the driver's socket refused.
    pub driver_send_dropped: u64,
    /// The SRTP datagram size viewers received.
    pub wire_size: usize,
    /// CPU time of the driver thread during the media phase.
    pub sfu_cpu: Duration,
    /// Turns of the driver loop (wake-ups) during the media phase.
    pub driver_turns: u64,
    /// Packets the raw baseline sent (as many as were forwarded).
    pub raw_send_packets: u64,
    /// Packets the raw baseline's socket refused.
    pub raw_send_refused: u64,
    /// CPU time of the baseline's sending thread.
    pub raw_send_cpu: Duration,
    /// Packets the paced baseline sent.
    pub raw_paced_send_packets: u64,
    /// Packets the paced baseline's socket refused.
    pub raw_paced_send_refused: u64,
    /// CPU time of the paced baseline's sending thread.
    pub raw_paced_send_cpu: Duration,
}

impl LoadReport {
    /// Decrypted RTP packets over all viewers.
    pub fn received_packets(&self) -> u64 {
        self.received_per_viewer.iter().sum()
    }

    /// What viewers would have received without loss.
    pub fn expected_packets(&self) -> u64 {
        self.sent_packets * self.options.viewers as u64
    }

    /// The fraction of expected packets that viewers did not receive.
    pub fn loss(&self) -> f64 {
        let expected = self.expected_packets();
        if expected == 0 {
            return 1.0;
        }
        1.0 - self.received_packets() as f64 / expected as f64
    }

    /// Driver CPU nanoseconds per forwarded packet.
    pub fn sfu_ns_per_packet(&self) -> f64 {
        per_packet(self.sfu_cpu, self.forwarded_packets)
    }

    /// Baseline CPU nanoseconds per raw `sendmmsg`ed packet, back to back.
    pub fn raw_ns_per_packet(&self) -> f64 {
        per_packet(self.raw_send_cpu, self.raw_send_packets)
    }

    /// The same, paced like the publisher.
    pub fn raw_paced_ns_per_packet(&self) -> f64 {
        per_packet(self.raw_paced_send_cpu, self.raw_paced_send_packets)
    }

    /// The whole report as one JSON object.
    pub fn to_json(&self) -> String {
        let finite = |x: f64| x.is_finite().then_some(x);
        let ratio = self.sfu_ns_per_packet() / self.raw_ns_per_packet();
        let ratio_paced = self.sfu_ns_per_packet() / self.raw_paced_ns_per_packet();
        serde_json::json!({
            "viewers": self.options.viewers,
            "seconds": self.options.seconds,
            "pps": self.options.pps,
            "packet_size": self.options.packet_size,
            "wire_size": self.wire_size,
            "sent_packets": self.sent_packets,
            "sfu_received_packets": self.sfu_received_packets,
            "endpoint_dropped": self.endpoint_dropped,
            "forwarded_packets": self.forwarded_packets,
            "expected_packets": self.expected_packets(),
            "received_packets": self.received_packets(),
            "min_received_by_a_viewer": self.received_per_viewer.iter().min(),
            "loss": self.loss(),
            "decrypt_failures": self.decrypt_failures,
            "driver_send_dropped": self.driver_send_dropped,
            "sfu_cpu_ms": self.sfu_cpu.as_secs_f64() * 1e3,
            "driver_turns": self.driver_turns,
            "sfu_cpu_ns_per_forwarded_packet": finite(self.sfu_ns_per_packet()),
            "raw_send_packets": self.raw_send_packets,
            "raw_send_refused": self.raw_send_refused,
            "cpu_clock": cpu_clock(),
            "raw_send_cpu_ms": self.raw_send_cpu.as_secs_f64() * 1e3,
            "raw_send_cpu_ns_per_packet": finite(self.raw_ns_per_packet()),
            "raw_paced_send_refused": self.raw_paced_send_refused,
            "raw_paced_send_cpu_ns_per_packet": finite(self.raw_paced_ns_per_packet()),
            "ratio": finite(ratio),
            "ratio_vs_paced": finite(ratio_paced),
        })
        .to_string()
    }
}

fn per_packet(cpu: Duration, packets: u64) -> f64 {
    if packets == 0 {
        return f64::NAN;
    }
    cpu.as_nanos() as f64 / packets as f64
}

/// Runs the whole load: driver, clients, media phase, then the baseline.
/// Panics with a message when the setup fails (no driver, no handshake).
pub fn run(options: LoadOptions) -> LoadReport {
    assert!(
        options.viewers > 0 && options.pps > 0,
        "need viewers and pps"
    );
    assert!(options.packet_size >= 32, "packets need room for VP8");
    let before = threads_named("sfu-driver");
    let driver =
        Driver::spawn(DriverConfig::new("127.0.0.1:0".parse().unwrap())).expect("driver starts");
    // The new thread names itself once it runs: wait for it.
    let driver_tid = (0..1000)
        .find_map(|_| {
            let tid = threads_named("sfu-driver")
                .into_iter()
                .find(|t| !before.contains(t));
            if tid.is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
            tid
        })
        .expect("the sfu-driver thread");
    let driver_task = format!("/proc/self/task/{driver_tid}");
    let handle = driver.handle();

    // Publisher, every viewer and this thread meet once all are connected;
    // the publisher starts once this thread has taken the first readings.
    let connected = Arc::new(Barrier::new(options.viewers + 2));
    let go = Arc::new(Barrier::new(2));
    let stop = Arc::new(AtomicBool::new(false));

    let mut publisher = Client::new(0);
    let publication = handle
        .publish(&publisher.offer(Some(PUBLISHER_SSRCS)))
        .expect("publish offer answered");
    publisher.apply_answer(&publication.answer);
    let publisher_thread = {
        let (connected, go) = (connected.clone(), go.clone());
        std::thread::Builder::new()
            .name("lg-publisher".into())
            .spawn(move || {
                publisher.connect();
                connected.wait();
                go.wait();
                publisher.publish(options)
            })
            .unwrap()
    };

    let viewer_threads: Vec<JoinHandle<(u64, u64, usize)>> = (1..=options.viewers)
        .map(|i| {
            let mut viewer = Client::new(i);
            let viewing = handle
                .view(&viewer.offer(None), Some(publication.session), None)
                .expect("view offer answered");
            viewer.apply_answer(&viewing.answer);
            let (connected, stop) = (connected.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("lg-viewer-{i}"))
                .spawn(move || {
                    viewer.connect();
                    connected.wait();
                    viewer.view(&stop)
                })
                .unwrap()
        })
        .collect();

    connected.wait();
    let cpu_start = thread_cpu(&driver_task);
    let stats_start = handle.stats().expect("stats");
    go.wait();
    let sent_packets = publisher_thread.join().expect("publisher thread");
    std::thread::sleep(DRAIN);
    let cpu_end = thread_cpu(&driver_task);
    let stats_end = handle.stats().expect("stats");
    stop.store(true, Ordering::Relaxed);
    let mut received_per_viewer = Vec::with_capacity(options.viewers);
    let (mut decrypt_failures, mut wire_size) = (0, 0);
    for t in viewer_threads {
        let (received, failures, size) = t.join().expect("viewer thread");
        received_per_viewer.push(received);
        decrypt_failures += failures;
        wire_size = wire_size.max(size);
    }
    driver.shutdown();

    let forwarded_packets =
        stats_end.node.router.rtp_forwarded - stats_start.node.router.rtp_forwarded;
    let wire_size = if wire_size == 0 {
        options.packet_size
    } else {
        wire_size
    };
    let raw = raw_send(forwarded_packets, wire_size, options, false);
    let paced = raw_send(forwarded_packets, wire_size, options, true);
    LoadReport {
        options,
        sent_packets,
        forwarded_packets,
        received_per_viewer,
        decrypt_failures,
        sfu_received_packets: stats_end.node.router.rtp_received
            - stats_start.node.router.rtp_received,
        endpoint_dropped: (stats_end.node.endpoint.transmits_dropped
            + stats_end.node.endpoint.events_dropped)
            - (stats_start.node.endpoint.transmits_dropped
                + stats_start.node.endpoint.events_dropped),
        driver_send_dropped: stats_end.send_dropped - stats_start.send_dropped,
        wire_size,
        sfu_cpu: cpu_end.saturating_sub(cpu_start),
        driver_turns: stats_end.turns - stats_start.turns,
        raw_send_packets: raw.sent,
        raw_send_refused: raw.refused,
        raw_send_cpu: raw.cpu,
        raw_paced_send_packets: paced.sent,
        raw_paced_send_refused: paced.refused,
        raw_paced_send_cpu: paced.cpu,
    }
}
