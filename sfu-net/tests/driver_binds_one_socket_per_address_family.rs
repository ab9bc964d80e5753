//! The driver serves IPv4 and IPv6 peers from one socket per address
//! family, announcing both as host candidates; two sockets of the same
//! family are refused.

use std::net::SocketAddr;

use sfu_net::driver::{Driver, DriverConfig, DriverError};

fn offer() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chromium156_publish_offer.sdp"
    ))
    .unwrap()
}

#[test]
fn both_families_are_bound_and_announced() {
    let mut config = DriverConfig::new("127.0.0.1:0".parse().unwrap());
    config.bind_other_family = Some("[::1]:0".parse().unwrap());
    let driver = match Driver::spawn(config) {
        Ok(d) => d,
        // A machine without IPv6 loopback cannot run this test.
        Err(DriverError::Io(e)) if e.kind() == std::io::ErrorKind::AddrNotAvailable => return,
        Err(e) => panic!("{e}"),
    };
    let v4 = driver.local_addr();
    let v6 = driver.local_addr_other_family().unwrap();
    assert!(v4.is_ipv4() && v6.is_ipv6());
    let publication = driver.handle().publish(&offer()).unwrap();
    let candidates: Vec<&str> = publication
        .answer
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    let announces = |a: SocketAddr| {
        candidates
            .iter()
            .any(|c| c.contains(&format!(" {} {} typ host", a.ip(), a.port())))
    };
    assert!(announces(v4) && announces(v6), "{candidates:?}");
    driver.shutdown();
}

#[test]
fn two_sockets_of_one_family_are_refused() {
    let mut config = DriverConfig::new("127.0.0.1:0".parse().unwrap());
    config.bind_other_family = Some("127.0.0.1:0".parse().unwrap());
    assert!(matches!(
        Driver::spawn(config),
        Err(DriverError::SameFamily)
    ));
}
