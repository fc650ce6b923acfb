//! Operations endpoints: `/healthz` (touches the database) and `/metrics` (Prometheus).

use actix_web::{web, HttpResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::store::{self, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics));
}

/// 200 when a write round-trips through the writer (the database is writable).
async fn healthz(db: web::Data<Db>) -> HttpResponse {
    let probe = db
        .write(|c| {
            c.execute(
                "INSERT INTO settings(key, value) VALUES ('healthz', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [store::now_rfc3339()],
            )?;
            Ok(())
        })
        .await;
    match probe {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "error", "detail": "database is not writable"}))
        }
    }
}

async fn metrics(handle: web::Data<PrometheusHandle>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
