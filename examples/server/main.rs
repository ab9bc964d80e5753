//! The reference server: Cloudflare's Calls API (sessions and tracks, no
//! rooms) at `/v1/apps/{appId}/...`, WHIP and WHEP (RFC 9725), a meeting
//! demo page on the Calls API, publish and watch pages, and `/metrics`,
//! with media on one UDP port for every peer.
//!
//! ```sh
//! cargo run --release --example server -- --help
//! ```
//!
//! The SFU runs sans-IO on the mio driver's thread; HTTP runs on hyper on
//! a one-thread tokio runtime and only submits commands to the node, so no
//! request, however slow, holds the media plane. Flags, endpoints and
//! limits: `docs/SERVER.md`.

mod calls;
mod cluster;
mod config;
mod demo;
mod http;
mod ids;
mod meeting;
mod metrics;
mod node;
mod quota;
mod routes;
mod whip;

use std::sync::Arc;

use sfu::net::driver::{Driver, DriverConfig};

use config::{Config, Parsed};

fn fail(problem: &str) -> ! {
    eprintln!("{problem}");
    std::process::exit(1);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match config::parse(&args, || {
        ids::random_id().unwrap_or_else(|| fail("no OS randomness for the app secret"))
    }) {
        Ok(Parsed::Run(c)) => *c,
        Ok(Parsed::Help) => {
            print!("{}", config::HELP);
            return;
        }
        Err(e) => {
            eprintln!("{e}\n\n{}", config::HELP);
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(config.log)
        .with_target(false)
        .init();
    if let Err(e) = run(config) {
        fail(&e);
    }
}

/// Joins the cluster: this node's record, its directory in Redis.
fn start_cluster(
    c: &config::ClusterConfig,
    http_addr: std::net::SocketAddr,
    driver: &Driver,
    sfu: &node::Sfu,
    calls: &Arc<calls::Calls>,
    whip: &Arc<whip::Whip>,
    apps: &[config::App],
) -> Result<Arc<cluster::Cluster>, String> {
    use sfu::net::cluster::{NodeId, NodeRecord};
    let id = match &c.node_id {
        Some(id) => id.clone(),
        None => {
            let random = ids::random_id().ok_or("no OS randomness for the node id")?;
            format!("node-{}", &random[..12])
        }
    };
    let id = NodeId::new(&id).ok_or("node ids are 1-64 letters, digits, '-' or '_'")?;
    // Other nodes send to this address and recognise our datagrams by it:
    // a bound address, or for a wildcard socket its first announced one
    // (what the kernel then picks as the source toward a local peer).
    let relay = driver
        .local_addrs()
        .iter()
        .find(|a| !a.ip().is_unspecified())
        .or_else(|| driver.candidates().iter().find(|c| c.is_ipv4()))
        .or_else(|| driver.candidates().first())
        .copied()
        .ok_or("the media node has no socket")?;
    let record = NodeRecord {
        id,
        http: c
            .advertise_http
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}")),
        relay,
        draining: false,
        incarnation: u64::from_str_radix(
            &ids::random_id().ok_or("no OS randomness for the incarnation")?[..16],
            16,
        )
        .map_err(|e| e.to_string())?,
    };
    let directory =
        cluster::redis::RedisDirectory::connect(&c.redis, std::time::Duration::from_millis(500))
            .map_err(|e| format!("{}: {e}", c.redis))?;
    let cluster = Arc::new(cluster::Cluster::new(
        record,
        c.fanout,
        c.secret.clone(),
        cluster::Dir::new(Box::new(directory)),
        sfu.clone(),
        Arc::clone(&calls.sessions),
        apps.iter()
            .map(|a| (a.id.clone(), a.secret.clone()))
            .collect(),
    ));
    let _ = calls.cluster.set(Arc::clone(&cluster));
    let _ = whip.cluster.set(Arc::clone(&cluster));
    Ok(cluster)
}

fn run(config: Config) -> Result<(), String> {
    let mut media = if config.udp.is_empty() {
        DriverConfig::all_interfaces(8443)
    } else {
        let mut c = DriverConfig::new(config.udp[0]);
        c.sockets = config.udp.clone();
        c
    };
    media.announce = config.public_ips.clone();
    let driver = Driver::spawn(media).map_err(|e| format!("cannot start the media node: {e}"))?;
    let sfu = node::Sfu::new(driver.handle());
    let quota = quota::SourceQuota::new(config.max_sessions_per_source);
    let calls = Arc::new(calls::Calls::new(
        sfu.clone(),
        config.session_rate,
        config.max_sessions,
        Arc::clone(&quota),
    ));
    let whip = Arc::new(whip::Whip::new(
        sfu.clone(),
        config.whip_token.clone(),
        config.stream_tokens.clone(),
        Arc::clone(&quota),
    ));
    let rooms = Arc::new(demo::Rooms::default());
    let channels = Arc::new(meeting::channel::Channels::default());
    // Bound before anything starts, so the cluster can advertise the port.
    let http_listener = std::net::TcpListener::bind(config.http)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen on {}: {e}", config.http))?;
    let http_addr = http_listener.local_addr().unwrap_or(config.http);
    let cluster = match &config.cluster {
        Some(c) => Some(start_cluster(
            c,
            http_addr,
            &driver,
            &sfu,
            &calls,
            &whip,
            &config.apps,
        )?),
        None => None,
    };
    // Rooms and the cluster first: they need the Calls id the registry
    // forgets on the same Closed event.
    let mut listeners: Vec<Arc<dyn node::Listener>> = vec![Arc::new(demo::RoomsListener {
        rooms: Arc::clone(&rooms),
        sessions: Arc::clone(&calls.sessions),
    })];
    if let Some(c) = &cluster {
        listeners.push(c.clone());
    }
    listeners.extend([
        calls.clone() as Arc<dyn node::Listener>,
        whip.clone(),
        quota,
    ]);
    node::pump_events(driver.events().clone(), listeners);
    let tls = match &config.tls {
        Some((cert, key)) => Some(http::tls_acceptor(cert, key)?),
        None => None,
    };
    let limits = http::Limits {
        max_connections: config.max_connections,
        max_per_source: config.max_per_source,
        header_timeout: config.header_timeout,
        body_timeout: config.body_timeout,
        max_body: config.max_body,
    };
    let counters = Arc::new(metrics::HttpCounters::default());
    let members = match config.apps.first() {
        Some(app) if config.demo => Some(meeting::member::Members::new(
            Arc::clone(&channels),
            Arc::clone(&rooms),
            Arc::clone(&calls.sessions),
            app.id.clone(),
            driver.handle(),
        )),
        _ => None,
    };
    let server = Arc::new(routes::Server {
        apps: config.apps.clone(),
        demo: config.demo,
        metrics_token: config.metrics_token.clone(),
        limits,
        sfu,
        calls,
        whip,
        rooms,
        channels: Arc::clone(&channels),
        members,
        counters: Arc::clone(&counters),
        cluster: cluster.clone(),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(http_listener)
            .map_err(|e| format!("cannot listen on {}: {e}", config.http))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let candidates: Vec<String> = driver.candidates().iter().map(|c| c.to_string()).collect();
        println!(
            "sfu server on {scheme}://{http_addr}/ — media on udp {}",
            candidates.join(", ")
        );
        for app in &config.apps {
            if config.generated_secret {
                println!(
                    "Calls API: {scheme}://{}/v1/apps/{}/ with Authorization: Bearer {}",
                    http_addr, app.id, app.secret
                );
            } else {
                println!("Calls API: {scheme}://{}/v1/apps/{}/", http_addr, app.id);
            }
        }
        if config.demo {
            println!("meeting demo: {scheme}://{http_addr}/demo/?room=lobby");
        }
        if config.demo {
            meeting::spawn_sweeper(Arc::clone(&channels));
        }
        if let Some(c) = &cluster {
            println!("cluster node {} (fanout {})", c.id(), c.fanout());
            cluster::spawn_watch(Arc::clone(c));
        }
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
        let serve = http::serve(listener, tls, limits, counters, server);
        tokio::pin!(serve);
        tokio::select! {
            () = &mut serve => {}
            _ = terminate.recv() => {
                // A cluster node drains first: its children move to other
                // parents (and tell it so over HTTP, which keeps serving)
                // before its relays stop.
                if let Some(c) = &cluster {
                    tracing::info!("SIGTERM: draining");
                    tokio::select! {
                        () = c.drain(std::time::Duration::from_secs(10)) => {}
                        () = &mut serve => {}
                    }
                }
            }
        }
        drop(driver);
        Ok(())
    })
}
