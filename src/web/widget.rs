//! The livechat widget as a website embeds it: `/livechat/widget.js` (and the demo page
//! `/livechat/demo`) from `web/widget/`. Every file is read and gzipped once, when the
//! routes are first mounted; requests only pick the prepared bytes, answer `304` for a
//! matching `If-None-Match`, and send gzip when `Accept-Encoding` allows it.

use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use flate2::{write::GzEncoder, Compression};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "web/widget/"]
struct WidgetFiles;

/// The URL of the widget script; also what the size-budget test fetches.
pub const WIDGET_PATH: &str = "/livechat/widget.js";

/// One file ready to send: plain bytes, gzip bytes (when gzip is smaller), strong ETag.
struct Prepared {
    content_type: &'static str,
    plain: web::Bytes,
    gzip: Option<web::Bytes>,
    etag: String,
    cache_control: &'static str,
    /// Extra headers (the demo page's own strict CSP).
    extra: &'static [(&'static str, &'static str)],
}

/// What is served, and how.
struct Asset {
    route: &'static str,
    /// The file in `web/widget/`.
    file: &'static str,
    content_type: &'static str,
    cache_control: &'static str,
    extra: &'static [(&'static str, &'static str)],
}

/// The widget URL never changes on the customer's site, so caches keep it a short while
/// and then revalidate with the ETag (a 304 costs a few bytes).
const WIDGET_CACHE: &str = "public, max-age=300, stale-while-revalidate=86400";

/// The demo page is the widget's own strict host: only this server's scripts, styles and
/// connections, no inline script or style. A customer's page needs no more than this.
const DEMO_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        route: WIDGET_PATH,
        file: "widget.js",
        content_type: JS,
        cache_control: WIDGET_CACHE,
        // A host page with `Cross-Origin-Embedder-Policy: require-corp` may still load it,
        // and `<script crossorigin integrity=…>` (subresource integrity) needs CORS.
        extra: &[
            ("Cross-Origin-Resource-Policy", "cross-origin"),
            ("Access-Control-Allow-Origin", "*"),
        ],
    },
    Asset {
        route: "/livechat/demo",
        file: "demo/index.html",
        content_type: "text/html; charset=utf-8",
        cache_control: "no-cache",
        extra: &[
            ("Content-Security-Policy", DEMO_CSP),
            ("Referrer-Policy", "no-referrer"),
        ],
    },
    Asset {
        route: "/livechat/demo.js",
        file: "demo/demo.js",
        content_type: JS,
        cache_control: "no-cache",
        extra: &[],
    },
    Asset {
        route: "/livechat/demo.css",
        file: "demo/demo.css",
        content_type: "text/css; charset=utf-8",
        cache_control: "no-cache",
        extra: &[],
    },
];

fn prepared() -> &'static [Prepared] {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| ASSETS.iter().map(prepare).collect())
}

fn prepare(asset: &Asset) -> Prepared {
    let name = asset.file;
    // The files are compiled into the binary; a missing one is a build defect, caught by
    // the serving tests, and served as an empty body rather than taking the server down.
    let plain: Vec<u8> = WidgetFiles::get(name)
        .map(|f| f.data.into_owned())
        .unwrap_or_else(|| {
            tracing::error!(file = name, "embedded widget file is missing");
            Vec::new()
        });
    let digest = Sha256::digest(&plain);
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    let gzip = gzip(&plain).filter(|z| z.len() < plain.len());
    Prepared {
        content_type: asset.content_type,
        plain: web::Bytes::from(plain),
        gzip: gzip.map(web::Bytes::from),
        etag,
        cache_control: asset.cache_control,
        extra: asset.extra,
    }
}

/// Gzip at the best level: it runs once per file per process.
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::guard;
    // Compress and hash now, at startup, instead of on the first request.
    prepared();
    for (index, asset) in ASSETS.iter().enumerate() {
        let route = asset.route;
        cfg.route(
            route,
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(move |req: HttpRequest| async move { send(&req, &prepared()[index]) }),
        );
        cfg.route(route, web::route().to(method_not_allowed));
    }
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .json(serde_json::json!({"detail": "Method not allowed."}))
}

fn send(req: &HttpRequest, file: &Prepared) -> HttpResponse {
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| etag_matches(v, &file.etag));
    let mut resp = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, file.etag.as_str()))
        .insert_header((header::CACHE_CONTROL, file.cache_control))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    for (name, value) in file.extra {
        resp.insert_header((*name, *value));
    }
    if not_modified {
        return resp.finish();
    }
    resp.insert_header((header::CONTENT_TYPE, file.content_type));
    match &file.gzip {
        Some(z) if accepts_gzip(req) => resp
            .insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")))
            .body(z.clone()),
        _ => resp.body(file.plain.clone()),
    }
}

/// `If-None-Match: "a", W/"b"` or `*` (weak comparison, RFC 9110 §13.1.2).
fn etag_matches(header_value: &str, etag: &str) -> bool {
    header_value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
fn accepts_gzip(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("").to_ascii_lowercase();
            if coding != "gzip" && coding != "x-gzip" && coding != "*" {
                return false;
            }
            let quality = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            quality > 0.0
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn etags_compare_weakly_and_accept_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }

    #[test]
    fn gzip_needs_a_positive_quality() {
        let with = |v: &str| {
            let req = TestRequest::default()
                .insert_header((header::ACCEPT_ENCODING, v))
                .to_http_request();
            accepts_gzip(&req)
        };
        assert!(with("gzip"));
        assert!(with("br, gzip;q=0.5"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }
}
