//! The driver reports its loop's cost: turns (one per wake-up), the time
//! spent working and the longest turn, all growing as datagrams and
//! commands wake it; and the node it builds gets the configured
//! track-idle timeout.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use sfu_net::Error;
use sfu_net::driver::{Driver, DriverConfig, DriverHandle, DriverStats};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Stats once `done` holds. A turn is counted when it ends, after the
/// command that read the node's stats returned: read again (each read is a
/// turn of its own) until it shows.
fn stats_once(handle: &DriverHandle, done: impl Fn(&DriverStats) -> bool) -> DriverStats {
    let mut stats = handle.stats().unwrap();
    for _ in 0..400 {
        if done(&stats) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        stats = handle.stats().unwrap();
    }
    stats
}

#[test]
fn turns_busy_time_and_traffic_grow_as_the_driver_works() {
    let driver = Driver::spawn(DriverConfig::new(loopback())).unwrap();
    let handle = driver.handle();
    // The first turn runs at start; every command wakes the driver again.
    let first = stats_once(&handle, |s| s.turns >= 1);
    assert!(first.turns >= 1);
    assert!(first.busy > Duration::ZERO);
    assert!(first.longest_turn > Duration::ZERO && first.longest_turn <= first.busy);

    // Datagrams the node drops (not STUN, DTLS or RTP) still cost turns.
    let client = UdpSocket::bind(loopback()).unwrap();
    for _ in 0..20 {
        client.send_to(&[0xff; 200], driver.local_addr()).unwrap();
    }
    let later = stats_once(&handle, |s| {
        s.node.datagrams_received >= 20 && s.turns > first.turns && s.busy > first.busy
    });
    assert_eq!(later.node.datagrams_received, 20);
    assert_eq!(later.node.bytes_received, 20 * 200);
    assert_eq!(later.node.endpoint.unknown_kind, 20);
    assert!(later.turns > first.turns, "{} turns", later.turns);
    assert!(later.busy > first.busy);
    assert!(later.longest_turn >= first.longest_turn && later.longest_turn <= later.busy);

    // A command that holds the thread makes a turn at least that long.
    handle
        .call(|_, _| std::thread::sleep(Duration::from_millis(30)))
        .unwrap();
    let held = stats_once(&handle, |s| s.longest_turn >= Duration::from_millis(30));
    assert!(held.longest_turn >= Duration::from_millis(30), "{held:?}");
    assert!(held.busy >= later.busy + Duration::from_millis(30));
}

#[test]
fn the_track_idle_timeout_reaches_the_node() {
    let mut config = DriverConfig::new(loopback());
    assert_eq!(config.track_idle_timeout, Duration::from_secs(30));
    // The node refuses a zero timeout, so the driver can only have passed it on.
    config.track_idle_timeout = Duration::ZERO;
    assert!(matches!(
        Driver::spawn(config),
        Err(Error::InvalidNodeConfig(_))
    ));
}
