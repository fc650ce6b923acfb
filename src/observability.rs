//! Logs (tracing, one line per event, `RTBOX_LOG`), the Prometheus recorder and the
//! HTTP middleware that counts requests by route and status.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber; later calls are no-ops.
pub fn init_logging(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1.0, 2.5, 5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed (several servers in one test
            // process); this handle then renders nothing, which is acceptable there.
            // Teed so the dashboard's live counters (`stats`) see the same increments.
            let _ = metrics::set_global_recorder(crate::stats::TeeRecorder::new(recorder));
            handle
        })
        .clone()
}

/// Counts and times every HTTP request by matched route pattern, method and status.
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().to_string();
    let span = tracing::info_span!("http", %method, path = %req.path());
    let res = next.call(req).instrument(span).await?;
    // A route served without the router says which pattern it stands for (no regex
    // lookup over the route table).
    let fast = res
        .request()
        .extensions()
        .get::<crate::api::channel_routes::MatchedRoute>()
        .map(|m| m.0.to_string());
    let route = fast
        .or_else(|| res.request().match_pattern())
        .unwrap_or_else(|| "unmatched".to_string());
    record_request(&route, &method, res.status().as_u16(), started.elapsed());
    Ok(res)
}

/// One HTTP request in metrics and the log: the actix-web middleware and the WebSocket
/// upgrade path (which bypasses it) both report through here.
pub fn record_request(route: &str, method: &str, status: u16, elapsed: std::time::Duration) {
    metrics::counter!("rtbox_http_requests_total", "route" => route.to_string(), "method" => method.to_string(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("rtbox_http_request_duration_seconds", "route" => route.to_string())
        .record(elapsed.as_secs_f64());
    let micros = elapsed.as_micros() as u64;
    if status >= 500 {
        tracing::warn!(%method, %route, status, micros, "request");
    } else {
        tracing::debug!(%method, %route, status, micros, "request");
    }
}
