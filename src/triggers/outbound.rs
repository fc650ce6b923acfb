//! Outbound HTTP for trigger scripts: blocking requests with timeouts, bounded response
//! bodies, no automatic redirects, and an allow/deny policy applied to the addresses a
//! host actually resolves to (so DNS names pointing at private ranges are refused too).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::dns::{Name, Resolve, Resolving};

use crate::config::Settings;

/// Longest a single request may take, whatever the script asks for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies larger than this are refused rather than buffered.
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

/// Who outbound requests may reach.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    pub allow_private: bool,
    /// `(host, port)`; no port means every port of that host.
    pub allow: Vec<(String, Option<u16>)>,
}

impl OutboundPolicy {
    pub fn from_settings(settings: &Settings) -> OutboundPolicy {
        OutboundPolicy {
            allow_private: settings.allow_private_outbound,
            allow: settings
                .outbound_allow
                .iter()
                .filter_map(|e| parse_allow_entry(e))
                .collect(),
        }
    }

    /// Whether `host:port` is named in the allow list (private addresses then pass).
    pub fn host_listed(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allow
            .iter()
            .any(|(h, p)| h.eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port))
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn parse_allow_entry(entry: &str) -> Option<(String, Option<u16>)> {
    let entry = entry.trim().to_ascii_lowercase();
    if entry.is_empty() {
        return None;
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        return Some((host.to_string(), port));
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Some((host.to_string(), Some(port.parse().ok()?)))
        }
        _ => Some((entry, None)),
    }
}

/// Addresses anyone on the internet could reach. Everything else (private, loopback,
/// link-local, unspecified, multicast, carrier-grade NAT, …) is the server's own network.
pub fn ip_is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_public(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_is_public(v4);
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the embedded IPv4 address.
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6].iter().all(|s| *s == 0) {
                let o = v6.octets();
                return v4_is_public(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || is_v4_compatible(v6))
        }
    }
}

fn is_v4_compatible(v6: Ipv6Addr) -> bool {
    let seg = v6.segments();
    seg[..6].iter().all(|s| *s == 0)
}

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || o[0] >= 240)
}

/// Resolves names and keeps only public addresses, so the connection can only go to
/// an address that passed the policy (no re-resolution between check and connect).
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = host.clone();
            let addrs: Vec<SocketAddr> = tokio::task::spawn_blocking(move || {
                std::net::ToSocketAddrs::to_socket_addrs(&(lookup.as_str(), 0))
                    .map(|it| it.collect::<Vec<_>>())
            })
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)??;
            let public: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| ip_is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "outbound request denied: {host} resolves to a private or local address"
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

pub struct Request {
    pub method: String,
    pub url: String,
    pub body: Option<(Vec<u8>, Option<&'static str>)>,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Two lazily built clients: one that may only reach public addresses, and one for
/// targets the operator allowed explicitly. Neither follows redirects, so a public host
/// cannot bounce a request to a private one.
pub struct HttpClient {
    policy: OutboundPolicy,
    public_only: OnceLock<Result<Client, String>>,
    unrestricted: OnceLock<Result<Client, String>>,
}

fn build_client(public_only: bool) -> Result<Client, String> {
    let mut builder = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rtbox/", env!("CARGO_PKG_VERSION"), " (trigger)"))
        .connect_timeout(MAX_TIMEOUT);
    if public_only {
        builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
    }
    builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))
}

/// The error and its causes on one line: reqwest hides the useful part in `source()`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl HttpClient {
    pub fn new(policy: OutboundPolicy) -> HttpClient {
        HttpClient {
            policy,
            public_only: OnceLock::new(),
            unrestricted: OnceLock::new(),
        }
    }

    /// Sends a request; blocks the current thread, so call it only off the executor.
    pub fn send(&self, req: Request) -> Result<Response, String> {
        let url =
            url::Url::parse(&req.url).map_err(|e| format!("invalid URL {:?}: {e}", req.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "only http and https URLs are allowed, not {}:",
                url.scheme()
            ));
        }
        let host = url
            .host_str()
            .ok_or("the URL has no host")?
            .to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(80);
        let trusted = self.policy.allow_private || self.policy.host_listed(&host, port);
        if !trusted {
            // Literal addresses never reach the resolver, so they are checked here.
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !ip_is_public(ip)) {
                return Err(format!(
                    "outbound request denied: {host} is a private or local address"
                ));
            }
        }
        let cell = if trusted {
            &self.unrestricted
        } else {
            &self.public_only
        };
        let client = cell.get_or_init(|| build_client(!trusted)).as_ref()?;
        let method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("invalid HTTP method {:?}", req.method))?;
        let mut builder = client
            .request(method, url)
            .timeout(req.timeout.min(MAX_TIMEOUT));
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some((body, content_type)) = req.body {
            let has_type = req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            if let (Some(ct), false) = (content_type, has_type) {
                builder = builder.header("content-type", ct);
            }
            builder = builder.body(body);
        }
        let resp = builder.send().map_err(|e| {
            if e.is_timeout() {
                format!(
                    "http request timed out after {} ms",
                    req.timeout.min(MAX_TIMEOUT).as_millis()
                )
            } else {
                format!("http request failed: {}", error_chain(&e))
            }
        })?;
        let status = resp.status().as_u16();
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body = Vec::new();
        let mut limited = std::io::Read::take(resp, MAX_RESPONSE_BYTES as u64 + 1);
        std::io::Read::read_to_end(&mut limited, &mut body).map_err(|e| {
            if error_chain(&e).contains("timed out") {
                format!(
                    "http request timed out after {} ms",
                    req.timeout.min(MAX_TIMEOUT).as_millis()
                )
            } else {
                format!("reading the http response failed: {}", error_chain(&e))
            }
        })?;
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(format!(
                "http response body is larger than {} KiB",
                MAX_RESPONSE_BYTES / 1024
            ));
        }
        Ok(Response {
            status,
            headers,
            content_type,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_local_ranges_and_allows_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!ip_is_public(ip.parse().unwrap()), "{ip} should be denied");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"] {
            assert!(ip_is_public(ip.parse().unwrap()), "{ip} should be allowed");
        }
    }

    #[test]
    fn allow_entries_with_and_without_port() {
        let policy = OutboundPolicy {
            allow_private: false,
            allow: ["internal.svc", "127.0.0.1:8080", "[::1]:9000", "[fd00::1]"]
                .iter()
                .filter_map(|e| parse_allow_entry(e))
                .collect(),
        };
        assert!(policy.host_listed("internal.svc", 1));
        assert!(policy.host_listed("127.0.0.1", 8080));
        assert!(!policy.host_listed("127.0.0.1", 8081));
        assert!(policy.host_listed("[::1]", 9000));
        assert!(policy.host_listed("fd00::1", 1));
    }
}
