//! Files embedded in the binary: the admin UI under `/admin/`; the livechat widget under
//! `/livechat/` (see `widget`).
//!
//! The UI is plain ES modules (no build step). Caching: `index.html` is always
//! revalidated (ETag, `no-cache`); it loads the modules from `/admin/a/{fingerprint}/…`
//! where the fingerprint is a hash over every embedded admin file, so those URLs change
//! whenever any file changes and can be cached for a year (`immutable`). Relative
//! imports between modules stay under the same prefix, so no file needs rewriting
//! except the two asset URLs in `index.html`. Every response carries a CSP that allows
//! only this origin and forbids framing.

pub mod widget;

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::middleware::Compress;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

/// What `index.html` writes where the fingerprinted asset prefix goes.
const ASSET_PLACEHOLDER: &str = "/admin/@assets/";

/// Only this origin: no inline script or style, no framing, no plugins.
pub const ADMIN_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; media-src 'self' data:; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", get_or_head().to(root))
        .service(
            // `/admin/` reaches here as `/admin` (the trailing slash is trimmed first).
            web::scope("/admin")
                .wrap(Compress::default())
                .route("", web::get().to(index))
                .route("", web::head().to(index))
                .route("/{path:.*}", web::get().to(admin))
                .route("/{path:.*}", web::head().to(admin)),
        )
        .configure(widget::configure);
}

/// GET, and HEAD answered like it (the HTTP layer leaves the body out), as monitors
/// and link checkers expect.
fn get_or_head() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/admin/"))
        .finish()
}

/// Hash over every admin file's content hash, in path order (16 hex digits).
fn compute_fingerprint() -> String {
    let mut files: Vec<(String, [u8; 32])> = Assets::iter()
        .filter(|p| p.starts_with("admin/"))
        .filter_map(|p| Assets::get(&p).map(|f| (p.to_string(), f.metadata.sha256_hash())))
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for (path, hash) in files {
        h.update(path.as_bytes());
        h.update(hash);
    }
    hex::encode(&h.finalize()[..8])
}

/// The current asset fingerprint. Debug builds read `web/` from disk on every request
/// (rust-embed), so they recompute it; release builds embed the files and compute once.
pub fn fingerprint() -> String {
    if cfg!(debug_assertions) {
        return compute_fingerprint();
    }
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(compute_fingerprint).clone()
}

fn not_found() -> HttpResponse {
    with_security_headers(HttpResponse::NotFound())
        .json(serde_json::json!({"detail": "Not found."}))
}

fn with_security_headers(
    mut builder: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CONTENT_SECURITY_POLICY, ADMIN_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"));
    builder
}

/// Whether the request's `If-None-Match` names `etag` (or `*`).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// Answers `body` with its ETag and `cache_control`, or 304 when the client has it.
fn respond(
    req: &HttpRequest,
    body: Vec<u8>,
    mime: &str,
    cache_control: &str,
    etag: String,
) -> HttpResponse {
    let fresh = not_modified(req, &etag);
    let mut builder = with_security_headers(if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    });
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if fresh {
        builder.finish()
    } else {
        builder.content_type(mime).body(body)
    }
}

fn etag_of(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..12]))
}

/// `index.html` with the asset prefix pointing at the current fingerprint.
async fn index(req: HttpRequest) -> HttpResponse {
    let Some(file) = Assets::get("admin/index.html") else {
        return not_found();
    };
    let html = String::from_utf8_lossy(&file.data)
        .replace(ASSET_PLACEHOLDER, &format!("/admin/a/{}/", fingerprint()));
    let body = html.into_bytes();
    let etag = etag_of(&body);
    respond(&req, body, "text/html; charset=utf-8", REVALIDATE, etag)
}

async fn admin(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().query("path").to_string();
    if path.is_empty() || path == "index.html" {
        return index(req).await;
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".") || path.contains('\\') {
        return not_found();
    }
    // `a/{fingerprint}/{file}`: long-lived when the fingerprint is current; an old
    // page asking for an old fingerprint gets today's file, revalidated.
    let (file_path, cache) = match path.strip_prefix("a/").and_then(|r| r.split_once('/')) {
        Some((fp, rest)) if fp == fingerprint() => (rest.to_string(), IMMUTABLE),
        Some((_, rest)) => (rest.to_string(), REVALIDATE),
        None => (path.clone(), REVALIDATE),
    };
    if file_path == "index.html" {
        return index(req).await;
    }
    match Assets::get(&format!("admin/{file_path}")) {
        Some(file) => {
            let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
            let mime = file.metadata.mimetype().to_string();
            let mime = if mime.starts_with("text/") || mime.contains("javascript") {
                if mime.contains("charset") {
                    mime
                } else {
                    format!("{mime}; charset=utf-8")
                }
            } else {
                mime
            };
            respond(&req, file.data.into_owned(), &mime, cache, etag)
        }
        // A client-side route typed into the address bar (`/admin/channels`) gets the app.
        None if !file_path.contains('.') => index(req).await,
        None => not_found(),
    }
}
