//! Settings: default < `rtbox.toml` in the data dir (or `--config FILE`) < env `RTBOX_*` <
//! command-line flag,
//! resolved and validated once at start into an immutable [`Settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./rtbox_data";
pub const CONFIG_FILE: &str = "rtbox.toml";
pub const DB_FILE: &str = "rtbox.db";

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// WAL with synchronous=NORMAL: committed data survives a process crash (kill -9).
    Normal,
    /// synchronous=FULL: every (grouped) commit is fsynced, so it survives power loss.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of `rtbox serve`. Each is optional here so that the layers can be merged;
/// the same keys (snake_case) are accepted in `rtbox.toml`.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServeOptions {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "RTBOX_BIND", value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Public base URL used in links (setup link, widget snippet) [default: http://BIND]
    #[arg(long, env = "RTBOX_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Log filter: error|warn|info|debug|trace or a tracing directive [default: info]
    #[arg(long, env = "RTBOX_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log line format [default: text]
    #[arg(long, env = "RTBOX_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Durability of commits: normal survives kill -9, full also survives power loss [default: normal]
    #[arg(long, env = "RTBOX_SYNC", value_enum)]
    pub sync: Option<SyncMode>,
    /// HTTP worker threads [default: number of CPUs]
    #[arg(long, env = "RTBOX_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Largest message payload in bytes [default: 65536]
    #[arg(long, env = "RTBOX_MAX_PAYLOAD_BYTES", value_name = "BYTES")]
    pub max_payload_bytes: Option<usize>,
    /// Largest WebSocket frame in bytes [default: 131072]
    #[arg(long, env = "RTBOX_MAX_FRAME_BYTES", value_name = "BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Channel subscriptions one connection may hold [default: 100]
    #[arg(long, env = "RTBOX_MAX_SUBSCRIPTIONS", value_name = "N")]
    pub max_subscriptions: Option<usize>,
    /// Messages per second one WebSocket connection may publish (burst = 2x) [default: 50]
    #[arg(long, env = "RTBOX_PUBLISH_RATE", value_name = "PER_SECOND")]
    pub publish_rate: Option<u32>,
    /// REST publishes (publish and events) per second with one API key (burst = 2x) [default: 200000]
    #[arg(
        long,
        env = "RTBOX_REST_PUBLISH_RATE_PER_KEY",
        value_name = "PER_SECOND"
    )]
    pub rest_publish_rate_per_key: Option<u32>,
    /// REST publishes per second from one IP address by callers without an API key (burst = 2x) [default: 100]
    #[arg(
        long,
        env = "RTBOX_REST_PUBLISH_RATE_PER_IP",
        value_name = "PER_SECOND"
    )]
    pub rest_publish_rate_per_ip: Option<u32>,
    /// Concurrent WebSocket connections from one non-loopback IP address (each may buffer up to max_frame_bytes) [default: 1000]
    #[arg(long, env = "RTBOX_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,
    /// Outbound queue of one WebSocket connection, in messages, before it is closed with 1013 [default: 1024]
    #[arg(long, env = "RTBOX_WS_QUEUE_MESSAGES", value_name = "N")]
    pub ws_queue_messages: Option<usize>,
    /// Outbound queue of one WebSocket connection, in bytes, before it is closed with 1013 [default: 4194304]
    #[arg(long, env = "RTBOX_WS_QUEUE_BYTES", value_name = "BYTES")]
    pub ws_queue_bytes: Option<usize>,
    /// Seconds between server WebSocket pings; a client silent for 3 intervals is dropped [default: 25]
    #[arg(long, env = "RTBOX_WS_PING_SECONDS", value_name = "SECONDS")]
    pub ws_ping_seconds: Option<u64>,
    /// Login attempts per minute from one IP address [default: 20]
    #[arg(long, env = "RTBOX_LOGIN_PER_IP_PER_MINUTE", value_name = "N")]
    pub login_per_ip_per_minute: Option<u32>,
    /// Login attempts per minute for one account [default: 10]
    #[arg(long, env = "RTBOX_LOGIN_PER_ACCOUNT_PER_MINUTE", value_name = "N")]
    pub login_per_account_per_minute: Option<u32>,
    /// Lifetime of a dashboard session in seconds [default: 604800 (7 days)]
    #[arg(long, env = "RTBOX_SESSION_TTL_SECONDS", value_name = "SECONDS")]
    pub session_ttl_seconds: Option<u64>,
    /// Lifetime of the first-run setup link in seconds [default: 3600]
    #[arg(long, env = "RTBOX_SETUP_TOKEN_TTL_SECONDS", value_name = "SECONDS")]
    pub setup_token_ttl_seconds: Option<u64>,
    /// Wall-time limit of one trigger run in milliseconds, excluding awaited HTTP [default: 1000]
    #[arg(long, env = "RTBOX_TRIGGER_TIMEOUT_MS", value_name = "MS")]
    pub trigger_timeout_ms: Option<u64>,
    /// Operation limit of one trigger run [default: 1000000]
    #[arg(long, env = "RTBOX_TRIGGER_MAX_OPERATIONS", value_name = "N")]
    pub trigger_max_operations: Option<u64>,
    /// Allow outbound HTTP (triggers, livechat services) to private, loopback and link-local addresses
    #[arg(long, env = "RTBOX_ALLOW_PRIVATE_OUTBOUND", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub allow_private_outbound: Option<bool>,
    /// Hosts outbound HTTP may reach even when private: HOST[:PORT],… [default: none]
    #[arg(
        long,
        env = "RTBOX_OUTBOUND_ALLOW",
        value_delimiter = ',',
        value_name = "HOST[:PORT],…"
    )]
    pub outbound_allow: Option<Vec<String>>,
    /// Seconds between history pruning passes [default: 60]
    #[arg(long, env = "RTBOX_PRUNE_INTERVAL_SECONDS", value_name = "SECONDS")]
    pub prune_interval_seconds: Option<u64>,
    /// Directory for scheduled backups of the database (off when unset) [default: none]
    #[arg(long, env = "RTBOX_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Time between scheduled backups: seconds or 30m, 6h, 1d [default: 1d]
    #[arg(long, env = "RTBOX_BACKUP_INTERVAL", value_name = "DURATION")]
    pub backup_interval: Option<String>,
    /// Scheduled backups to keep in the backup dir; older ones are deleted [default: 7]
    #[arg(long, env = "RTBOX_BACKUP_KEEP", value_name = "N")]
    pub backup_keep: Option<usize>,
    /// Seconds to wait for in-flight requests at shutdown [default: 10]
    #[arg(long, env = "RTBOX_SHUTDOWN_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub shutdown_timeout_seconds: Option<u64>,
    /// Run as a node of a cluster sharing channels through this Redis: redis://[:PASSWORD@]HOST:PORT[/DB] [default: no cluster]
    #[arg(long, env = "RTBOX_CLUSTER", value_name = "REDIS_URL")]
    pub cluster: Option<String>,
    /// This node's role in the cluster: primary (owns the database) or edge (holds connections) [required with --cluster]
    #[arg(long, env = "RTBOX_ROLE", value_enum)]
    pub role: Option<ClusterRole>,
    /// Base URL edges reach the primary at, e.g. http://10.0.0.1:8080 [required for --role edge]
    #[arg(long, env = "RTBOX_PRIMARY_URL", value_name = "URL")]
    pub primary_url: Option<String>,
    /// Shared secret authenticating node-to-node calls, at least 16 characters, the same on every node [required with --cluster]
    #[arg(
        long,
        env = "RTBOX_CLUSTER_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<String>,
    /// Name of this node in the cluster (metrics, logs) [default: a random id]
    #[arg(long, env = "RTBOX_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
}

/// What a cluster node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    /// Owns the SQLite file: commits every message, runs triggers and livechat.
    Primary,
    /// Holds WebSocket connections; forwards publishes, history and API calls to the primary.
    Edge,
}

/// A shared secret whose value never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated cluster settings of a node (`--cluster` given).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub redis_url: String,
    pub role: ClusterRole,
    /// Without a trailing slash; `None` on the primary.
    pub primary_url: Option<String>,
    pub secret: Secret,
    pub node_id: String,
}

/// The resolved, validated configuration of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub db_path: PathBuf,
    pub bind: SocketAddr,
    pub public_url: String,
    /// Whether `public_url` was configured (otherwise it follows the bound address).
    pub public_url_explicit: bool,
    pub log: String,
    pub log_format: LogFormat,
    pub sync: SyncMode,
    pub workers: usize,
    pub max_payload_bytes: usize,
    pub max_frame_bytes: usize,
    pub max_subscriptions: usize,
    pub publish_rate: u32,
    pub rest_publish_rate_per_key: u32,
    pub rest_publish_rate_per_ip: u32,
    pub max_connections_per_ip: usize,
    pub ws_queue_messages: usize,
    pub ws_queue_bytes: usize,
    pub ws_ping_interval: Duration,
    pub login_per_ip_per_minute: u32,
    pub login_per_account_per_minute: u32,
    pub session_ttl: Duration,
    pub setup_token_ttl: Duration,
    pub trigger_timeout: Duration,
    pub trigger_max_operations: u64,
    pub allow_private_outbound: bool,
    pub outbound_allow: Vec<String>,
    pub prune_interval: Duration,
    /// Scheduled backups (`--backup-dir`), if configured.
    pub backup: Option<BackupSchedule>,
    pub shutdown_timeout: Duration,
    /// `None`: one process, no Redis.
    pub cluster: Option<ClusterSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        message: message.into(),
    }
}

/// Reads `rtbox.toml` from the data dir; a missing file is an empty layer.
pub fn load_file_layer(data_dir: &Path) -> Result<ServeOptions, ConfigError> {
    let path = data_dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ServeOptions::default()),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path,
        message: e.to_string(),
    })
}

/// Where, how often and how many scheduled backups `serve` makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep: usize,
}

/// Parses `90`, `90s`, `30m`, `6h` or `1d` into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (try 3600, 30m, 6h or 1d)"))?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a duration (try 3600, 30m, 6h or 1d)"))?;
    if secs == 0 {
        return Err("must be greater than 0".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Reads the config file layer: `explicit` (`--config` / `RTBOX_CONFIG`, which must
/// exist) or else the optional `rtbox.toml` in the data dir.
pub fn load_config_layer(
    explicit: Option<&Path>,
    data_dir: &Path,
) -> Result<ServeOptions, ConfigError> {
    let Some(path) = explicit else {
        return load_file_layer(data_dir);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

macro_rules! layer {
    ($cli:expr, $file:expr, $($field:ident),*) => {
        ServeOptions { $($field: $cli.$field.or($file.$field),)* }
    };
}

impl ServeOptions {
    /// `self` holds flags and env (clap merges those two); `file` is the `rtbox.toml` layer.
    pub fn merged_with(self, file: ServeOptions) -> ServeOptions {
        layer!(
            self,
            file,
            bind,
            public_url,
            log,
            log_format,
            sync,
            workers,
            max_payload_bytes,
            max_frame_bytes,
            max_subscriptions,
            publish_rate,
            rest_publish_rate_per_key,
            rest_publish_rate_per_ip,
            max_connections_per_ip,
            ws_queue_messages,
            ws_queue_bytes,
            ws_ping_seconds,
            login_per_ip_per_minute,
            login_per_account_per_minute,
            session_ttl_seconds,
            setup_token_ttl_seconds,
            trigger_timeout_ms,
            trigger_max_operations,
            allow_private_outbound,
            backup_dir,
            backup_interval,
            backup_keep,
            outbound_allow,
            prune_interval_seconds,
            shutdown_timeout_seconds,
            cluster,
            role,
            primary_url,
            cluster_secret,
            node_id
        )
    }

    /// Applies defaults and validates every value.
    pub fn resolve(self, data_dir: PathBuf) -> Result<Settings, ConfigError> {
        let bind_text = self.bind.unwrap_or_else(|| DEFAULT_BIND.to_string());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            invalid(
                "bind",
                format!(
                    "{bind_text:?} is not HOST:PORT with a numeric IP address (e.g. 0.0.0.0:8080)"
                ),
            )
        })?;
        let public_url_explicit = self.public_url.is_some();
        let public_url = match self.public_url {
            Some(url) => {
                let parsed = url::Url::parse(&url)
                    .map_err(|e| invalid("public_url", format!("{url:?}: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(invalid("public_url", "must start with http:// or https://"));
                }
                url.trim_end_matches('/').to_string()
            }
            None => {
                let host = if bind.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else if bind.is_ipv6() {
                    format!("[{}]", bind.ip())
                } else {
                    bind.ip().to_string()
                };
                format!("http://{host}:{}", bind.port())
            }
        };
        let positive = |name: &'static str, v: Option<u64>, default: u64| match v {
            Some(0) => Err(invalid(name, "must be greater than 0")),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        let workers = positive(
            "workers",
            self.workers.map(|v| v as u64),
            std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(2),
        )? as usize;
        let max_payload_bytes = positive(
            "max_payload_bytes",
            self.max_payload_bytes.map(|v| v as u64),
            65_536,
        )? as usize;
        let max_frame_bytes = positive(
            "max_frame_bytes",
            self.max_frame_bytes.map(|v| v as u64),
            131_072,
        )? as usize;
        if max_frame_bytes < 1024 {
            return Err(invalid("max_frame_bytes", "must be at least 1024"));
        }
        let log = self.log.unwrap_or_else(|| "info".to_string());
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(invalid(
                "log",
                format!("{log:?} is not a log filter (try info or debug)"),
            ));
        }
        let backup = match self.backup_dir {
            Some(dir) => Some(BackupSchedule {
                dir,
                interval: match &self.backup_interval {
                    Some(text) => {
                        parse_duration(text).map_err(|m| invalid("backup_interval", m))?
                    }
                    None => Duration::from_secs(86_400),
                },
                keep: positive("backup_keep", self.backup_keep.map(|v| v as u64), 7)? as usize,
            }),
            None if self.backup_interval.is_some() || self.backup_keep.is_some() => {
                return Err(invalid(
                    "backup_dir",
                    "backup_interval and backup_keep need backup_dir (where to write the backups)",
                ))
            }
            None => None,
        };
        let mut outbound_allow = Vec::new();
        for entry in self.outbound_allow.unwrap_or_default() {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry.contains('/') || entry.contains(' ') {
                return Err(invalid(
                    "outbound_allow",
                    format!("{entry:?} is not HOST or HOST:PORT"),
                ));
            }
            outbound_allow.push(entry);
        }
        let cluster = resolve_cluster(
            self.cluster,
            self.role,
            self.primary_url,
            self.cluster_secret,
            self.node_id,
        )?;
        Ok(Settings {
            backup,
            db_path: data_dir.join(DB_FILE),
            data_dir,
            bind,
            public_url,
            public_url_explicit,
            log,
            log_format: self.log_format.unwrap_or(LogFormat::Text),
            sync: self.sync.unwrap_or(SyncMode::Normal),
            workers,
            max_payload_bytes,
            max_frame_bytes,
            max_subscriptions: positive(
                "max_subscriptions",
                self.max_subscriptions.map(|v| v as u64),
                100,
            )? as usize,
            publish_rate: positive("publish_rate", self.publish_rate.map(u64::from), 50)? as u32,
            // Above what one server can commit (about 65,000/s durable, 100,000/s in
            // memory on one core): one trusted backend must not get 429s on an idle
            // server. The limit contains a runaway or leaked key on a bigger box.
            rest_publish_rate_per_key: positive(
                "rest_publish_rate_per_key",
                self.rest_publish_rate_per_key.map(u64::from),
                200_000,
            )? as u32,
            rest_publish_rate_per_ip: positive(
                "rest_publish_rate_per_ip",
                self.rest_publish_rate_per_ip.map(u64::from),
                100,
            )? as u32,
            max_connections_per_ip: positive(
                "max_connections_per_ip",
                self.max_connections_per_ip.map(|v| v as u64),
                1_000,
            )? as usize,
            ws_queue_messages: positive(
                "ws_queue_messages",
                self.ws_queue_messages.map(|v| v as u64),
                1024,
            )? as usize,
            ws_queue_bytes: positive(
                "ws_queue_bytes",
                self.ws_queue_bytes.map(|v| v as u64),
                4 * 1024 * 1024,
            )? as usize,
            ws_ping_interval: Duration::from_secs(positive(
                "ws_ping_seconds",
                self.ws_ping_seconds,
                25,
            )?),
            login_per_ip_per_minute: positive(
                "login_per_ip_per_minute",
                self.login_per_ip_per_minute.map(u64::from),
                20,
            )? as u32,
            login_per_account_per_minute: positive(
                "login_per_account_per_minute",
                self.login_per_account_per_minute.map(u64::from),
                10,
            )? as u32,
            session_ttl: Duration::from_secs(positive(
                "session_ttl_seconds",
                self.session_ttl_seconds,
                7 * 24 * 3600,
            )?),
            setup_token_ttl: Duration::from_secs(positive(
                "setup_token_ttl_seconds",
                self.setup_token_ttl_seconds,
                3600,
            )?),
            trigger_timeout: Duration::from_millis(positive(
                "trigger_timeout_ms",
                self.trigger_timeout_ms,
                1000,
            )?),
            trigger_max_operations: positive(
                "trigger_max_operations",
                self.trigger_max_operations,
                1_000_000,
            )?,
            allow_private_outbound: self.allow_private_outbound.unwrap_or(false),
            outbound_allow,
            prune_interval: Duration::from_secs(positive(
                "prune_interval_seconds",
                self.prune_interval_seconds,
                60,
            )?),
            shutdown_timeout: Duration::from_secs(positive(
                "shutdown_timeout_seconds",
                self.shutdown_timeout_seconds,
                10,
            )?),
            cluster,
        })
    }
}

/// Shortest cluster secret accepted: it is all that stands between the network and the
/// primary's node-to-node API.
pub const MIN_CLUSTER_SECRET: usize = 16;

fn resolve_cluster(
    redis: Option<String>,
    role: Option<ClusterRole>,
    primary_url: Option<String>,
    secret: Option<String>,
    node_id: Option<String>,
) -> Result<Option<ClusterSettings>, ConfigError> {
    let Some(redis_url) = redis.map(|r| r.trim().to_string()) else {
        for (set, name) in [
            (role.is_some(), "role"),
            (primary_url.is_some(), "primary_url"),
            (secret.is_some(), "cluster_secret"),
        ] {
            if set {
                return Err(invalid(
                    name,
                    "only means something in a cluster; also give --cluster redis://HOST:PORT (RTBOX_CLUSTER)",
                ));
            }
        }
        return Ok(None);
    };
    let parsed = url::Url::parse(&redis_url)
        .map_err(|e| invalid("cluster", format!("{redis_url:?} is not a URL: {e}")))?;
    if parsed.scheme() != "redis" {
        return Err(invalid(
            "cluster",
            format!(
                "{redis_url:?}: expected redis://[:PASSWORD@]HOST:PORT[/DB] (scheme {:?} is not supported)",
                parsed.scheme()
            ),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("cluster", format!("{redis_url:?} names no host")));
    }
    let role = role.ok_or_else(|| {
        invalid(
            "role",
            "is required with --cluster: --role primary on the node that owns the database, --role edge on the others (RTBOX_ROLE)",
        )
    })?;
    let primary_url = match (role, primary_url) {
        (ClusterRole::Edge, None) => {
            return Err(invalid(
                "primary_url",
                "is required for --role edge: the primary's base URL, e.g. http://10.0.0.1:8080 (RTBOX_PRIMARY_URL)",
            ))
        }
        (ClusterRole::Primary, Some(_)) => {
            return Err(invalid(
                "primary_url",
                "is for edges; the primary is the node given --role primary",
            ))
        }
        (ClusterRole::Primary, None) => None,
        (ClusterRole::Edge, Some(url)) => {
            let parsed = url::Url::parse(&url)
                .map_err(|e| invalid("primary_url", format!("{url:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(invalid(
                    "primary_url",
                    format!("{url:?} must be http(s)://HOST[:PORT]"),
                ));
            }
            Some(url.trim_end_matches('/').to_string())
        }
    };
    let secret = secret.ok_or_else(|| {
        invalid(
            "cluster_secret",
            "is required with --cluster: the same random string on every node (RTBOX_CLUSTER_SECRET)",
        )
    })?;
    if secret.len() < MIN_CLUSTER_SECRET || secret.trim() != secret {
        return Err(invalid(
            "cluster_secret",
            format!("must be at least {MIN_CLUSTER_SECRET} characters with no surrounding spaces"),
        ));
    }
    let node_id = match node_id {
        Some(id) => {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(invalid(
                    "node_id",
                    format!("{id:?}: 1-64 letters, digits, '-', '_' or '.'"),
                ));
            }
            id
        }
        None => format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
    };
    Ok(Some(ClusterSettings {
        redis_url,
        role,
        primary_url,
        secret: Secret(secret),
        node_id,
    }))
}

impl Settings {
    /// Settings for tests and tools: every default, rooted at `data_dir`.
    pub fn with_defaults(data_dir: PathBuf) -> Settings {
        // Defaults always validate, so this cannot fail.
        ServeOptions::default()
            .resolve(data_dir)
            .unwrap_or_else(|e| unreachable!("default settings are valid: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_or_env_wins_over_file() {
        let cli = ServeOptions {
            bind: Some("127.0.0.1:9000".into()),
            ..Default::default()
        };
        let file = ServeOptions {
            bind: Some("127.0.0.1:9001".into()),
            max_payload_bytes: Some(1000),
            ..Default::default()
        };
        let s = cli.merged_with(file).resolve("/tmp/x".into()).unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.max_payload_bytes, 1000);
        assert_eq!(s.max_frame_bytes, 131_072);
    }

    #[test]
    fn invalid_values_name_the_setting() {
        let err = ServeOptions {
            bind: Some("localhost".into()),
            ..Default::default()
        }
        .resolve("/tmp/x".into())
        .unwrap_err();
        assert!(err.to_string().contains("bind"), "{err}");
        let err = ServeOptions {
            max_payload_bytes: Some(0),
            ..Default::default()
        }
        .resolve("/tmp/x".into())
        .unwrap_err();
        assert!(err.to_string().contains("max_payload_bytes"), "{err}");
    }

    #[test]
    fn cluster_settings_are_validated_together() {
        let base = || ServeOptions {
            cluster: Some("redis://127.0.0.1:6379".into()),
            role: Some(ClusterRole::Edge),
            primary_url: Some("http://10.0.0.1:8080/".into()),
            cluster_secret: Some("0123456789abcdef".into()),
            ..Default::default()
        };
        let s = base().resolve("/tmp/x".into()).unwrap();
        let c = s.cluster.unwrap();
        assert_eq!(c.primary_url.as_deref(), Some("http://10.0.0.1:8080"));
        assert!(c.node_id.starts_with("node-"));
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
        let err = |o: ServeOptions| o.resolve("/tmp/x".into()).unwrap_err().to_string();
        assert!(err(ServeOptions {
            role: None,
            ..base()
        })
        .contains("role"));
        assert!(err(ServeOptions {
            primary_url: None,
            ..base()
        })
        .contains("primary_url"));
        assert!(err(ServeOptions {
            cluster_secret: Some("short".into()),
            ..base()
        })
        .contains("cluster_secret"));
        assert!(err(ServeOptions {
            cluster: Some("http://x".into()),
            ..base()
        })
        .contains("cluster"));
        assert!(err(ServeOptions {
            cluster: None,
            ..base()
        })
        .contains("--cluster"));
        assert!(err(ServeOptions {
            role: Some(ClusterRole::Primary),
            ..base()
        })
        .contains("primary_url"));
        assert!(ServeOptions::default()
            .resolve("/tmp/x".into())
            .unwrap()
            .cluster
            .is_none());
        let t: ServeOptions =
            toml::from_str("cluster = \"redis://h:1\"\nrole = \"primary\"").unwrap();
        assert_eq!(t.role, Some(ClusterRole::Primary));
    }

    #[test]
    fn toml_layer_rejects_unknown_keys() {
        let err = toml::from_str::<ServeOptions>("bnd = \"x\"").unwrap_err();
        assert!(err.to_string().contains("bnd"));
        let ok: ServeOptions = toml::from_str("bind = \"0.0.0.0:1\"\nsync = \"full\"").unwrap();
        assert_eq!(ok.sync, Some(SyncMode::Full));
    }

    #[test]
    fn durations_and_backup_schedule() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(21_600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        for bad in ["", "0", "h", "5w", "-1", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        let s = ServeOptions {
            backup_dir: Some("/b".into()),
            backup_interval: Some("6h".into()),
            ..Default::default()
        }
        .resolve("/tmp/x".into())
        .unwrap();
        assert_eq!(
            s.backup,
            Some(BackupSchedule {
                dir: "/b".into(),
                interval: Duration::from_secs(21_600),
                keep: 7
            })
        );
        let err = ServeOptions {
            backup_keep: Some(3),
            ..Default::default()
        }
        .resolve("/tmp/x".into())
        .unwrap_err();
        assert!(err.to_string().contains("backup_dir"), "{err}");
        assert!(Settings::with_defaults("/tmp/x".into()).backup.is_none());
    }

    #[test]
    fn an_explicit_config_file_must_exist_and_parse() {
        let dir = tempfile::TempDir::new().unwrap();
        let missing = dir.path().join("nope.toml");
        let err = load_config_layer(Some(&missing), dir.path()).unwrap_err();
        assert!(err.to_string().contains("nope.toml"), "{err}");
        let file = dir.path().join("etc.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9\"\n").unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "bind = \"0.0.0.0:8\"\n").unwrap();
        let layer = load_config_layer(Some(&file), dir.path()).unwrap();
        assert_eq!(layer.bind.as_deref(), Some("0.0.0.0:9"));
        let layer = load_config_layer(None, dir.path()).unwrap();
        assert_eq!(layer.bind.as_deref(), Some("0.0.0.0:8"));
    }
}
