//! The load tool end to end at a small scale: a publisher and two viewers,
//! real DTLS-SRTP over loopback UDP against the driver, for two seconds.
//! Checks delivery only; CPU figures are printed, never asserted.

use sfu_loadgen::{LoadOptions, run};

#[test]
fn two_viewers_decrypt_at_least_90_percent_of_the_published_stream() {
    let report = run(LoadOptions {
        viewers: 2,
        seconds: 2,
        ..LoadOptions::default()
    });
    println!("{}", report.to_json());
    // 1000 pps for 2 s: a publisher that barely sent would pass the ratio below.
    assert!(
        report.sent_packets >= 1800,
        "publisher sent {}",
        report.sent_packets
    );
    assert_eq!(report.received_per_viewer.len(), 2);
    for (i, &got) in report.received_per_viewer.iter().enumerate() {
        assert!(
            got * 10 >= report.sent_packets * 9,
            "viewer {i} decrypted {got} of {} packets",
            report.sent_packets
        );
    }
    assert_eq!(report.decrypt_failures, 0);
    // Every forwarded packet is accounted for by the router and was sent.
    assert!(report.forwarded_packets >= report.received_packets());
}
