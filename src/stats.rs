//! Live numbers for the admin dashboard (`GET /api/v1/stats`): process-wide counters
//! teed off the metrics recorder, and a once-a-second sampler that keeps the last two
//! minutes so rates and small charts need no Prometheus.
//!
//! The counters are fed by the same `metrics::counter!`/`gauge!` calls that feed
//! `/metrics` (see [`TeeRecorder`]), so no hot path records anything twice by hand.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder, SharedString,
    Unit,
};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;

/// What a cluster node adds to `/api/v1/stats` as `cluster`: its id and role and the
/// cluster gauges (nodes seen, Redis link and lag, the primary's reachability).
pub trait NodeStatus: Send + Sync {
    fn status(&self) -> serde_json::Value;
}

/// Samples kept for the charts (one per second).
pub const SERIES_LEN: usize = 120;
/// Seconds a rate is averaged over.
const RATE_WINDOW: usize = 5;

/// Totals since the process started.
#[derive(Default)]
pub struct LiveCounters {
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub trigger_runs: AtomicU64,
    pub trigger_errors: AtomicU64,
    pub trigger_rejections: AtomicU64,
    pub subscriptions: AtomicI64,
    pub connections: AtomicI64,
}

pub fn counters() -> &'static LiveCounters {
    static COUNTERS: OnceLock<LiveCounters> = OnceLock::new();
    COUNTERS.get_or_init(LiveCounters::default)
}

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Seconds since the process started serving (the sampler's first tick or the first
/// stats request, whichever came first).
pub fn uptime() -> Duration {
    started().elapsed()
}

/// Which live counter a metric feeds, if any.
fn counter_slot(key: &Key) -> Option<&'static AtomicU64> {
    let c = counters();
    let label = |name: &str| {
        key.labels()
            .find(|l| l.key() == name)
            .map(|l| l.value().to_string())
    };
    match key.name() {
        "rtbox_messages_published_total" => Some(&c.messages_in),
        "rtbox_messages_delivered_total" => Some(&c.messages_out),
        "rtbox_messages_dropped_total" => Some(&c.messages_dropped),
        "rtbox_trigger_runs_total" => match label("outcome").as_deref() {
            Some("error") => Some(&c.trigger_errors),
            Some("rejected") => Some(&c.trigger_rejections),
            _ => Some(&c.trigger_runs),
        },
        _ => None,
    }
}

fn gauge_slot(key: &Key) -> Option<&'static AtomicI64> {
    let c = counters();
    match key.name() {
        "rtbox_subscriptions" => Some(&c.subscriptions),
        "rtbox_connections" => Some(&c.connections),
        _ => None,
    }
}

struct TeeCounter {
    inner: Counter,
    local: &'static AtomicU64,
}

impl CounterFn for TeeCounter {
    fn increment(&self, value: u64) {
        self.inner.increment(value);
        self.local.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.inner.absolute(value);
        self.local.fetch_max(value, Ordering::Relaxed);
    }
}

struct TeeGauge {
    inner: Gauge,
    local: &'static AtomicI64,
}

impl GaugeFn for TeeGauge {
    fn increment(&self, value: f64) {
        self.inner.increment(value);
        self.local.fetch_add(value as i64, Ordering::Relaxed);
    }
    fn decrement(&self, value: f64) {
        self.inner.decrement(value);
        self.local.fetch_sub(value as i64, Ordering::Relaxed);
    }
    fn set(&self, value: f64) {
        self.inner.set(value);
        self.local.store(value as i64, Ordering::Relaxed);
    }
}

/// Wraps the Prometheus recorder: every metric goes to it unchanged, and the few the
/// dashboard shows are also added to [`counters`]. Handles for teed metrics are cached
/// per key, so a `counter!` call costs one map lookup, as in the inner recorder.
pub struct TeeRecorder<R> {
    inner: R,
    counters: RwLock<HashMap<Key, Counter>>,
    gauges: RwLock<HashMap<Key, Gauge>>,
}

impl<R: Recorder> TeeRecorder<R> {
    pub fn new(inner: R) -> TeeRecorder<R> {
        TeeRecorder {
            inner,
            counters: RwLock::new(HashMap::new()),
            gauges: RwLock::new(HashMap::new()),
        }
    }
}

impl<R: Recorder> Recorder for TeeRecorder<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description)
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description)
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description)
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let Some(local) = counter_slot(key) else {
            return self.inner.register_counter(key, metadata);
        };
        if let Some(c) = self.counters.read().get(key) {
            return c.clone();
        }
        let tee = Counter::from_arc(Arc::new(TeeCounter {
            inner: self.inner.register_counter(key, metadata),
            local,
        }));
        self.counters
            .write()
            .entry(key.clone())
            .or_insert(tee)
            .clone()
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let Some(local) = gauge_slot(key) else {
            return self.inner.register_gauge(key, metadata);
        };
        if let Some(g) = self.gauges.read().get(key) {
            return g.clone();
        }
        let tee = Gauge::from_arc(Arc::new(TeeGauge {
            inner: self.inner.register_gauge(key, metadata),
            local,
        }));
        self.gauges
            .write()
            .entry(key.clone())
            .or_insert(tee)
            .clone()
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

/// One second's view of the counters.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: Option<Instant>,
    messages_in: u64,
    messages_out: u64,
    trigger_runs: u64,
    trigger_errors: u64,
    connections: i64,
    subscriptions: i64,
}

impl Sample {
    fn now() -> Sample {
        let c = counters();
        Sample {
            at: Some(Instant::now()),
            messages_in: c.messages_in.load(Ordering::Relaxed),
            messages_out: c.messages_out.load(Ordering::Relaxed),
            // Every run counts, whatever its outcome.
            trigger_runs: c.trigger_runs.load(Ordering::Relaxed)
                + c.trigger_errors.load(Ordering::Relaxed)
                + c.trigger_rejections.load(Ordering::Relaxed),
            trigger_errors: c.trigger_errors.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            subscriptions: c.subscriptions.load(Ordering::Relaxed),
        }
    }
}

/// Per-second series for the dashboard's charts, oldest first.
#[derive(Debug, Serialize, Default)]
pub struct Series {
    pub interval_seconds: u64,
    pub messages_in: Vec<f64>,
    pub messages_out: Vec<f64>,
    pub trigger_runs: Vec<f64>,
    pub trigger_errors: Vec<f64>,
    pub connections: Vec<i64>,
    pub subscriptions: Vec<i64>,
}

/// Rates over the last few seconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rates {
    pub messages_in: f64,
    pub messages_out: f64,
    pub trigger_runs: f64,
}

/// The sampler's ring of the last [`SERIES_LEN`] + 1 samples.
pub struct Sampler {
    ring: Mutex<VecDeque<Sample>>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler::new()
    }
}

impl Sampler {
    pub fn new() -> Sampler {
        let _ = started();
        let mut ring = VecDeque::with_capacity(SERIES_LEN + 1);
        ring.push_back(Sample::now());
        Sampler {
            ring: Mutex::new(ring),
        }
    }

    /// Takes one sample (called once a second).
    pub fn tick(&self) {
        let mut ring = self.ring.lock();
        if ring.len() > SERIES_LEN {
            ring.pop_front();
        }
        ring.push_back(Sample::now());
    }

    /// Runs [`Sampler::tick`] every second until the runtime stops.
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.tick();
            }
        });
    }

    /// Average rates over the last [`RATE_WINDOW`] seconds, counting up to this moment.
    pub fn rates(&self) -> Rates {
        let ring = self.ring.lock();
        let now = Sample::now();
        let first = ring
            .iter()
            .rev()
            .nth(RATE_WINDOW.saturating_sub(1))
            .or_else(|| ring.front())
            .copied()
            .unwrap_or(now);
        let secs = match (first.at, now.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        if secs < 0.2 {
            return Rates::default();
        }
        let rate = |a: u64, b: u64| round2(b.saturating_sub(a) as f64 / secs);
        Rates {
            messages_in: rate(first.messages_in, now.messages_in),
            messages_out: rate(first.messages_out, now.messages_out),
            trigger_runs: rate(first.trigger_runs, now.trigger_runs),
        }
    }

    /// Per-second deltas (and gauge values) for the charts.
    pub fn series(&self) -> Series {
        let ring = self.ring.lock();
        let samples: Vec<Sample> = ring.iter().copied().collect();
        let mut s = Series {
            interval_seconds: 1,
            ..Series::default()
        };
        for pair in samples.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let secs = match (a.at, b.at) {
                (Some(x), Some(y)) => y.duration_since(x).as_secs_f64().max(0.001),
                _ => 1.0,
            };
            let d = |x: u64, y: u64| round2(y.saturating_sub(x) as f64 / secs);
            s.messages_in.push(d(a.messages_in, b.messages_in));
            s.messages_out.push(d(a.messages_out, b.messages_out));
            s.trigger_runs.push(d(a.trigger_runs, b.trigger_runs));
            s.trigger_errors.push(d(a.trigger_errors, b.trigger_errors));
            s.connections.push(b.connections.max(0));
            s.subscriptions.push(b.subscriptions.max(0));
        }
        s
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_per_second_deltas() {
        let sampler = Sampler::new();
        counters().messages_in.fetch_add(10, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        sampler.tick();
        let series = sampler.series();
        assert_eq!(series.messages_in.len(), 1);
        assert!(series.messages_in[0] > 0.0);
        assert!(sampler.rates().messages_in > 0.0);
    }

    #[test]
    fn ring_is_bounded() {
        let sampler = Sampler::new();
        for _ in 0..SERIES_LEN * 2 {
            sampler.tick();
        }
        assert_eq!(sampler.series().messages_in.len(), SERIES_LEN);
    }
}
