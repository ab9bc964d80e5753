//! Requests to other nodes of the cluster: one short HTTP/1.1 exchange per
//! call on hyper's client, bounded in time and in what it reads back.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;

/// A node-to-node exchange takes at most this long, connect included.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Answers from another node are small JSON objects.
const MAX_ANSWER: usize = 64 * 1024;
/// A forwarded Calls answer, at most (the server's own body limit).
const FORWARDED_ANSWER: usize = 512 * 1024;

/// Marks a request one node forwarded to another (never forwarded again).
pub const FORWARDED: &str = "x-sfu-forwarded";

/// Sends `body` (JSON) with `method` to `path` of the node at `base`
/// (`http://host:port`), with the cluster's bearer; its status and body.
pub async fn call(
    base: &str,
    method: Method,
    path: &str,
    secret: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    send(base, method, path, secret, body, false).await
}

/// [`call`] of a client's request forwarded to the node holding its
/// session, with the app's bearer and the [`FORWARDED`] mark; a forwarded
/// request may wait for a pull, so it gets the Calls pull wait and more.
pub async fn forward(
    base: &str,
    method: Method,
    path: &str,
    secret: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Bytes), String> {
    send(base, method, path, secret, body, true).await
}

async fn send(
    base: &str,
    method: Method,
    path: &str,
    secret: &str,
    body: Vec<u8>,
    forwarded: bool,
) -> Result<(StatusCode, Bytes), String> {
    let limit = if forwarded {
        crate::calls::PULL_WAIT + TIMEOUT
    } else {
        TIMEOUT
    };
    tokio::time::timeout(limit, exchange(base, method, path, secret, body, forwarded))
        .await
        .map_err(|_| format!("{base}{path}: no answer within {} s", limit.as_secs()))?
}

async fn exchange(
    base: &str,
    method: Method,
    path: &str,
    secret: &str,
    body: Vec<u8>,
    forwarded: bool,
) -> Result<(StatusCode, Bytes), String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only http:// node addresses are supported"))?
        .trim_end_matches('/');
    let stream = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder();
    if forwarded {
        request = request.header(FORWARDED, "1");
    }
    let request = request
        .method(method)
        .uri(path)
        .header(header::HOST, authority)
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{authority}: {e}"))?;
    let status = response.status();
    // A forwarded Calls answer carries SDP for up to 64 tracks.
    let max = if forwarded {
        FORWARDED_ANSWER
    } else {
        MAX_ANSWER
    };
    let body = Limited::new(response.into_body(), max)
        .collect()
        .await
        .map_err(|e| format!("{authority}: answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}
