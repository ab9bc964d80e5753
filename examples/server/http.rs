//! The HTTP transport, built for strangers on the internet: a connection
//! limit that degrades to `503` (the listener itself never stops), bounded
//! request line, headers and body, timeouts on every read, optional TLS.
//! Each connection is its own task, so a slow client holds only itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::HttpCounters;

/// Request line and headers together, in bytes (hyper's read buffer).
const MAX_HEAD: usize = 16 * 1024;
/// Headers per request.
const MAX_HEADERS: usize = 64;
/// A connection lives at most this long, however busy (slow readers of
/// our responses included).
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// Connections beyond the limit that may be waiting for their `503` at
/// once; beyond that they are closed unanswered.
const MAX_REFUSING: usize = 64;

/// The transport's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// Connections from one IP address at once (one source cannot take
    /// every slot).
    pub max_per_source: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_body: usize,
}

/// A response, built by the handlers and written by the transport.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::bytes(status, "application/json", body)
    }

    /// The Calls error shape, also used by every other JSON error.
    pub fn error(status: StatusCode, code: &str, description: impl Into<String>) -> Self {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Error<'a> {
            error_code: &'a str,
            error_description: String,
        }
        Self::json(
            status,
            &Error {
                error_code: code,
                error_description: description.into(),
            },
        )
    }

    pub fn text(status: StatusCode, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        Self::bytes(status, "text/plain; charset=utf-8", body.into_bytes())
    }

    pub fn page(html: &'static str) -> Self {
        Self::bytes(StatusCode::OK, "text/html; charset=utf-8", html.as_bytes())
    }

    pub fn bytes(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(self.body));
        *response.status_mut() = self.status;
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        // Calls clients and WHIP/WHEP players call from pages of any origin
        // with a bearer (no cookies), so any origin may read the answer.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Location, ETag, Link"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        response
    }
}

/// Reads a request's body within the size and time limits: `413` when it
/// announces or sends more, `408` when it is too slow.
pub async fn read_body(body: Incoming, limits: &Limits) -> Result<Bytes, Reply> {
    let collected = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body).collect(),
    )
    .await;
    match collected {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request bodies are at most {} bytes", limits.max_body),
            ))
        }
        Ok(Err(_)) => Err(Reply::error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "the request body could not be read",
        )),
        Err(_) => Err(Reply::error(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                limits.body_timeout.as_secs()
            ),
        )),
    }
}

/// Refuses early a body that announces more than the limit.
pub fn announced_too_large(request: &Request<Incoming>, limits: &Limits) -> Option<Reply> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (length > limits.max_body as u64).then(|| {
        Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are at most {} bytes", limits.max_body),
        )
    })
}

/// Open connections per source address; an entry lives only while its
/// source has one, so the map is bounded by the connection limit.
struct Sources {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    max: usize,
}

/// One connection's place in its source's count.
struct SourceSlot {
    sources: Arc<Sources>,
    ip: std::net::IpAddr,
}

impl Sources {
    fn enter(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<SourceSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            sources: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.sources.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What serves one request.
pub trait Handler: Send + Sync + 'static {
    /// Answers `request` from `peer`.
    fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl Future<Output = Reply> + Send;
}

/// Accepts connections on `listener` until the process ends.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    counters: Arc<HttpCounters>,
    handler: Arc<H>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let sources = Arc::new(Sources {
        open: std::sync::Mutex::default(),
        max: limits.max_per_source,
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: wait for descriptors to come back
                // rather than spin or give up; the listener stays.
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slots = Arc::clone(&open)
            .try_acquire_owned()
            .ok()
            .and_then(|p| Some((p, sources.enter(peer.ip())?)));
        let Some((permit, source)) = slots else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            if let Ok(p) = Arc::clone(&refusing).try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(p);
                });
            }
            continue;
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let (tls, handler, counters) = (tls.clone(), Arc::clone(&handler), Arc::clone(&counters));
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let served = tokio::time::timeout(MAX_CONNECTION_AGE, async {
                match tls {
                    None => connection(stream, peer, limits, handler, counters).await,
                    Some(acceptor) => {
                        let accepted =
                            tokio::time::timeout(limits.header_timeout, acceptor.accept(stream))
                                .await;
                        if let Ok(Ok(s)) = accepted {
                            connection(s, peer, limits, handler, counters).await;
                        }
                    }
                }
            });
            let _ = served.await;
            drop((permit, source));
        });
    }
}

async fn connection<S, H>(
    stream: S,
    peer: SocketAddr,
    limits: Limits,
    handler: Arc<H>,
    counters: Arc<HttpCounters>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Handler,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let handler = Arc::clone(&handler);
        let counters = Arc::clone(&counters);
        async move {
            counters.requests.fetch_add(1, Ordering::Relaxed);
            let reply = handler.handle(request, peer).await;
            counters.count_status(reply.status);
            Ok::<_, std::convert::Infallible>(reply.into_response())
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    if let Err(e) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%peer, "http connection: {e}");
    }
}

/// Tells a connection over the limit to come back later, briefly.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str =
        "{\"errorCode\":\"overloaded\",\"errorDescription\":\"too many connections, retry later\"}";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        stream.write_all(response.as_bytes()),
    )
    .await;
}

/// A TLS acceptor from PEM files (certificate chain, private key).
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| format!("TLS: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
