//! Everything the server can be told, from flags or a JSON file (the same
//! names, `-` written `_`); flags after `--config` override the file.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub const HELP: &str = "\
sfu reference server: the Cloudflare Calls API (/v1/apps/{appId}/...), WHIP/WHEP
(RFC 9725), a meeting demo page and Prometheus metrics, over one UDP media port.

usage: server [flags]

  --config FILE          JSON object with any of the keys below (e.g. {\"http\": \"0.0.0.0:443\",
                         \"app\": [\"myapp:SECRET\"]}); later flags override it
  --http ADDR            signalling listener (default 127.0.0.1:8080)
  --cert FILE --key FILE PEM certificate chain and key: the listener speaks HTTPS
  --udp ADDR             media address; twice for both families (default: port 8443 of every
                         interface, announcing the interface addresses)
  --public-ip IP         announce this address instead (behind NAT); repeatable
  --app ID:SECRET        a Calls app and its bearer secret; repeatable (default: app `sfu`
                         with a generated secret, printed at start)
  --whip-token TOKEN     bearer every WHIP/WHEP POST must carry
  --stream NAME:TOKEN    bearer for one WHIP/WHEP stream; repeatable
  --no-demo              turn off /demo/ (the meeting page and its open proxy to the first app)
  --max-connections N    concurrent HTTP connections (default 512); beyond: 503, closed
  --max-connections-per-source N
                         concurrent connections from one IP address (default 64); beyond: 503
  --header-timeout SECS  request line and headers must arrive within this; also the
                         keep-alive idle limit (default 10)
  --body-timeout SECS    a request body must arrive within this (default 10)
  --max-body BYTES       largest request body (default 524288)
  --session-rate N       requests per second per Calls session (default 50)
  --max-sessions N       live Calls sessions per app (default 4096)
  --max-sessions-per-source N
                         live sessions one address (IPv6: one /64) may open without
                         credentials: the demo's proxy, WHIP/WHEP streams with no
                         token (default 16)
  --metrics-token TOKEN  bearer /metrics requires (default: open)
  --log LEVEL            error, warn, info, debug or trace (default info)

cluster mode (each node its own process; a track published on one node is pulled on another
through a per-track tree of relay links):
  --redis URL            the cluster's directory (redis://HOST:PORT/); turns cluster mode on
  --cluster-secret S     bearer the nodes present to each other (at least 16 bytes; required)
  --node-id ID           this node's name in the cluster (default: random)
  --fanout K             a node relays each track to at most K nodes (default 2)
  --advertise-http URL   how other nodes reach this one's HTTP (default http://<--http address>)
  --help                 this text
";

/// One Calls app: its id in URLs and its bearer secret.
#[derive(Debug, Clone)]
pub struct App {
    pub id: String,
    pub secret: String,
}

/// The server's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub http: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub udp: Vec<SocketAddr>,
    pub public_ips: Vec<IpAddr>,
    pub apps: Vec<App>,
    /// Set when the secret was generated (printed at start).
    pub generated_secret: bool,
    pub whip_token: Option<String>,
    pub stream_tokens: Vec<(String, String)>,
    pub demo: bool,
    pub max_connections: usize,
    pub max_per_source: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_body: usize,
    pub session_rate: u32,
    pub max_sessions: usize,
    pub max_sessions_per_source: usize,
    pub metrics_token: Option<String>,
    pub log: tracing::Level,
    pub cluster: Option<ClusterConfig>,
}

/// Cluster mode: the directory and this node's place in it.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub redis: String,
    pub secret: String,
    pub node_id: Option<String>,
    pub fanout: usize,
    pub advertise_http: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis: String::new(),
            secret: String::new(),
            node_id: None,
            fanout: 2,
            advertise_http: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            udp: Vec::new(),
            public_ips: Vec::new(),
            apps: Vec::new(),
            generated_secret: false,
            whip_token: None,
            stream_tokens: Vec::new(),
            demo: true,
            max_connections: 512,
            max_per_source: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 512 * 1024,
            session_rate: 50,
            max_sessions: 4096,
            max_sessions_per_source: 16,
            metrics_token: None,
            log: tracing::Level::INFO,
            cluster: None,
        }
    }
}

/// What parsing the command line asks for.
pub enum Parsed {
    Run(Box<Config>),
    Help,
}

/// Parses `args` (without the program name). `random_secret` makes the
/// default app's secret when none is configured.
pub fn parse(args: &[String], random_secret: impl FnOnce() -> String) -> Result<Parsed, String> {
    let mut config = Config::default();
    let (mut cert, mut key) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {flag}"))?;
        match name {
            "help" => return Ok(Parsed::Help),
            "no-demo" => config.demo = false,
            "config" => {
                let path = it.next().ok_or("--config needs a file")?;
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                let json: Value =
                    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
                let Value::Object(map) = json else {
                    return Err(format!("{path}: expected a JSON object"));
                };
                for (key_name, value) in map {
                    let flag_name = key_name.replace('_', "-");
                    let values = match value {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for v in values {
                        let text = match v {
                            Value::String(s) => s,
                            Value::Bool(true) => {
                                set(&mut config, &mut cert, &mut key, &flag_name, None)?;
                                continue;
                            }
                            Value::Bool(false) if flag_name == "demo" => {
                                config.demo = false;
                                continue;
                            }
                            other => other.to_string(),
                        };
                        set(&mut config, &mut cert, &mut key, &flag_name, Some(&text))
                            .map_err(|e| format!("{path}: {e}"))?;
                    }
                }
            }
            _ => {
                let value = it.next().ok_or(format!("--{name} needs a value"))?;
                set(&mut config, &mut cert, &mut key, name, Some(value))?;
            }
        }
    }
    config.tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--cert and --key go together".into()),
    };
    if config.apps.is_empty() {
        config.apps.push(App {
            id: "sfu".into(),
            secret: random_secret(),
        });
        config.generated_secret = true;
    }
    if config.max_connections == 0
        || config.max_per_source == 0
        || config.session_rate == 0
        || config.max_sessions == 0
        || config.max_sessions_per_source == 0
    {
        return Err(
            "--max-connections, --max-connections-per-source, --session-rate, --max-sessions and --max-sessions-per-source must be > 0"
                .into(),
        );
    }
    if let Some(cluster) = &config.cluster {
        if cluster.redis.is_empty() {
            return Err(
                "--cluster-secret, --node-id, --fanout and --advertise-http need --redis".into(),
            );
        }
        if cluster.secret.len() < 16 {
            return Err("--redis needs --cluster-secret of at least 16 bytes".into());
        }
        if cluster.fanout == 0 {
            return Err("--fanout must be > 0".into());
        }
    }
    Ok(Parsed::Run(Box::new(config)))
}

fn set(
    c: &mut Config,
    cert: &mut Option<PathBuf>,
    key: &mut Option<PathBuf>,
    name: &str,
    value: Option<&str>,
) -> Result<(), String> {
    let Some(v) = value else {
        return match name {
            "no-demo" => {
                c.demo = false;
                Ok(())
            }
            _ => Err(format!("{name} needs a value")),
        };
    };
    let bad = |e: &dyn std::fmt::Display| format!("--{name} {v}: {e}");
    let secs = |v: &str| -> Result<Duration, String> {
        v.parse::<u64>()
            .ok()
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("--{name} {v}: expected whole seconds > 0"))
    };
    match name {
        "http" => c.http = v.parse().map_err(|e| bad(&e))?,
        "cert" => *cert = Some(PathBuf::from(v)),
        "key" => *key = Some(PathBuf::from(v)),
        "udp" => c.udp.push(v.parse().map_err(|e| bad(&e))?),
        "public-ip" => c.public_ips.push(v.parse().map_err(|e| bad(&e))?),
        "app" => {
            let (id, secret) = pair(v).ok_or_else(|| bad(&"expected ID:SECRET"))?;
            if !crate::ids::valid_name(&id) || secret.len() < 16 {
                return Err(bad(
                    &"app ids are 1-64 letters, digits, '-' or '_'; secrets at least 16 bytes",
                ));
            }
            c.apps.push(App { id, secret });
        }
        "whip-token" => c.whip_token = Some(v.to_owned()),
        "stream" => {
            let (stream, token) = pair(v).ok_or_else(|| bad(&"expected NAME:TOKEN"))?;
            c.stream_tokens.push((stream, token));
        }
        "demo" => c.demo = v != "false",
        "max-connections" => c.max_connections = v.parse().map_err(|e| bad(&e))?,
        "max-connections-per-source" => c.max_per_source = v.parse().map_err(|e| bad(&e))?,
        "header-timeout" => c.header_timeout = secs(v)?,
        "body-timeout" => c.body_timeout = secs(v)?,
        "max-body" => c.max_body = v.parse().map_err(|e| bad(&e))?,
        "session-rate" => c.session_rate = v.parse().map_err(|e| bad(&e))?,
        "max-sessions" => c.max_sessions = v.parse().map_err(|e| bad(&e))?,
        "max-sessions-per-source" => c.max_sessions_per_source = v.parse().map_err(|e| bad(&e))?,
        "metrics-token" => c.metrics_token = Some(v.to_owned()),
        "log" => c.log = v.parse().map_err(|e| bad(&e))?,
        "redis" => {
            if !v.starts_with("redis://") {
                return Err(bad(&"expected redis://HOST:PORT/"));
            }
            c.cluster.get_or_insert_default().redis = v.to_owned();
        }
        "cluster-secret" => c.cluster.get_or_insert_default().secret = v.to_owned(),
        "node-id" => {
            if !crate::ids::valid_name(v) {
                return Err(bad(&"node ids are 1-64 letters, digits, '-' or '_'"));
            }
            c.cluster.get_or_insert_default().node_id = Some(v.to_owned());
        }
        "fanout" => c.cluster.get_or_insert_default().fanout = v.parse().map_err(|e| bad(&e))?,
        "advertise-http" => {
            if !v.starts_with("http://") {
                return Err(bad(&"expected http://HOST:PORT"));
            }
            c.cluster.get_or_insert_default().advertise_http =
                Some(v.trim_end_matches('/').to_owned());
        }
        other => return Err(format!("unknown flag --{other} (see --help)")),
    }
    Ok(())
}

fn pair(v: &str) -> Option<(String, String)> {
    let (a, b) = v.split_once(':')?;
    (!a.is_empty() && !b.is_empty()).then(|| (a.to_owned(), b.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn run(s: &[&str]) -> Config {
        match parse(&args(s), || "generated-secret-0123".into()) {
            Ok(Parsed::Run(c)) => *c,
            Ok(Parsed::Help) => panic!("help"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn defaults_generate_one_app() {
        let c = run(&[]);
        assert_eq!(c.apps.len(), 1);
        assert!(c.generated_secret);
        assert_eq!(c.max_connections, 512);
    }

    #[test]
    fn flags_and_file_agree_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("sfu-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(
            &file,
            r#"{"http": "127.0.0.1:9000", "app": ["a:0123456789abcdef"], "session_rate": 5, "no_demo": true}"#,
        )
        .unwrap();
        let c = run(&[
            "--config",
            file.to_str().unwrap(),
            "--http",
            "127.0.0.1:9001",
        ]);
        assert_eq!(c.http.port(), 9001);
        assert_eq!(c.apps[0].id, "a");
        assert_eq!(c.session_rate, 5);
        assert!(!c.demo);
        assert!(!c.generated_secret);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--http", "nope"][..],
            &["--app", "x"],
            &["--app", "a:short"],
            &["--cert", "c.pem"],
            &["--header-timeout", "0"],
            &["--frobnicate", "1"],
            &["--cluster-secret", "0123456789abcdef"],
            &["--redis", "redis://127.0.0.1:1/"],
            &[
                "--redis",
                "redis://127.0.0.1:1/",
                "--cluster-secret",
                "short",
            ],
            &[
                "--redis",
                "http://x",
                "--cluster-secret",
                "0123456789abcdef",
            ],
        ] {
            assert!(parse(&args(bad), || "s".repeat(16)).is_err(), "{bad:?}");
        }
    }
}
