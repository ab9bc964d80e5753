//! The reference server's HTTP side, as a real process on loopback (no
//! browser needed). First against one stranger on the signalling port:
//! each failure the old server had is an assertion here (guessable and
//! deletable resources, an endless request line, bodies that never come, a
//! connection flood past the descriptor limit, a session reached through
//! someone else's id), plus the bearer and the JSON errors. Then
//! operations: HTTPS from certificate files, `/metrics`.

#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sfu_testkit::peer::{Peer, PeerConfig};
use support::server::*;

fn offer(send: bool) -> String {
    let addr = SocketAddr::from(([127, 0, 0, 1], 40000));
    let config = PeerConfig::new(addr, 7);
    let config = if send {
        config.send_audio().send_video()
    } else {
        config.receive_audio().receive_video()
    };
    Peer::new(Instant::now(), config).create_offer()
}

/// Old server: `/session/1`, `/session/2`, deletable by anyone; a stranger
/// then published under the same name to the existing viewers.
#[test]
fn resources_are_unguessable_and_only_their_holder_ends_them() {
    let server = start(None, &["--stream", "guarded:stream-token-0123"]);
    let sdp = [("Content-Type", "application/sdp")];
    let Some((201, _)) = request(&server, "POST", "/whep/live", &sdp, &offer(false)) else {
        panic!("WHEP view failed");
    };
    let (status, _) = request(&server, "POST", "/whip/live", &sdp, &offer(true)).unwrap();
    assert_eq!(status, 201);
    let location = post_location(&server, "/whip/other", &offer(true)).expect("a Location");
    let id = location.rsplit('/').next().unwrap();
    assert!(
        location.starts_with("/whip/other/") && id.len() == 32,
        "{location}"
    );
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    // A stranger guessing: old shapes and near misses are all 404 JSON.
    for path in ["/session/1", "/session/2", "/whip/other/1", "/whep/live/1"] {
        let (status, body) = request(&server, "DELETE", path, &[], "").unwrap();
        assert_eq!(status, 404, "{path}");
        assert_eq!(error_code(&body), "not_found");
    }
    let wrong = format!("/whip/other/{}", "0".repeat(32));
    assert_eq!(request(&server, "DELETE", &wrong, &[], "").unwrap().0, 404);
    // The stream keeps its publisher: a second one is refused.
    let (status, body) = request(&server, "POST", "/whip/live", &sdp, &offer(true)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (409, "conflict"));
    // A guarded stream needs its bearer.
    let (status, body) = request(&server, "POST", "/whip/guarded", &sdp, &offer(true)).unwrap();
    assert_eq!((status, error_code(&body).as_str()), (401, "unauthorized"));
    let auth = bearer("stream-token-0123");
    let with = [sdp[0], ("Authorization", &auth)];
    assert_eq!(
        request(&server, "POST", "/whip/guarded", &with, &offer(true))
            .unwrap()
            .0,
        201
    );
    // Its holder ends it.
    assert_eq!(
        request(&server, "DELETE", &location, &[], "").unwrap().0,
        200
    );
    assert_eq!(
        request(&server, "DELETE", &location, &[], "").unwrap().0,
        404
    );
}

/// Old server: RSS grew with every byte of an endless request line.
#[test]
fn an_endless_request_line_is_cut_off_at_the_head_limit() {
    let server = start(None, &[]);
    let before = rss_kib(server.child.id());
    let mut s = TcpStream::connect(server.http).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /").unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 256 << 20 {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    let after = rss_kib(server.child.id());
    println!("endless request line: cut off after {sent} bytes sent; RSS {before} -> {after} KiB");
    assert!(
        sent < 64 << 20,
        "the server read {sent} bytes of one request line"
    );
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    assert_eq!(get(&server, "/healthz").unwrap().0, 200);
}

/// Old server: 8 connections announcing a body they never send stalled
/// all signalling.
#[test]
fn bodies_that_never_come_stall_no_one_and_time_out() {
    // Every client here is 127.0.0.1: allow the 64 stalled ones and the one
    // that must be served (another source would have its own share).
    let server = start(
        None,
        &["--body-timeout", "2", "--max-connections-per-source", "100"],
    );
    let mut stalled: Vec<TcpStream> = (0..64)
        .map(|_| {
            let mut s = TcpStream::connect(server.http).unwrap();
            let auth = bearer(SECRET);
            write!(
                s,
                "POST /v1/apps/one/sessions/new HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 1000\r\n\r\n{{"
            )
            .unwrap();
            s
        })
        .collect();
    let t0 = Instant::now();
    assert_eq!(get(&server, "/healthz").unwrap().0, 200);
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "GET waited {:?}",
        t0.elapsed()
    );
    // Each stalled request is answered 408 once its body is late.
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        assert!(out.contains("body_timeout"));
    }
}

/// Old server: ~635 idle connections (fd limit 1024) killed the listener
/// for good. Here: the process has 128 descriptors, fewer than its
/// connection limit, and 600 connections arrive: it runs out of
/// descriptors (counted as accept errors), the ones over the limit get 503
/// or are closed, and once they go, the listener answers again.
#[test]
fn a_connection_flood_past_the_descriptor_limit_leaves_the_listener_alive() {
    let server = start(
        Some(128),
        &[
            "--max-connections",
            "150",
            "--max-connections-per-source",
            "600",
            "--header-timeout",
            "3",
        ],
    );
    let mut flood = Vec::new();
    let mut refused = 0;
    for _ in 0..600 {
        match TcpStream::connect_timeout(&server.http, Duration::from_millis(500)) {
            Ok(s) => flood.push(s),
            Err(_) => refused += 1,
        }
    }
    println!(
        "flood: {} of 600 connected, {refused} refused by the kernel",
        flood.len()
    );
    drop(flood);
    let closed = Instant::now();
    let until = closed + Duration::from_secs(10);
    let mut answered = false;
    while Instant::now() < until && !answered {
        answered = get(&server, "/healthz").is_some_and(|(s, _)| s == 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(answered, "the listener did not come back after the flood");
    println!(
        "flood: /healthz answered {:?} after the flood closed",
        closed.elapsed()
    );
    let (_, metrics) = get(&server, "/metrics").unwrap();
    let accept_errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sfu_http_connections_total{outcome=\"accept_error\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    println!("flood: {accept_errors} accept errors (out of descriptors) survived");
    assert!(
        accept_errors > 0,
        "the flood never exhausted the descriptors"
    );
    // Idle connections are closed by the server after the header timeout.
    let mut idle = TcpStream::connect(server.http).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let t0 = Instant::now();
    let mut sink = [0u8; 16];
    let n = idle.read(&mut sink).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t0.elapsed() < Duration::from_secs(7),
        "idle for {:?}",
        t0.elapsed()
    );
}

/// Old server: `POST /session/{someone else's id}/pull/...` answered with
/// an offer carrying that session's ICE password. Here a session is only
/// reachable with its own app's bearer and its unguessable id.
#[test]
fn calls_sessions_need_their_apps_bearer_and_cannot_be_guessed() {
    let server = start(None, &["--session-rate", "20"]);
    let auth = bearer(SECRET);
    let one = [("Authorization", auth.as_str())];
    for headers in [
        &[][..],
        &[("Authorization", "Bearer wrong")][..],
        &[("Authorization", "Basic x")][..],
    ] {
        let (status, body) =
            request(&server, "POST", "/v1/apps/one/sessions/new", headers, "").unwrap();
        assert_eq!((status, error_code(&body).as_str()), (401, "unauthorized"));
    }
    // Another app's secret opens nothing of this app.
    let two_auth = bearer("another-secret-0123456789");
    let two = [("Authorization", two_auth.as_str())];
    let (status, _) = request(&server, "POST", "/v1/apps/one/sessions/new", &two, "").unwrap();
    assert_eq!(status, 401);
    let (status, body) = request(&server, "POST", "/v1/apps/one/sessions/new", &one, "").unwrap();
    assert_eq!(status, 201);
    let id = json(&body)["sessionId"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let (status, body) = request(
        &server,
        "GET",
        &format!("/v1/apps/two/sessions/{id}"),
        &two,
        "",
    )
    .unwrap();
    assert_eq!(
        (status, error_code(&body).as_str()),
        (404, "session_not_found")
    );
    // From app two, pulling from app one's session fails per track.
    let (_, body) = request(&server, "POST", "/v1/apps/two/sessions/new", &two, "").unwrap();
    let other = json(&body)["sessionId"].as_str().unwrap().to_owned();
    let pull =
        format!(r#"{{"tracks":[{{"location":"remote","sessionId":"{id}","trackName":"cam"}}]}}"#);
    let (status, body) = request(
        &server,
        "POST",
        &format!("/v1/apps/two/sessions/{other}/tracks/new"),
        &[two[0], ("Content-Type", "text/plain")],
        &pull,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let reply = json(&body);
    assert_eq!(
        reply["tracks"][0]["errorCode"], "session_not_found",
        "{body}"
    );
    assert!(reply.get("sessionDescription").is_none(), "{body}");
    // Requests on one session are rate limited.
    let limited = (0..40)
        .filter(|_| {
            request(
                &server,
                "GET",
                &format!("/v1/apps/one/sessions/{id}"),
                &one,
                "",
            )
            .is_some_and(|(s, b)| s == 429 && error_code(&b) == "rate_limited")
        })
        .count();
    assert!(limited > 0, "40 requests at once, none limited");
    // Every error is JSON with a code.
    for (method, path, body) in [
        ("GET", "/nope", ""),
        ("POST", "/v1/apps/one/sessions/new", "{not json"),
        ("GET", "/v1/apps/one/sessions/zz", ""),
        (
            "PUT",
            &format!("/v1/apps/one/sessions/{id}/renegotiate") as &str,
            "{}",
        ),
        ("POST", "/whip/bad%20name", ""),
    ] {
        if let Some((status, text)) = request(&server, method, path, &one, body) {
            assert!(status >= 400, "{method} {path}: {status}");
            assert!(!error_code(&text).is_empty(), "{method} {path}: {text}");
        }
    }
    // At most 64 tracks per request.
    let many: Vec<String> = (0..65)
        .map(|i| format!(r#"{{"location":"remote","sessionId":"{id}","trackName":"t{i}"}}"#))
        .collect();
    let body = format!(r#"{{"tracks":[{}]}}"#, many.join(","));
    let path = format!("/v1/apps/one/sessions/{id}/tracks/new");
    std::thread::sleep(Duration::from_secs(1)); // past the rate limit above
    let (status, text) = request(&server, "POST", &path, &one, &body).unwrap();
    assert_eq!(
        (status, error_code(&text).as_str()),
        (400, "too_many_tracks")
    );
    // Third-party sessions (the SFU offering toward another endpoint) are
    // refused clearly until they exist.
    let (status, text) = request(
        &server,
        "POST",
        "/v1/apps/one/sessions/new?thirdparty=true",
        &one,
        "",
    )
    .unwrap();
    assert_eq!(
        (status, error_code(&text).as_str()),
        (501, "not_implemented")
    );
    let big = "x".repeat(600 * 1024);
    let (status, text) = request(&server, "POST", "/v1/apps/one/sessions/new", &one, &big).unwrap();
    assert_eq!(
        (status, error_code(&text).as_str()),
        (413, "body_too_large")
    );
}

/// HTTPS with a certificate from PEM files (made by `openssl`, fetched by
/// `curl`, both in the base system), so browsers elsewhere get a secure
/// context.
#[test]
fn https_serves_with_a_certificate_from_files() {
    let dir = std::env::temp_dir().join(format!("sfu-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let server = start(
        None,
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--metrics-token",
            "metrics-token-0123",
        ],
    );
    // Plain HTTP on the TLS port gets nothing useful.
    assert!(get(&server, "/healthz").is_none_or(|(s, _)| s != 200));
    let curl = |path: &str, auth: Option<&str>| {
        let mut c = Command::new("curl");
        c.args(["-sk", "--max-time", "5", "-w", "\n%{http_code}"]);
        if let Some(a) = auth {
            c.args(["-H", &format!("Authorization: Bearer {a}")]);
        }
        let out = c
            .arg(format!("https://{}{path}", server.http))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        curl("/healthz", None).ends_with("200"),
        "{}",
        curl("/healthz", None)
    );
    // Metrics need their bearer when one is set, and carry the node's counters.
    assert!(curl("/metrics", None).ends_with("401"));
    let metrics = curl("/metrics", Some("metrics-token-0123"));
    assert!(metrics.ends_with("200"), "{metrics}");
    for name in [
        "sfu_sessions ",
        "sfu_rtp_forwarded_total ",
        "sfu_nacks_received_total ",
        "sfu_retransmissions_sent_total ",
        "sfu_keyframe_requests_total{direction=\"sent\"} ",
        "sfu_dropped_total{reason=\"srtp_auth_failed\"} ",
        "sfu_http_connections_total{outcome=\"accepted\"} ",
        "sfu_tracks ",
        "sfu_subscriptions ",
        "sfu_datagrams_total{direction=\"in\"} ",
        "sfu_datagrams_total{direction=\"out\"} ",
        "sfu_bytes_total{direction=\"in\"} ",
        "sfu_bytes_total{direction=\"out\"} ",
        "sfu_driver_turns_total ",
        "sfu_driver_busy_seconds_total ",
        "sfu_driver_longest_turn_seconds ",
        "sfu_retransmissions_refused_total{reason=\"repeat\"} ",
        "sfu_retransmissions_refused_total{reason=\"budget\"} ",
        "sfu_shield_streams_refused_total{scope=\"session\"} ",
        "sfu_dropped_total{reason=\"dtls_record_refused\"} ",
        "sfu_dropped_total{reason=\"srtp_learning_budget_spent\"} ",
        "sfu_dropped_total{reason=\"stun_check_rate_exceeded\"} ",
    ] {
        assert!(metrics.contains(name), "no {name} in\n{metrics}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Past a connection limit, the global one or one source's share, a new
/// connection is told `503` at once, not left hanging; one source cannot
/// take every slot.
#[test]
fn connections_over_a_limit_are_told_503_and_one_source_keeps_to_its_share() {
    for flags in [
        [
            "--max-connections",
            "10",
            "--max-connections-per-source",
            "100",
        ],
        [
            "--max-connections",
            "150",
            "--max-connections-per-source",
            "10",
        ],
    ] {
        let server = start(None, &flags);
        let mut held: Vec<TcpStream> = (0..20)
            .map(|_| TcpStream::connect(server.http).unwrap())
            .collect();
        // The ten within the limit stay open and silent; the other ten are
        // told at once. Which ten is up to accept order: count them all.
        let mut told = 0;
        for s in &mut held {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && out.starts_with("HTTP/1.1 503") {
                assert!(out.contains("overloaded"), "{out}");
                told += 1;
            }
        }
        assert_eq!(told, 10, "503s for 20 connections with {flags:?}");
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(get(&server, "/healthz").unwrap().0, 200);
    }
}

/// Old server: the session table (10 000) had no share per client: one
/// stranger could fill it. Here what needs no credentials — the demo's
/// Calls proxy and WHIP/WHEP streams without a token — opens at most
/// `--max-sessions-per-source` live sessions per address, and a slot comes
/// back when its session ends; the bearer-checked Calls API is the app
/// backend's, one source for all its users, and keeps its per-app limit.
#[test]
fn one_address_opens_a_bounded_share_of_sessions_without_credentials() {
    let server = start(
        None,
        &[
            "--max-sessions-per-source",
            "3",
            "--stream",
            "guarded:stream-token-0123",
        ],
    );
    let sdp = [("Content-Type", "application/sdp")];
    let first = post_location(&server, "/whep/open", &offer(false)).expect("WHEP 1");
    assert!(post_location(&server, "/whip/open", &offer(true)).is_some());
    let (status, body) = request(
        &server,
        "POST",
        "/demo/api/sessions/new",
        &[("Content-Type", "text/plain")],
        "{}",
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    // The fourth session without credentials, by any open path, is refused.
    for path in ["/whep/open", "/whep/other"] {
        let (status, body) = request(&server, "POST", path, &sdp, &offer(false)).unwrap();
        assert_eq!(
            (status, error_code(&body).as_str()),
            (429, "too_many_sessions"),
            "{path}"
        );
    }
    let (status, body) = request(&server, "POST", "/demo/api/sessions/new", &[], "{}").unwrap();
    assert_eq!(
        (status, error_code(&body).as_str()),
        (429, "too_many_sessions")
    );
    // Credentials are not counted: a guarded stream's holder, the app's API.
    let auth = bearer("stream-token-0123");
    let with = [sdp[0], ("Authorization", &auth)];
    let (status, _) = request(&server, "POST", "/whip/guarded", &with, &offer(true)).unwrap();
    assert_eq!(status, 201);
    let app = bearer(SECRET);
    for _ in 0..4 {
        let (status, body) = request(
            &server,
            "POST",
            "/v1/apps/one/sessions/new",
            &[("Authorization", &app)],
            "",
        )
        .unwrap();
        assert_eq!(status, 201, "{body}");
    }
    // Ending a session gives its slot back.
    assert_eq!(request(&server, "DELETE", &first, &[], "").unwrap().0, 200);
    let until = Instant::now() + Duration::from_secs(5);
    let mut again = None;
    while again.is_none() && Instant::now() < until {
        again = post_location(&server, "/whep/open", &offer(false));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(again.is_some(), "the slot did not come back");
}

/// One request with a binary body on a fresh connection: status and body.
fn raw_request(server: &Server, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&server.http, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "{head}\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out[split + 4..].to_vec())
}

#[test]
fn the_meeting_channel_sequences_members_and_refuses_strangers() {
    use sfu::e2ee::wire::{ClientId, GroupMessage};
    let server = start(None, &[]);
    let connect = || {
        let (status, body) =
            request(&server, "POST", "/demo/rooms/r1/mls/connect", &[], "").unwrap();
        assert_eq!(status, 200, "{body}");
        let v = json(&body);
        (
            v["client"].as_str().unwrap().parse::<u64>().unwrap(),
            v["credential"].as_str().unwrap().to_owned(),
            v["after"].as_u64().unwrap(),
        )
    };
    let (a, a_cred, _) = connect();
    let (_, b_cred, b_after) = connect();
    let join = GroupMessage::JoinRequest {
        client: ClientId(a),
        key_package: vec![9; 64],
    }
    .to_bytes();
    let send = |cred: &str, body: &[u8]| {
        raw_request(
            &server,
            &format!("POST /demo/rooms/r1/mls/send HTTP/1.1\r\nAuthorization: Bearer {cred}"),
            body,
        )
        .0
    };
    assert_eq!(send(&a_cred, &join), 204);
    // b may not send a join request in a's name, nor junk; a stranger's
    // credential is refused before anything is parsed.
    assert_eq!(send(&b_cred, &join), 400);
    assert_eq!(send(&b_cred, &[0xff, 1, 2]), 400);
    assert_eq!(send(&format!("{a}.{}", "00".repeat(16)), &join), 401);
    assert_eq!(send("junk", &join), 401);
    // b reads the one order: a's request, then the relay's Found for a.
    let (status, body) = raw_request(
        &server,
        &format!(
            "GET /demo/rooms/r1/mls/poll?after={b_after} HTTP/1.1\r\nAuthorization: Bearer {b_cred}"
        ),
        b"",
    );
    assert_eq!(status, 200);
    let mut msgs = Vec::new();
    let mut rest = &body[..];
    while rest.len() >= 12 {
        let len = u32::from_be_bytes(rest[8..12].try_into().unwrap()) as usize;
        msgs.push(GroupMessage::decode(&rest[12..12 + len]).unwrap());
        rest = &rest[12 + len..];
    }
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(
        msgs[1],
        GroupMessage::Found {
            client: ClientId(a)
        }
    );
    // Leaving by beacon (credential in the body) is a departure others read.
    let (status, _) = request(&server, "POST", "/demo/rooms/r1/mls/leave", &[], &a_cred).unwrap();
    assert_eq!(status, 204);
    assert_eq!(send(&a_cred, &join), 401);
    let (_, metrics) = get(&server, "/metrics").unwrap();
    assert!(
        metrics.contains("mls_messages_rejected_total 2"),
        "{metrics}"
    );
}

#[test]
fn a_rust_member_founds_an_empty_rooms_group_and_lists_itself() {
    let server = start(None, &[]);
    let (status, body) = request(&server, "POST", "/demo/rooms/bots/member", &[], "").unwrap();
    assert_eq!(status, 200, "{body}");
    let session = json(&body)["sessionId"].as_str().unwrap().to_owned();
    // Alone in the room, the relay designates it founder: it is in epoch
    // 0 of its own group, with a safety number.
    let mut stats = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, body) = get(&server, "/demo/rooms/bots/member").unwrap();
        stats = json(&body);
        if stats["phase"] == "member" {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stats["phase"], "member", "{stats}");
    assert_eq!(stats["epoch"], 0);
    assert_eq!(stats["safetyNumber"].as_str().unwrap().len(), 35, "{stats}");
    let (_, room) = get(&server, "/demo/rooms/bots").unwrap();
    assert!(room.contains(&session), "{room}");
    let (status, _) = get(&server, "/demo/rooms/nobody/member").unwrap();
    assert_eq!(status, 404);
    // Taken out, it is gone from the room's list and its seat is free.
    let (status, _) = request(&server, "DELETE", "/demo/rooms/bots/member", &[], "").unwrap();
    assert_eq!(status, 204);
    let (status, _) = get(&server, "/demo/rooms/bots/member").unwrap();
    assert_eq!(status, 404);
    let mut room = String::new();
    for _ in 0..100 {
        room = get(&server, "/demo/rooms/bots").unwrap().1;
        if !room.contains(&session) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!room.contains(&session), "{room}");
    let (status, _) = request(&server, "DELETE", "/demo/rooms/bots/member", &[], "").unwrap();
    assert_eq!(status, 404);
    // The browser E2EE module is served from the binary, nothing else is.
    let (status, js) = get(&server, "/e2ee/sframe.js").unwrap();
    assert_eq!(status, 200);
    assert!(js.contains("export"), "{js}");
    let (status, _) = get(&server, "/e2ee/../Cargo.toml").unwrap();
    assert_eq!(status, 404);
}
