//! Admin dashboard data: `GET /api/v1/stats` — live connections, subscriptions, message
//! and trigger rates with per-second series, livechat queue, database size, uptime,
//! version, and the latest activity.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Caller;
use crate::channels::ChannelService;
use crate::error::ApiResult;
use crate::stats::{counters, uptime, NodeStatus, Sampler};
use crate::store::{sidecar, stats as store, Db};

/// Most feed lines one request may ask for.
const MAX_FEED: i64 = 50;
const DEFAULT_FEED: i64 = 15;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/v1/stats").route(web::get().to(stats)));
}

#[derive(Deserialize)]
struct StatsQuery {
    /// Feed lines to include (0 = none).
    feed: Option<i64>,
}

/// Bytes of the database file and its WAL.
fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What only this process knows: its sockets, subscriptions and message rates. A cluster
/// edge lays these over the primary's answer, so each node reports its own.
pub fn node_stats(svc: &ChannelService, sampler: &Sampler) -> Map<String, Value> {
    let c = counters();
    let rates = sampler.rates();
    let trigger_errors = c.trigger_errors.load(Ordering::Relaxed);
    let trigger_rejections = c.trigger_rejections.load(Ordering::Relaxed);
    let trigger_runs = c.trigger_runs.load(Ordering::Relaxed) + trigger_errors + trigger_rejections;
    let fields = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": uptime().as_secs(),
        "connections": svc.hub().connection_count(),
        "subscriptions": c.subscriptions.load(Ordering::Relaxed).max(0),
        "channels": svc.list().len(),
        "messages_in_per_second": rates.messages_in,
        "messages_out_per_second": rates.messages_out,
        "messages_in_total": c.messages_in.load(Ordering::Relaxed),
        "messages_out_total": c.messages_out.load(Ordering::Relaxed),
        "messages_dropped_total": c.messages_dropped.load(Ordering::Relaxed),
        "trigger_runs_per_second": rates.trigger_runs,
        "trigger_runs_total": trigger_runs,
        "trigger_errors_total": trigger_errors,
        "trigger_rejections_total": trigger_rejections,
        "series": sampler.series(),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The `cluster` field: this node's id, role and cluster gauges, or `null` alone.
pub fn cluster_stats(node: Option<&web::Data<dyn NodeStatus>>) -> Value {
    node.map_or(Value::Null, |n| n.status())
}

async fn stats(
    caller: Caller,
    db: web::Data<Db>,
    svc: web::Data<ChannelService>,
    sampler: web::Data<Sampler>,
    node: Option<web::Data<dyn NodeStatus>>,
    q: web::Query<StatsQuery>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let feed_len = q.feed.unwrap_or(DEFAULT_FEED).clamp(0, MAX_FEED);
    let (feed, livechat) = db
        .read(move |c| {
            let feed = if feed_len > 0 {
                store::recent_activity(c, feed_len)?
            } else {
                Vec::new()
            };
            Ok((feed, store::livechat_counts(c)?))
        })
        .await?;
    let path = db.path();
    let db_bytes = file_size(path);
    let wal_bytes = file_size(&sidecar(path, "-wal"));
    let mut body = node_stats(&svc, &sampler);
    let shared = json!({
        "livechat_enabled": livechat.is_some(),
        "livechat_queue": livechat.map_or(0, |l| l.queue),
        "livechat_open_chats": livechat.map_or(0, |l| l.open_chats),
        "database_size_bytes": db_bytes + wal_bytes,
        "database_file_bytes": db_bytes,
        "database_wal_bytes": wal_bytes,
        "feed": feed,
        "cluster": cluster_stats(node.as_ref()),
    });
    if let Value::Object(shared) = shared {
        body.extend(shared);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body))
}
