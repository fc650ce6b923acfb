//! Realtime triggers: Rhai scripts that run when a client joins, leaves or sends a
//! message to a channel. This module's public surface is what the channels pipeline calls;
//! the engine and its limits, the host functions, the chain runner, the run log and the
//! outbound HTTP client live in the submodules.

pub mod engine;
pub mod host;
pub mod memory;
pub mod outbound;
pub mod registry;
pub mod runlog;
pub mod runner;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::store::triggers::TriggerRecord;
use crate::store::StoreError;
use crate::store::{self, Db};
use engine::{Limits, SyntaxError};
use host::{HostEnv, HttpMode};
use outbound::{HttpClient, OutboundPolicy};
use registry::{CompiledTrigger, Registry};
use runlog::RunLog;
use runner::{Runner, TestReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerAction {
    Message,
    Join,
    Leave,
}

impl TriggerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerAction::Message => "message",
            TriggerAction::Join => "join",
            TriggerAction::Leave => "leave",
        }
    }
}

/// The client that caused a run, as Xano shows it to scripts.
#[derive(Debug, Clone, Default)]
pub struct ClientContext {
    pub socket_id: String,
    /// `extras` of the client (e.g. token `info`).
    pub extras: Value,
    /// `{dbo_id, row_id}` — the authenticated user, when there is one.
    pub permissions: Value,
    pub authenticated: bool,
}

/// What a trigger run sees: the fields of the frame that caused it.
#[derive(Debug, Clone)]
pub struct TriggerInput {
    pub action: TriggerAction,
    /// Concrete channel name (e.g. `chat/42`).
    pub channel: String,
    pub room: Option<String>,
    pub payload: Value,
    pub client: ClientContext,
}

/// A side effect a script asked for; the channels pipeline carries it out after the run
/// (server-side publishes, which do not run triggers again).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Publish {
        trigger_id: i64,
        channel: String,
        room: Option<String>,
        payload: Value,
    },
    Event {
        trigger_id: i64,
        channel: String,
        data: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerOutcome {
    /// Deliver `payload` (unchanged or rewritten by the chain).
    Pass {
        payload: Value,
        effects: Vec<Effect>,
    },
    /// `reject(reason)` or a join script returning false.
    Rejected {
        reason: String,
        effects: Vec<Effect>,
    },
    /// A script errored or hit a limit: the message is refused with `trigger_error`.
    Failed { error: String },
}

/// Scripts running at once per runtime; beyond this, runs wait for a slot instead of
/// taking every blocking thread (the database readers share that pool).
const MAX_CONCURRENT_RUNS: usize = 256;

impl Effect {
    /// The effect as the test runner shows it.
    pub fn to_json(&self) -> Value {
        match self {
            Effect::Publish {
                trigger_id,
                channel,
                room,
                payload,
            } => {
                json!({"type": "publish", "trigger_id": trigger_id, "channel": channel, "room": room, "payload": payload})
            }
            Effect::Event {
                trigger_id,
                channel,
                data,
            } => {
                json!({"type": "event", "trigger_id": trigger_id, "channel": channel, "data": data})
            }
        }
    }
}

pub struct TriggerService {
    db: Db,
    runner: Arc<Runner>,
    registry: RwLock<Arc<Registry>>,
    /// Lets channels without triggers skip even the registry lock.
    any_active: AtomicBool,
    /// Reloads run one at a time so an older snapshot never overwrites a newer one.
    reload_lock: tokio::sync::Mutex<()>,
    slots: tokio::sync::Semaphore,
}

impl TriggerService {
    pub async fn start(db: Db, settings: Arc<Settings>) -> Result<Arc<TriggerService>, StoreError> {
        let service = TriggerService::new(db, &settings);
        service.reload().await?;
        Ok(Arc::new(service))
    }

    /// A service with an empty registry; call [`TriggerService::reload`] to load triggers.
    pub fn new(db: Db, settings: &Settings) -> TriggerService {
        let limits = Limits {
            max_operations: settings.trigger_max_operations,
            timeout: settings.trigger_timeout,
        };
        let env = Arc::new(HostEnv {
            db: db.clone(),
            http: HttpClient::new(OutboundPolicy::from_settings(settings)),
        });
        let runner = Runner {
            engine: engine::build(env, limits),
            limits,
            db: db.clone(),
            runlog: RunLog::start(db.clone()),
        };
        TriggerService {
            db,
            runner: Arc::new(runner),
            registry: RwLock::new(Arc::new(Registry::default())),
            any_active: AtomicBool::new(false),
            reload_lock: tokio::sync::Mutex::new(()),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_RUNS),
        }
    }

    /// Cheap, in-memory: whether any active trigger covers `channel` for `action`.
    /// Channels without triggers skip `run` entirely.
    pub fn has_active(&self, channel: &str, action: TriggerAction) -> bool {
        self.any_active.load(Ordering::Acquire) && self.registry.read().has_active(channel, action)
    }

    /// Runs the chain of active triggers for the input, in id order, off the executor.
    pub async fn run(&self, input: TriggerInput) -> TriggerOutcome {
        let chain = self.registry.read().chain(&input.channel, input.action);
        if chain.is_empty() {
            return TriggerOutcome::Pass {
                payload: input.payload,
                effects: Vec::new(),
            };
        }
        let Ok(_slot) = self.slots.acquire().await else {
            return TriggerOutcome::Failed {
                error: "triggers are shutting down".into(),
            };
        };
        let runner = self.runner.clone();
        match tokio::task::spawn_blocking(move || runner.run_chain(&chain, input)).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "trigger run panicked");
                TriggerOutcome::Failed {
                    error: "the trigger run crashed".into(),
                }
            }
        }
    }

    /// Checks that a script compiles with the engine's limits.
    pub fn compile(&self, script: &str) -> Result<(), SyntaxError> {
        engine::compile(&self.runner.engine, script).map(|_| ())
    }

    /// Rebuilds the in-memory registry from the database (after create, update, delete).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _guard = self.reload_lock.lock().await;
        let records = self.db.read(store::triggers::list).await?;
        let previous = self.registry.read().clone();
        let runner = self.runner.clone();
        let registry = tokio::task::spawn_blocking(move || {
            let compiled: Vec<Arc<CompiledTrigger>> = records
                .into_iter()
                .filter(|r| r.active && (r.actions.message || r.actions.join || r.actions.leave))
                .map(|r| Arc::new(compile_record(&runner.engine, &previous, &r)))
                .collect();
            Registry::new(compiled)
        })
        .await
        .map_err(|e| StoreError::Other(format!("trigger reload failed: {e}")))?;
        self.any_active
            .store(!registry.is_empty(), Ordering::Release);
        *self.registry.write() = Arc::new(registry);
        Ok(())
    }

    /// A dry run of one trigger (active or not) on a sample input.
    pub async fn test_run(
        &self,
        record: &TriggerRecord,
        input: TriggerInput,
        allow_http: bool,
    ) -> TestReport {
        let previous = self.registry.read().clone();
        let runner = self.runner.clone();
        let record = record.clone();
        let http = if allow_http {
            HttpMode::Allowed
        } else {
            HttpMode::Disabled
        };
        let started = std::time::Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let trigger = compile_record(&runner.engine, &previous, &record);
            runner.dry_run(&trigger, input, http)
        })
        .await;
        joined.unwrap_or_else(|e| TestReport {
            outcome: "error",
            output: Value::Null,
            reason: None,
            error: Some(format!("the trigger run crashed: {e}")),
            effects: Vec::new(),
            logs: Vec::new(),
            kv_writes: Vec::new(),
            duration: started.elapsed(),
        })
    }

    /// Runs the run log could not keep up with and dropped.
    pub fn run_log_dropped(&self) -> u64 {
        self.runner.runlog.dropped()
    }
}

/// Compiles a stored trigger, reusing the cached AST when its script did not change.
/// A script that no longer compiles becomes a trigger that fails every run, so a
/// broken filter refuses messages rather than silently letting them through.
fn compile_record(
    engine: &rhai::Engine,
    previous: &Registry,
    r: &TriggerRecord,
) -> CompiledTrigger {
    let (ast, broken) = match previous.cached_ast(r.id, &r.script) {
        Some(ast) => (ast, None),
        None => match engine::compile(engine, &r.script) {
            Ok(ast) => (Arc::new(ast), None),
            Err(e) => {
                tracing::error!(trigger_id = r.id, error = %e, "trigger script does not compile");
                (Arc::new(rhai::AST::empty()), Some(e.to_string()))
            }
        },
    };
    CompiledTrigger {
        id: r.id,
        channel: r.channel.clone(),
        actions: r.actions,
        script: r.script.clone(),
        ast,
        broken,
        log_budget: registry::LogBudget::default(),
    }
}

#[cfg(test)]
mod tests;
