//! Evaluates one trigger against an input, and chains several: each gets the previous
//! output, a rejection or failure stops the chain (except for `leave`, which cannot
//! refuse), and the chain's `kv_set` writes are applied together at the end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, Map, Scope};
use serde_json::Value;

use super::engine::{describe_error, Limits};
use super::host::{self, HttpMode, RunState};
use super::registry::CompiledTrigger;
use super::runlog::RunLog;
use super::{Effect, TriggerAction, TriggerInput, TriggerOutcome};
use crate::store::triggers::{kv_apply, NewRun};
use crate::store::{now_rfc3339, Db};

/// How one script evaluation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptEnd {
    /// `None`: the script produced no value, the payload stays as it was.
    Value(Option<Value>),
    Rejected(String),
    Failed(String),
}

impl ScriptEnd {
    pub fn outcome_label(&self) -> &'static str {
        match self {
            ScriptEnd::Value(_) => "ok",
            ScriptEnd::Rejected(_) => "rejected",
            ScriptEnd::Failed(_) => "error",
        }
    }
}

pub struct Evaluation {
    pub end: ScriptEnd,
    pub state: RunState,
    pub duration: Duration,
}

pub struct Runner {
    pub engine: Engine,
    pub limits: Limits,
    pub db: Db,
    pub runlog: RunLog,
}

fn client_map(input: &TriggerInput) -> Map {
    let c = &input.client;
    let mut permissions = Map::new();
    permissions.insert("dbo_id".into(), Dynamic::UNIT);
    permissions.insert("row_id".into(), Dynamic::UNIT);
    if let Value::Object(p) = &c.permissions {
        for (k, v) in p {
            permissions.insert(k.as_str().into(), host::to_dynamic(v));
        }
    }
    let mut m = Map::new();
    m.insert("socketId".into(), Dynamic::from(c.socket_id.clone()));
    m.insert("extras".into(), host::to_dynamic(&c.extras));
    m.insert("permissions".into(), Dynamic::from_map(permissions));
    m.insert("authenticated".into(), Dynamic::from_bool(c.authenticated));
    m
}

fn kv_writes(kv: HashMap<String, Option<Value>>) -> Vec<(String, Option<Value>)> {
    let mut writes: Vec<_> = kv.into_iter().collect();
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    writes
}

impl Runner {
    /// Runs one script with `payload` as its input payload. Blocks: call off the executor.
    pub fn evaluate(
        &self,
        trigger: &CompiledTrigger,
        input: &TriggerInput,
        payload: &Value,
        state: RunState,
    ) -> Evaluation {
        if let Some(broken) = &trigger.broken {
            return Evaluation {
                end: ScriptEnd::Failed(format!("the script does not compile: {broken}")),
                state,
                duration: Duration::ZERO,
            };
        }
        let action = input.action.as_str();
        let mut scope = Scope::new();
        scope.push("action", action);
        scope.push("command", action);
        scope.push("channel", input.channel.clone());
        match &input.room {
            Some(room) => scope.push("room", room.clone()),
            None => scope.push("room", ()),
        };
        scope.push_dynamic("payload", host::to_dynamic(payload));
        let mut options = Map::new();
        options.insert(
            "authenticated".into(),
            Dynamic::from_bool(input.client.authenticated),
        );
        options.insert("channel".into(), Dynamic::from(input.channel.clone()));
        scope.push("options", options);
        scope.push("client", client_map(input));

        let trigger_id = state.trigger_id;
        host::install(state);
        let started = Instant::now();
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &trigger.ast);
        let duration = started.elapsed();
        let state = host::take()
            .unwrap_or_else(|| RunState::new(trigger_id, self.limits.timeout, HttpMode::Disabled));

        let end = if let Some(reason) = &state.rejected {
            ScriptEnd::Rejected(reason.clone())
        } else {
            match result {
                Err(err) => {
                    let reason = describe_error(&err, &self.limits, state.stopped);
                    ScriptEnd::Failed(match &trigger.line_map {
                        Some(map) => super::xanoscript::map_error_lines(&reason, map),
                        None => reason,
                    })
                }
                Ok(value) if input.action == TriggerAction::Join && value.is_bool() => {
                    if value.as_bool().unwrap_or(true) {
                        ScriptEnd::Value(None)
                    } else {
                        ScriptEnd::Rejected("Join refused by trigger.".into())
                    }
                }
                Ok(value) if value.is_unit() => ScriptEnd::Value(None),
                Ok(value) => match host::to_json(&value) {
                    Ok(v) => ScriptEnd::Value(Some(v)),
                    Err(e) => {
                        ScriptEnd::Failed(format!("the script's value cannot be delivered: {e}"))
                    }
                },
            }
        };
        Evaluation {
            end,
            state,
            duration,
        }
    }

    fn record(&self, trigger: &CompiledTrigger, input: &TriggerInput, eval: &mut Evaluation) {
        let outcome = eval.end.outcome_label();
        metrics::counter!("rtbox_trigger_runs_total", "outcome" => outcome).increment(1);
        metrics::histogram!("rtbox_trigger_duration_seconds").record(eval.duration.as_secs_f64());
        let error = match &eval.end {
            ScriptEnd::Value(_) => None,
            ScriptEnd::Rejected(r) => Some(r.clone()),
            ScriptEnd::Failed(e) => Some(e.clone()),
        };
        if let ScriptEnd::Failed(e) = &eval.end {
            tracing::info!(trigger_id = trigger.id, channel = %input.channel, error = %e, "trigger failed");
        }
        if error.is_none() && !trigger.log_budget.take() {
            metrics::counter!("rtbox_trigger_runs_unlogged_total").increment(1);
            return;
        }
        self.runlog.record(NewRun {
            trigger_id: trigger.id,
            time: now_rfc3339(),
            action: input.action.as_str(),
            channel: input.channel.clone(),
            duration_us: eval.duration.as_micros().min(i64::MAX as u128) as i64,
            outcome,
            error,
            logs: std::mem::take(&mut eval.state.logs),
        });
    }

    /// Applies the chain's `kv_set` writes in one durable write.
    fn flush_kv(&self, kv: HashMap<String, Option<Value>>) -> Result<(), String> {
        if kv.is_empty() {
            return Ok(());
        }
        let writes = kv_writes(kv);
        self.db
            .write_blocking(move |c| kv_apply(c, &writes))
            .map_err(|e| format!("could not store kv_set values: {e}"))
    }

    /// Runs a chain of triggers (already in id order) for real: effects are returned to
    /// the caller, kv writes are stored, every run is logged. Blocks: call off the executor.
    pub fn run_chain(&self, chain: &[Arc<CompiledTrigger>], input: TriggerInput) -> TriggerOutcome {
        let leave = input.action == TriggerAction::Leave;
        let mut payload = input.payload.clone();
        let mut effects: Vec<Effect> = Vec::new();
        let mut kv: HashMap<String, Option<Value>> = HashMap::new();
        for trigger in chain {
            let mut state = RunState::new(trigger.id, self.limits.timeout, HttpMode::Allowed);
            // A failing leave trigger must not leave half its writes behind.
            let before = if leave { Some(kv.clone()) } else { None };
            state.kv = std::mem::take(&mut kv);
            let mut eval = self.evaluate(trigger, &input, &payload, state);
            self.record(trigger, &input, &mut eval);
            kv = std::mem::take(&mut eval.state.kv);
            match eval.end {
                ScriptEnd::Value(value) => {
                    if let Some(v) = value {
                        payload = v;
                    }
                    effects.append(&mut eval.state.effects);
                }
                ScriptEnd::Rejected(_) if leave => effects.append(&mut eval.state.effects),
                ScriptEnd::Failed(_) if leave => kv = before.unwrap_or_default(),
                ScriptEnd::Rejected(reason) => {
                    effects.append(&mut eval.state.effects);
                    if let Err(e) = self.flush_kv(kv) {
                        return TriggerOutcome::Failed { error: e };
                    }
                    return TriggerOutcome::Rejected { reason, effects };
                }
                ScriptEnd::Failed(error) => {
                    return TriggerOutcome::Failed {
                        error: format!("Trigger {} failed: {error}", trigger.id),
                    };
                }
            }
        }
        if let Err(e) = self.flush_kv(kv) {
            if leave {
                tracing::warn!(error = %e, channel = %input.channel, "leave trigger kv writes lost");
            } else {
                return TriggerOutcome::Failed { error: e };
            }
        }
        TriggerOutcome::Pass { payload, effects }
    }

    /// Runs one trigger without side effects: nothing is published, kv writes stay in an
    /// overlay, nothing is logged. Blocks: call off the executor.
    pub fn dry_run(
        &self,
        trigger: &CompiledTrigger,
        input: TriggerInput,
        http: HttpMode,
    ) -> TestReport {
        let state = RunState::new(trigger.id, self.limits.timeout, http);
        let eval = self.evaluate(trigger, &input, &input.payload, state);
        let outcome = eval.end.outcome_label();
        let (output, reason, error) = match eval.end {
            ScriptEnd::Value(Some(v)) => (v, None, None),
            ScriptEnd::Value(None) => (input.payload.clone(), None, None),
            ScriptEnd::Rejected(ref r) => (Value::Null, Some(r.clone()), None),
            ScriptEnd::Failed(ref e) => (Value::Null, None, Some(e.clone())),
        };
        TestReport {
            outcome,
            output,
            reason,
            error,
            effects: eval.state.effects,
            logs: eval.state.logs,
            kv_writes: kv_writes(eval.state.kv),
            duration: eval.duration,
        }
    }
}

/// The result of a test run, as `POST /api/v1/triggers/{id}/test` returns it.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// `ok`, `rejected` or `error`, as in the run log.
    pub outcome: &'static str,
    pub output: Value,
    pub reason: Option<String>,
    pub error: Option<String>,
    pub effects: Vec<Effect>,
    pub logs: Vec<String>,
    pub kv_writes: Vec<(String, Option<Value>)>,
    pub duration: Duration,
}
