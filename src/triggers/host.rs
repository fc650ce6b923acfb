//! Host functions scripts may call (`publish`, `event`, `http`, `kv_get`, `kv_set`, `log`,
//! `now`, `reject`) and the per-run state they work on.
//!
//! The engine is shared by every run, so per-run state lives in a thread-local that the
//! runner installs around one script evaluation: a run owns its blocking thread for its
//! whole duration, and nothing else runs scripts on that thread meanwhile.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use serde_json::Value;

use super::memory;
use super::outbound::{self, HttpClient};
use super::Effect;
use crate::store::{self, Db};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

pub const MAX_LOG_ENTRIES: usize = 100;
pub const MAX_LOG_ENTRY_CHARS: usize = 2000;
pub const MAX_EFFECTS: usize = 100;
pub const MAX_HTTP_CALLS: u32 = 10;
/// HTTP time one run may spend in total; it does not count toward the wall-time limit.
pub const HTTP_BUDGET: Duration = Duration::from_secs(30);
pub const MAX_KV_KEY: usize = 256;
pub const MAX_KV_VALUE: usize = 64 * 1024;

/// What the host functions share across runs.
pub struct HostEnv {
    pub db: Db,
    pub http: HttpClient,
}

/// Whether `http()` may go out in this run (test runs only do when asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMode {
    Allowed,
    Disabled,
}

/// The mutable state of one script evaluation.
pub struct RunState {
    pub trigger_id: i64,
    pub deadline: Instant,
    /// Why the progress callback terminated the script, if it did.
    pub stopped: Option<Stop>,
    pub effects: Vec<Effect>,
    pub logs: Vec<String>,
    /// Writes of the whole chain so far; applied to SQLite when the run ends (live runs)
    /// or dropped (test runs). `None` deletes.
    pub kv: HashMap<String, Option<Value>>,
    pub rejected: Option<String>,
    pub http: HttpMode,
    pub http_calls: u32,
    pub http_spent: Duration,
}

impl RunState {
    pub fn new(trigger_id: i64, timeout: Duration, http: HttpMode) -> RunState {
        RunState {
            trigger_id,
            deadline: Instant::now() + timeout,
            stopped: None,
            effects: Vec::new(),
            logs: Vec::new(),
            kv: HashMap::new(),
            rejected: None,
            http,
            http_calls: 0,
            http_spent: Duration::ZERO,
        }
    }
}

thread_local! {
    static STATE: RefCell<Option<RunState>> = const { RefCell::new(None) };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    WallTime,
    Memory,
}

/// Makes `state` the current run's state on this thread.
pub fn install(state: RunState) {
    STATE.with(|s| *s.borrow_mut() = Some(state));
    memory::arm();
}

/// Takes the current run's state back after the evaluation.
pub fn take() -> Option<RunState> {
    memory::disarm();
    STATE.with(|s| s.borrow_mut().take())
}

fn with_state<T>(f: impl FnOnce(&mut RunState) -> RhaiResult<T>) -> RhaiResult<T> {
    STATE.with(|s| match s.borrow_mut().as_mut() {
        Some(state) => f(state),
        None => Err("trigger host functions are only available while a trigger runs".into()),
    })
}

/// Value the progress callback terminates a script with.
const STOP_TOKEN: &str = "rtbox:stop";
const REJECT_TOKEN: &str = "rtbox:reject";

/// Called by the engine for every operation. Memory is checked every time (one
/// thread-local read), the clock only every 256 operations, which keeps the overhead
/// negligible and the overshoot in microseconds.
pub fn on_progress(ops: u64) -> Option<Dynamic> {
    let over_memory = memory::used() > memory::MAX_RUN_BYTES;
    if !over_memory && ops & 0xff != 0 {
        return None;
    }
    STATE.with(|s| {
        let mut guard = s.borrow_mut();
        let state = guard.as_mut()?;
        let stop = if over_memory {
            Stop::Memory
        } else if Instant::now() >= state.deadline {
            Stop::WallTime
        } else {
            return None;
        };
        state.stopped = Some(stop);
        Some(Dynamic::from(STOP_TOKEN))
    })
}

pub fn push_log(line: &str) {
    STATE.with(|s| {
        if let Some(state) = s.borrow_mut().as_mut() {
            if state.logs.len() < MAX_LOG_ENTRIES {
                let mut text: String = line.chars().take(MAX_LOG_ENTRY_CHARS).collect();
                if text.len() < line.len() {
                    text.push('…');
                }
                state.logs.push(text);
            } else if state.logs.len() == MAX_LOG_ENTRIES {
                state.logs.push(format!(
                    "(further log lines dropped; at most {MAX_LOG_ENTRIES} per run)"
                ));
            }
        }
    });
}

pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    rhai::serde::from_dynamic::<Value>(value)
        .map_err(|e| format!("value of type {} is not JSON: {e}", value.type_name()))
}

pub fn to_dynamic(value: &Value) -> Dynamic {
    rhai::serde::to_dynamic(value).unwrap_or(Dynamic::UNIT)
}

fn display(value: &Dynamic) -> String {
    if value.is_string() {
        return value.to_string();
    }
    match to_json(value) {
        Ok(v) => v.to_string(),
        Err(_) => value.to_string(),
    }
}

/// A concrete channel a script publishes to, by the one channel-name rule.
fn channel_arg(channel: &str) -> RhaiResult<String> {
    crate::channels::model::validate_name(channel.trim(), false)
        .map_err(|reason| format!("invalid channel name {channel:?}: {reason}").into())
}

fn push_effect(effect: Effect) -> RhaiResult<()> {
    with_state(|s| {
        if s.effects.len() >= MAX_EFFECTS {
            return Err(
                format!("too many publish/event calls (at most {MAX_EFFECTS} per run)").into(),
            );
        }
        s.effects.push(effect);
        Ok(())
    })
}

fn publish(channel: &str, room: Option<String>, payload: &Dynamic) -> RhaiResult<()> {
    let channel = channel_arg(channel)?;
    let payload = to_json(payload).map_err(|e| format!("publish(): {e}"))?;
    let trigger_id = with_state(|s| Ok(s.trigger_id))?;
    push_effect(Effect::Publish {
        trigger_id,
        channel,
        room,
        payload,
    })
}

fn room_arg(room: &Dynamic) -> RhaiResult<Option<String>> {
    if room.is_unit() {
        return Ok(None);
    }
    match room.clone().into_immutable_string() {
        Ok(r) if r.len() <= 128 => Ok(Some(r.to_lowercase())),
        _ => Err("publish(): room must be a string of at most 128 characters or ()".into()),
    }
}

fn kv_key(key: &str) -> RhaiResult<String> {
    if key.is_empty() || key.len() > MAX_KV_KEY {
        return Err(format!("kv key must have 1 to {MAX_KV_KEY} bytes").into());
    }
    Ok(key.to_string())
}

fn reject(reason: String) -> RhaiResult<Dynamic> {
    with_state(|s| {
        s.rejected = Some(reason);
        Ok(())
    })?;
    // Terminating (rather than throwing) keeps `try { reject(..) } catch {}` from
    // swallowing the decision.
    Err(Box::new(EvalAltResult::ErrorTerminated(
        Dynamic::from(REJECT_TOKEN),
        Position::NONE,
    )))
}

/// `#{timeout, headers}` of `http()`; `timeout` is in seconds.
fn http_options(opts: &Map) -> RhaiResult<(Duration, Vec<(String, String)>)> {
    let mut timeout = outbound::DEFAULT_TIMEOUT;
    let mut headers = Vec::new();
    for (k, v) in opts {
        match k.as_str() {
            "timeout" => {
                let secs = if let Ok(i) = v.as_int() {
                    i as f64
                } else if let Ok(f) = v.as_float() {
                    f
                } else {
                    return Err("http(): timeout must be a number of seconds".into());
                };
                if secs.is_nan() || secs <= 0.0 {
                    return Err("http(): timeout must be positive".into());
                }
                timeout = Duration::from_secs_f64(secs.min(outbound::MAX_TIMEOUT.as_secs_f64()));
            }
            "headers" => {
                let map = v
                    .clone()
                    .try_cast::<Map>()
                    .ok_or("http(): headers must be a map of strings")?;
                for (name, value) in map {
                    headers.push((name.to_string(), value.to_string()));
                }
            }
            other => {
                return Err(format!("http(): unknown option {other:?} (timeout, headers)").into())
            }
        }
    }
    Ok((timeout, headers))
}

fn http(env: &HostEnv, method: &str, url: &str, body: Dynamic, opts: Map) -> RhaiResult<Map> {
    let (timeout, headers) = http_options(&opts)?;
    let remaining = with_state(|s| {
        if s.http == HttpMode::Disabled {
            return Err("http() is disabled in this test run (set allow_http to true)".into());
        }
        if s.http_calls >= MAX_HTTP_CALLS {
            return Err(format!("too many http() calls (at most {MAX_HTTP_CALLS} per run)").into());
        }
        let left = HTTP_BUDGET.saturating_sub(s.http_spent);
        if left.is_zero() {
            return Err(format!(
                "http() time budget of {} s per run is used up",
                HTTP_BUDGET.as_secs()
            )
            .into());
        }
        s.http_calls += 1;
        Ok(left)
    })?;
    let body = if body.is_unit() {
        None
    } else if body.is_string() {
        Some((
            body.to_string().into_bytes(),
            Some("text/plain; charset=utf-8"),
        ))
    } else {
        let json = to_json(&body).map_err(|e| format!("http(): body {e}"))?;
        Some((json.to_string().into_bytes(), Some("application/json")))
    };
    let started = Instant::now();
    let result = env.http.send(outbound::Request {
        method: method.to_string(),
        url: url.to_string(),
        body,
        headers,
        timeout: timeout.min(remaining),
    });
    let spent = started.elapsed();
    // HTTP waits are not the script's own work: move the deadline by the time spent.
    with_state(|s| {
        s.http_spent += spent;
        s.deadline += spent;
        Ok(())
    })?;
    let resp = result.map_err(|e| -> Box<EvalAltResult> { format!("http(): {e}").into() })?;
    let is_json = resp
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("json"));
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    let body = if is_json {
        serde_json::from_str::<Value>(&text)
            .map(|v| to_dynamic(&v))
            .unwrap_or_else(|_| Dynamic::from(text))
    } else {
        Dynamic::from(text)
    };
    let mut headers = Map::new();
    for (k, v) in resp.headers {
        headers.insert(k.into(), Dynamic::from(v));
    }
    let mut out = Map::new();
    out.insert("status".into(), Dynamic::from(resp.status as rhai::INT));
    out.insert("body".into(), body);
    out.insert("headers".into(), Dynamic::from_map(headers));
    Ok(out)
}

fn kv_get(env: &HostEnv, key: &str) -> RhaiResult<Dynamic> {
    let key = kv_key(key)?;
    let pending = with_state(|s| Ok(s.kv.get(&key).cloned()))?;
    let value = match pending {
        Some(v) => v,
        None => {
            let started = Instant::now();
            let read = env
                .db
                .read_blocking(|c| store::triggers::kv_get(c, &key))
                .map_err(|e| format!("kv_get(): {e}"))?;
            // Waiting on the database is not the script's work either.
            let spent = started.elapsed();
            with_state(|s| {
                s.deadline += spent;
                Ok(())
            })?;
            read
        }
    };
    Ok(value.map(|v| to_dynamic(&v)).unwrap_or(Dynamic::UNIT))
}

fn kv_set(key: &str, value: &Dynamic) -> RhaiResult<()> {
    let key = kv_key(key)?;
    let value = if value.is_unit() {
        None
    } else {
        let v = to_json(value).map_err(|e| format!("kv_set(): {e}"))?;
        if v.to_string().len() > MAX_KV_VALUE {
            return Err(
                format!("kv_set(): value is larger than {} KiB", MAX_KV_VALUE / 1024).into(),
            );
        }
        Some(v)
    };
    with_state(|s| {
        if !s.kv.contains_key(&key) && s.kv.len() >= 1000 {
            return Err("kv_set(): too many keys written in one run (at most 1000)".into());
        }
        s.kv.insert(key, value);
        Ok(())
    })
}

/// Registers every host function on `engine`.
pub fn register(engine: &mut Engine, env: Arc<HostEnv>) {
    engine.register_fn("reject", |reason: Dynamic| reject(display(&reason)));
    engine.register_fn("reject", || reject("Rejected by trigger.".to_string()));

    engine.register_fn("publish", |channel: &str, payload: Dynamic| {
        publish(channel, None, &payload)
    });
    engine.register_fn(
        "publish",
        |channel: &str, room: Dynamic, payload: Dynamic| {
            publish(channel, room_arg(&room)?, &payload)
        },
    );
    engine.register_fn("event", |channel: &str, data: Dynamic| -> RhaiResult<()> {
        let channel = channel_arg(channel)?;
        let data = to_json(&data).map_err(|e| format!("event(): {e}"))?;
        let trigger_id = with_state(|s| Ok(s.trigger_id))?;
        push_effect(Effect::Event {
            trigger_id,
            channel,
            data,
        })
    });

    let e = env.clone();
    engine.register_fn("http", move |method: &str, url: &str| {
        http(&e, method, url, Dynamic::UNIT, Map::new())
    });
    let e = env.clone();
    engine.register_fn("http", move |method: &str, url: &str, body: Dynamic| {
        http(&e, method, url, body, Map::new())
    });
    let e = env.clone();
    engine.register_fn(
        "http",
        move |method: &str, url: &str, body: Dynamic, opts: Map| http(&e, method, url, body, opts),
    );

    let e = env;
    engine.register_fn("kv_get", move |key: &str| kv_get(&e, key));
    engine.register_fn("kv_set", |key: &str, value: Dynamic| kv_set(key, &value));

    // Typed overloads so `log(1.5)` logs instead of resolving to the math `log`.
    engine.register_fn("log", |v: Dynamic| push_log(&display(&v)));
    engine.register_fn("log", |v: rhai::FLOAT| push_log(&v.to_string()));
    engine.register_fn("log", |v: rhai::INT| push_log(&v.to_string()));
    engine.register_fn("log", |v: ImmutableString| push_log(&v));

    engine.register_fn("now", || chrono::Utc::now().timestamp_millis() as rhai::INT);
}

pub fn is_reject(err: &EvalAltResult) -> bool {
    matches!(err, EvalAltResult::ErrorTerminated(token, _) if token.clone().into_immutable_string().is_ok_and(|t| t == REJECT_TOKEN))
}
