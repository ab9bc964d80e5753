//! The driver's media sockets and what it announces: by default it
//! listens on every interface of both families and announces the
//! addresses a browser will actually use (non-loopback interface
//! addresses); a pinned address is announced as is; two sockets of one
//! family are refused; and a real peer over real UDP connects through it.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sfu_net::Error;
use sfu_net::driver::{Driver, DriverConfig};
use sfu_testkit::peer::{Peer, PeerConfig};

fn offer() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chromium156_publish_offer.sdp"
    ))
    .unwrap()
}

/// The distinct candidate addresses of an answer (every m-section repeats them).
fn candidates(answer: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for c in answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
    {
        let f: Vec<&str> = c.split(' ').collect();
        let addr = f
            .get(4)
            .and_then(|ip| ip.parse().ok())
            .zip(f.get(5).and_then(|p| p.parse().ok()))
            .map(|(ip, port)| SocketAddr::new(ip, port));
        if let Some(a) = addr.filter(|a| !out.contains(a)) {
            out.push(a);
        }
    }
    out
}

/// Non-loopback addresses of this machine's interfaces, as `ip -o addr`
/// lists them (an independent look at what the driver should find);
/// `None` where iproute2 is not installed.
fn interface_ips() -> Option<Vec<IpAddr>> {
    let out = std::process::Command::new("ip")
        .args(["-o", "addr", "show", "up"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let ips = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.iter().position(|x| *x == "inet" || *x == "inet6")?;
            f.get(at + 1)?.split('/').next()?.parse::<IpAddr>().ok()
        })
        .filter(|ip| !ip.is_loopback())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80))
        .collect();
    Some(ips)
}

#[test]
fn all_interfaces_announce_the_non_loopback_addresses_browsers_use() {
    let driver = Driver::spawn(DriverConfig::all_interfaces(0)).unwrap();
    let answer = driver.handle().publish(&offer()).unwrap().answer;
    let announced = candidates(&answer);
    assert!(!announced.is_empty());
    let Some(expected) = interface_ips() else {
        eprintln!("iproute2 missing: announced {announced:?}, not compared");
        return;
    };
    if expected.is_empty() {
        // Only loopback here: announcing it is all a browser could use.
        assert!(
            announced.iter().all(|a| a.ip().is_loopback()),
            "{announced:?}"
        );
    } else {
        for ip in &expected {
            assert!(
                announced.iter().any(|a| a.ip() == *ip),
                "{ip} not in {announced:?}"
            );
        }
        assert!(
            announced.iter().all(|a| !a.ip().is_loopback()),
            "{announced:?}"
        );
    }
    let ports: Vec<u16> = driver.local_addrs().iter().map(|a| a.port()).collect();
    assert!(announced.iter().all(|a| ports.contains(&a.port())));
    driver.shutdown();
}

#[test]
fn a_pinned_address_and_a_public_ip_are_announced_as_given() {
    let driver = Driver::spawn(DriverConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let answer = driver.handle().publish(&offer()).unwrap().answer;
    assert_eq!(candidates(&answer), vec![driver.local_addr()]);
    driver.shutdown();
    let mut config = DriverConfig::new("127.0.0.1:0".parse().unwrap());
    config.announce = vec!["203.0.113.9".parse().unwrap()];
    let driver = Driver::spawn(config).unwrap();
    let answer = driver.handle().publish(&offer()).unwrap().answer;
    let port = driver.local_addr().port();
    assert_eq!(
        candidates(&answer),
        vec![SocketAddr::from(([203, 0, 113, 9], port))]
    );
    driver.shutdown();
}

#[test]
fn both_families_are_bound_and_announced() {
    let mut config = DriverConfig::new("127.0.0.1:0".parse().unwrap());
    config.sockets.push("[::1]:0".parse().unwrap());
    let driver = match Driver::spawn(config) {
        Ok(d) => d,
        // A machine without IPv6 loopback cannot run this test.
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::AddrNotAvailable => return,
        Err(e) => panic!("{e}"),
    };
    let addrs = driver.local_addrs().to_vec();
    assert!(addrs[0].is_ipv4() && addrs[1].is_ipv6());
    let announced = candidates(&driver.handle().publish(&offer()).unwrap().answer);
    assert_eq!(announced, addrs);
    driver.shutdown();
}

#[test]
fn two_sockets_of_one_family_are_refused() {
    let mut config = DriverConfig::new("127.0.0.1:0".parse().unwrap());
    config.sockets.push("127.0.0.1:0".parse().unwrap());
    assert!(matches!(Driver::spawn(config), Err(Error::SameFamily)));
}

/// A stand-in browser over real loopback UDP: the driver's wildcard socket
/// answers its checks from the address they were sent to, DTLS completes.
#[test]
fn a_peer_connects_over_real_udp_to_a_wildcard_socket() {
    let driver = Driver::spawn(DriverConfig::new("0.0.0.0:0".parse().unwrap())).unwrap();
    let port = driver.local_addr().port();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(5)))
        .unwrap();
    let now = Instant::now();
    let mut peer = Peer::new(
        now,
        PeerConfig::new(socket.local_addr().unwrap(), 5).send_audio(),
    );
    let offer = peer.create_offer();
    let answer = driver.handle().publish(&offer).unwrap().answer;
    // Point the peer at loopback, the interface its socket can reach.
    let answer = answer
        .lines()
        .map(|l| match l.strip_prefix("a=candidate:") {
            Some(_) => format!("a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host"),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n";
    peer.apply_answer(&answer).unwrap();
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !peer.is_connected() && Instant::now() < deadline {
        let now = Instant::now();
        if peer.poll_timeout().is_some_and(|t| t <= now) {
            peer.handle_timeout(now);
        }
        while let Some((to, data)) = peer.poll_transmit() {
            socket.send_to(&data, to).unwrap();
        }
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            assert_eq!(
                from,
                SocketAddr::from(([127, 0, 0, 1], port)),
                "replies leave from the checked address"
            );
            peer.handle_datagram(Instant::now(), from, &buf[..n]);
        }
    }
    assert!(peer.is_connected());
    driver.shutdown();
}
