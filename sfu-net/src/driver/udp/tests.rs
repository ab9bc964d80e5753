//! Behaviour of the driver's sockets over loopback: what arrives, from and
//! to which address, and what a refused datagram does to the rest of its
//! batch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::*;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A plain socket on `ip`, as a remote peer would have.
fn peer(ip: IpAddr) -> UdpSocket {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
}

/// Reads until `want` datagrams arrived or two seconds passed.
fn receive(socket: &UdpSocket, want: usize) -> Vec<(SocketAddr, Option<IpAddr>, Vec<u8>)> {
    let mut batch = RecvBatch::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < want && Instant::now() < deadline {
        if recv_batch(socket, &mut batch).unwrap() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        got.extend(batch.iter().map(|r| (r.from, r.to, r.data.to_vec())));
    }
    got
}

fn ipv6_loopback_works() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

/// The port the wildcard socket listens on, addressed at `ip`.
fn at(socket: &UdpSocket, ip: IpAddr) -> SocketAddr {
    SocketAddr::new(ip, socket.local_addr().unwrap().port())
}

#[test]
fn batches_round_trip_over_loopback() {
    let a = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
    let b = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
    let to = b.local_addr().unwrap();
    let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
    let datagrams: Vec<Outgoing<'_>> = payloads
        .iter()
        .map(|p| Outgoing {
            to,
            from: None,
            data: p,
        })
        .collect();
    let report = send_batch(&a, &datagrams);
    assert_eq!(
        report,
        SendReport {
            sent: 40,
            refused: 0,
            dropped: 0
        }
    );
    let got = receive(&b, 40);
    assert_eq!(got.len(), 40);
    assert!(
        got.iter()
            .all(|(from, _, _)| *from == a.local_addr().unwrap())
    );
    let datas: Vec<Vec<u8>> = got.into_iter().map(|(_, _, d)| d).collect();
    assert_eq!(datas, payloads, "in order, whole");
    let mut batch = RecvBatch::new();
    assert_eq!(
        recv_batch(&b, &mut batch).unwrap(),
        0,
        "would block is not an error"
    );
    assert_eq!(batch.iter().count(), 0);
}

#[test]
#[cfg(target_os = "linux")]
fn wildcard_socket_reports_destination_and_replies_from_it() {
    let server = bind("0.0.0.0:0".parse().unwrap(), 1 << 20).unwrap();
    let client = peer(LOCALHOST);
    // 127.0.0.2 is local on Linux too (all of 127/8 is on `lo`), and the
    // kernel would answer from 127.0.0.1 if not told otherwise.
    for local in [LOCALHOST, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))] {
        client.send_to(b"ping", at(&server, local)).unwrap();
        let got = receive(&server, 1);
        assert_eq!(got.len(), 1);
        let (from, to, data) = &got[0];
        assert_eq!(*from, client.local_addr().unwrap());
        assert_eq!(*to, Some(local));
        assert_eq!(data, b"ping");

        let report = send_batch(
            &server,
            &[Outgoing {
                to: *from,
                from: *to,
                data: b"pong",
            }],
        );
        assert_eq!(report.sent, 1);
        let mut buf = [0; 16];
        let (len, source) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"pong");
        assert_eq!(
            source,
            at(&server, local),
            "the reply leaves from where the ping arrived"
        );
    }
}

#[test]
#[cfg(target_os = "linux")]
fn ipv6_wildcard_socket_reports_destination_and_replies_from_it() {
    if !ipv6_loopback_works() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let server = bind("[::]:0".parse().unwrap(), 1 << 20).unwrap();
    let client = peer(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let local = IpAddr::V6(Ipv6Addr::LOCALHOST);
    client.send_to(b"ping", at(&server, local)).unwrap();
    let got = receive(&server, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, Some(local));
    let report = send_batch(
        &server,
        &[Outgoing {
            to: got[0].0,
            from: got[0].1,
            data: b"pong",
        }],
    );
    assert_eq!(report.sent, 1);
    let mut buf = [0; 16];
    let (len, source) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"pong");
    assert_eq!(source, at(&server, local));
}

#[test]
fn ipv4_and_ipv6_wildcards_share_a_port() {
    let v4 = bind("0.0.0.0:0".parse().unwrap(), 0).unwrap();
    let port = v4.local_addr().unwrap().port();
    if !ipv6_loopback_works() {
        eprintln!("no IPv6 loopback here: v6 part skipped");
        return;
    }
    let v6 = bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), 0).unwrap();
    assert_eq!(v6.local_addr().unwrap().port(), port);
    // Each family reaches its own socket.
    let client4 = peer(LOCALHOST);
    let client6 = peer(IpAddr::V6(Ipv6Addr::LOCALHOST));
    client4.send_to(b"four", at(&v4, LOCALHOST)).unwrap();
    client6
        .send_to(b"six", at(&v6, Ipv6Addr::LOCALHOST.into()))
        .unwrap();
    assert_eq!(receive(&v4, 1)[0].2, b"four");
    assert_eq!(receive(&v6, 1)[0].2, b"six");
}

#[test]
fn refused_datagrams_are_skipped_and_the_rest_of_the_batch_is_sent() {
    let socket = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
    let receiver = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
    let good = receiver.local_addr().unwrap();
    let payloads: Vec<[u8; 1]> = (0..40u8).map(|i| [i]).collect();
    let datagrams: Vec<Outgoing<'_>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Outgoing {
            to: match i {
                // EINVAL: port 0.
                5 => "127.0.0.1:0".parse().unwrap(),
                // EAFNOSUPPORT: IPv6 on an IPv4 socket.
                17 => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), good.port()),
                _ => good,
            },
            from: None,
            data: p,
        })
        .collect();
    let report = send_batch(&socket, &datagrams);
    assert_eq!(
        report,
        SendReport {
            sent: 38,
            refused: 2,
            dropped: 0
        }
    );
    let got: Vec<u8> = receive(&receiver, 38)
        .iter()
        .map(|(_, _, d)| d[0])
        .collect();
    let want: Vec<u8> = (0..40u8).filter(|i| *i != 5 && *i != 17).collect();
    assert_eq!(got, want);
}

#[test]
#[cfg(target_os = "linux")]
fn a_source_of_the_other_family_or_not_local_is_refused() {
    let socket = bind("0.0.0.0:0".parse().unwrap(), 0).unwrap();
    let receiver = peer(LOCALHOST);
    let to = receiver.local_addr().unwrap();
    // From TEST-NET-2, one that is not an address of this host.
    let local = interface_addresses().unwrap();
    let not_local = (1..=254u8)
        .map(|i| IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)))
        .find(|ip| local.iter().all(|a| a.ip != *ip))
        .unwrap();
    let report = send_batch(
        &socket,
        &[
            Outgoing {
                to,
                from: Some(Ipv6Addr::LOCALHOST.into()),
                data: b"other family",
            },
            Outgoing {
                to,
                from: Some(not_local),
                data: b"not local",
            },
            Outgoing {
                to,
                from: Some(Ipv4Addr::UNSPECIFIED.into()),
                data: b"kernel's choice",
            },
        ],
    );
    assert_eq!(report.refused, 2, "{report:?}");
    assert_eq!(report.sent, 1);
    let mut buf = [0; 32];
    let (len, _) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"kernel's choice");
}

#[test]
fn truncated_datagrams_are_skipped() {
    let server = bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
    let client = peer(LOCALHOST);
    let to = server.local_addr().unwrap();
    client.send_to(&[7; MAX_DATAGRAM + 100], to).unwrap();
    client.send_to(&[8; 100], to).unwrap();
    // Both count as read, so the caller keeps reading; only one is handed on.
    let mut batch = RecvBatch::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut read = 0;
    let mut handed_on = Vec::new();
    while read < 2 && Instant::now() < deadline {
        read += recv_batch(&server, &mut batch).unwrap();
        handed_on.extend(batch.iter().map(|r| r.data.to_vec()));
    }
    assert_eq!(read, 2);
    assert_eq!(handed_on, vec![vec![8; 100]]);
}

#[test]
fn odd_input_is_counted_not_panicked_on() {
    let socket = bind("127.0.0.1:0".parse().unwrap(), usize::MAX).unwrap();
    let receiver = peer(LOCALHOST);
    let to = receiver.local_addr().unwrap();
    assert_eq!(send_batch(&socket, &[]), SendReport::default());
    let huge = vec![0; 70_000];
    let odd = [
        Outgoing {
            to,
            from: None,
            data: &[],
        },
        Outgoing {
            to,
            from: None,
            data: &huge,
        },
        Outgoing {
            to: "0.0.0.0:9".parse().unwrap(),
            from: None,
            data: b"x",
        },
        Outgoing {
            to: "255.255.255.255:9".parse().unwrap(),
            from: None,
            data: b"x",
        },
        Outgoing {
            to: "[::]:0".parse().unwrap(),
            from: Some(Ipv6Addr::UNSPECIFIED.into()),
            data: b"x",
        },
        Outgoing {
            to: "[fe80::1%99]:9".parse().unwrap(),
            from: Some("fe80::1".parse().unwrap()),
            data: b"x",
        },
    ];
    let report = send_batch(&socket, &odd);
    assert_eq!(report.sent + report.refused + report.dropped, odd.len());
    assert!(report.refused >= 3, "{report:?}");
    // Many more than a socket buffer holds: every one is accounted for.
    let small = bind("127.0.0.1:0".parse().unwrap(), 0).unwrap();
    let data = [0; 1200];
    let flood = vec![
        Outgoing {
            to,
            from: None,
            data: &data
        };
        5_000
    ];
    let report = send_batch(&small, &flood);
    assert_eq!(report.sent + report.refused + report.dropped, flood.len());
    // A socket bound elsewhere, without destination reporting: `to` is None.
    let plain = peer(LOCALHOST);
    plain.set_nonblocking(true).unwrap();
    socket.send_to(b"hi", plain.local_addr().unwrap()).unwrap();
    let got = receive(&plain, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, None);
}

#[test]
#[cfg(target_os = "linux")]
fn interface_addresses_include_loopback() {
    use super::linux::is_ipv6_link_local;
    let addresses = interface_addresses().unwrap();
    let lo = addresses
        .iter()
        .find(|a| a.ip == LOCALHOST)
        .expect("127.0.0.1 on an interface that is up");
    assert!(lo.loopback);
    assert!(!lo.name.is_empty());
    assert!(!lo.is_host_candidate());
    for a in &addresses {
        assert_eq!(a.link_local, a.ip.is_ipv6() && is_ipv6_link_local(&a.ip));
        if a.link_local {
            assert!(!a.is_host_candidate());
        }
    }
}

#[test]
#[cfg(target_os = "linux")]
fn link_local_is_fe80_slash_10() {
    use super::linux::is_ipv6_link_local;
    let ll = |s: &str| is_ipv6_link_local(&s.parse().unwrap());
    assert!(ll("fe80::1"));
    assert!(ll("febf:ffff::1"));
    assert!(!ll("fec0::1"));
    assert!(!ll("2001:db8::1"));
    assert!(!ll("::1"));
    assert!(!ll("169.254.1.1"));
}

#[test]
#[cfg(target_os = "linux")]
fn only_a_full_buffer_stops_a_batch() {
    use super::linux::{AfterSendError, after_send_error};
    assert_eq!(
        after_send_error(Some(libc::EAGAIN), 0),
        AfterSendError::Stop
    );
    assert_eq!(
        after_send_error(Some(libc::ENOBUFS), 0),
        AfterSendError::Stop
    );
    assert_eq!(
        after_send_error(Some(libc::EINTR), 0),
        AfterSendError::Retry
    );
    assert_eq!(
        after_send_error(Some(libc::EINTR), 3),
        AfterSendError::Skip,
        "a signal storm does not loop forever"
    );
    for refused in [
        libc::EINVAL,
        libc::EACCES,
        libc::EPERM,
        libc::ENETUNREACH,
        libc::EHOSTUNREACH,
        libc::EMSGSIZE,
        libc::EAFNOSUPPORT,
        libc::EADDRNOTAVAIL,
        libc::ECONNREFUSED,
        libc::EBADF,
    ] {
        assert_eq!(after_send_error(Some(refused), 0), AfterSendError::Skip);
    }
    assert_eq!(after_send_error(None, 0), AfterSendError::Skip);
}
