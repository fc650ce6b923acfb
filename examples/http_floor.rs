//! The floor of rtbox's HTTP stack: actix-web (the same version and features rtbox builds
//! with) on one worker, answering the load generator's publish request with a 201 and an
//! ack the size of rtbox's, without reading the API key, the channel or the database.
//! Whatever rate this reaches on one core, rtbox's publish path cannot beat: it bounds
//! the benchmark targets that are set relative to another server.
//!
//! ```text
//! cargo build --release --example http_floor
//! taskset -c 0 target/release/examples/http_floor 127.0.0.1:18095 &
//! taskset -c 1 ../shared/bench/loadgen/target/release/loadgen publish --target rtbox \
//!     --addr 127.0.0.1:18095 --api-key unused -k 32 -t 5          # add --http-close for new connections
//! ```

use actix_web::{web, App, HttpResponse, HttpServer};

/// The shape and size of rtbox's publish ack (`POST /api/v1/channels/NAME/publish`).
const ACK: &str = r#"{"id":1,"room":null,"payload":"0123456789012345678901234567890123456789","author":{"api_key":1},"metadata":{"type":"message"},"created_at":"2026-12-02T07:00:00.000000Z","channel":"bench/0"}"#;

async fn publish(body: web::Bytes) -> HttpResponse {
    if body.is_empty() {
        return HttpResponse::BadRequest().finish();
    }
    HttpResponse::Created()
        .content_type("application/json")
        .body(ACK)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18095".into());
    HttpServer::new(|| {
        App::new().route(
            "/api/v1/channels/{name:.*}/publish",
            web::post().to(publish),
        )
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
