//! The livechat widget as a website loads it: `/livechat/widget.js` with ETag, Cache-Control
//! and gzip prepared at startup, within its size budget, and the demo page with its own
//! strict CSP. The browser behaviour is in `widget_browser.rs`.

mod common;
use common::*;

use std::io::Read;

/// The budget the issue sets for what a site's visitors download.
const GZIP_BUDGET: usize = 15 * 1024;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn bytes(r: reqwest::blocking::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = r.send().expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().expect("body").to_vec())
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn widget_js_is_served_plain_with_validators_and_cache_headers() {
    let s = Server::start();
    let (status, h, body) = bytes(s.get("/livechat/widget.js"));
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header(&h, "content-encoding"), "");
    assert!(header(&h, "cache-control").starts_with("public, max-age="));
    assert_eq!(header(&h, "vary"), "Accept-Encoding");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "cross-origin-resource-policy"), "cross-origin");
    assert_eq!(header(&h, "access-control-allow-origin"), "*");
    let etag = header(&h, "etag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
    let source = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/web/widget/widget.js"))
        .expect("web/widget/widget.js");
    assert_eq!(body, source, "the served widget is the committed source");
}

#[test]
fn widget_js_is_gzipped_when_the_client_accepts_it_and_fits_the_budget() {
    let s = Server::start();
    let (_, _, plain) = bytes(s.get("/livechat/widget.js"));
    let (status, h, zipped) = bytes(
        s.get("/livechat/widget.js")
            .header("Accept-Encoding", "br, gzip, deflate"),
    );
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), "gzip");
    assert_eq!(header(&h, "vary"), "Accept-Encoding");
    assert_eq!(header(&h, "content-length"), zipped.len().to_string());
    assert_eq!(gunzip(&zipped), plain);
    assert!(
        zipped.len() <= GZIP_BUDGET,
        "widget.js is {} bytes gzipped; the budget is {GZIP_BUDGET}",
        zipped.len()
    );
    eprintln!("widget.js: {} bytes, {} gzipped", plain.len(), zipped.len());

    // The same bytes every time: compressed once, not per request.
    let (_, _, again) = bytes(
        s.get("/livechat/widget.js")
            .header("Accept-Encoding", "gzip"),
    );
    assert_eq!(again, zipped);

    // q=0 refuses gzip; identity only gets the plain file.
    for refuse in ["gzip;q=0", "identity", "br"] {
        let (_, h, body) = bytes(
            s.get("/livechat/widget.js")
                .header("Accept-Encoding", refuse),
        );
        assert_eq!(header(&h, "content-encoding"), "", "{refuse}");
        assert_eq!(body, plain, "{refuse}");
    }
}

#[test]
fn a_matching_etag_gets_304_and_a_stale_one_the_file() {
    let s = Server::start();
    let (_, h, _) = bytes(s.get("/livechat/widget.js"));
    let etag = header(&h, "etag");

    for candidate in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"stale\", {etag}"),
        "*".to_string(),
    ] {
        let (status, h, body) = bytes(
            s.get("/livechat/widget.js")
                .header("If-None-Match", &candidate)
                .header("Accept-Encoding", "gzip"),
        );
        assert_eq!(status, 304, "{candidate}");
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), etag);
        assert!(header(&h, "cache-control").starts_with("public"));
        assert_eq!(header(&h, "content-encoding"), "");
    }

    let (status, h, body) = bytes(
        s.get("/livechat/widget.js")
            .header("If-None-Match", "\"0123456789abcdef\""),
    );
    assert_eq!(status, 200);
    assert_eq!(header(&h, "etag"), etag);
    assert!(!body.is_empty());

    // Same content, same validator after a restart: caches stay warm across deploys.
    let mut s = s;
    s.restart();
    let (_, h, _) = bytes(s.get("/livechat/widget.js"));
    assert_eq!(header(&h, "etag"), etag);
}

#[test]
fn head_answers_headers_only_and_other_methods_are_refused() {
    let s = Server::start();
    let (status, h, body) = bytes(s.http().head(s.url("/livechat/widget.js")));
    assert_eq!(status, 200);
    assert!(body.is_empty());
    assert!(!header(&h, "etag").is_empty());

    let (status, _, _) = bytes(s.post("/livechat/widget.js").body("x"));
    assert_eq!(status, 405);
    let (status, _, _) = bytes(s.get("/livechat/widget.jsx"));
    assert_eq!(status, 404);
    let (status, _, _) = bytes(s.get("/livechat/widget.js/extra"));
    assert_eq!(status, 404);
}

#[test]
fn the_demo_page_embeds_the_tag_under_a_strict_csp() {
    let s = Server::start();
    let (status, h, body) = bytes(s.get("/livechat/demo"));
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let csp = header(&h, "content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = String::from_utf8(body).expect("utf-8");
    assert!(html.contains(r#"<script src="/livechat/widget.js" async></script>"#));
    // No inline script or style: the CSP above would block them.
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains(" style="));

    for (path, kind) in [
        ("/livechat/demo.js", "text/javascript"),
        ("/livechat/demo.css", "text/css"),
    ] {
        let (status, h, body) = bytes(s.get(path));
        assert_eq!(status, 200, "{path}");
        assert!(header(&h, "content-type").starts_with(kind), "{path}");
        assert!(!body.is_empty());
    }
}

/// A static guard next to the browser test: the widget has no way to turn a string into
/// markup or code, so nothing an agent, a trigger or the config says can run as script.
#[test]
fn the_widget_source_never_inserts_html_or_evaluates_strings() {
    let source = include_str!("../web/widget/widget.js");
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setTimeout(\"",
        "createContextualFragment",
        "DOMParser",
        "srcdoc",
    ] {
        assert!(!source.contains(banned), "widget.js uses {banned}");
    }
    // Nothing is loaded from other hosts: the only absolute URL is the SVG namespace.
    for (i, _) in source.match_indices("://") {
        let around = &source[i.saturating_sub(8)..(i + 30).min(source.len())];
        assert!(
            around.contains("http://www.w3.org/2000/svg")
                || around.contains("https?:\\/\\/")
                || around.contains("https://HOST/"),
            "unexpected URL in widget.js: {around}"
        );
    }
}
