//! Livechat triggers: Rocket.Chat's schema (with its type coercion and error texts),
//! compiled once at save (page-url regexes), and evaluated by the server on visitor
//! events and on timers for `time-on-site` (one sleeping task per pending trigger, no
//! polling). All conditions must hold; `runOnce` is stored per visitor.

use std::sync::Arc;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::external::{self, ServiceOutcome};
use super::ids::new_id;
use super::model::Speaker;
use super::rooms::NewMessage;
use super::visitors::{VisitState, VisitorEvent};
use super::{now_iso, now_ms, LivechatError, LivechatResult, LivechatService};
use crate::store::livechat::{self as rows, TriggerRow, VisitorRow};

pub const CONDITIONS: [&str; 4] = [
    "time-on-site",
    "page-url",
    "chat-opened-by-visitor",
    "after-guest-registration",
];
pub const ACTIONS: [&str; 2] = ["send-message", "use-external-service"];
const MAX_TEXT: usize = 4096;

// ---- schema (ajv with coerceTypes, as Rocket.Chat validates) -------------------------

fn invalid(msg: impl Into<String>) -> LivechatError {
    LivechatError::invalid(msg)
}

fn coerce_string(v: &Value) -> LivechatResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(invalid("must be string")),
    }
}

fn coerce_bool(v: &Value) -> LivechatResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(true),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(false),
        Value::Null => Ok(false),
        _ => Err(invalid("must be boolean")),
    }
}

fn coerce_number(v: &Value) -> LivechatResult<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| invalid("must be number")),
        Value::String(s) if !s.trim().is_empty() => s
            .trim()
            .parse::<f64>()
            .map_err(|_| invalid("must be number")),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        Value::Null => Ok(0.0),
        _ => Err(invalid("must be number")),
    }
}

fn object(v: &Value) -> LivechatResult<&Map<String, Value>> {
    v.as_object().ok_or_else(|| invalid("must be object"))
}

fn check_keys(o: &Map<String, Value>, required: &[&str], allowed: &[&str]) -> LivechatResult<()> {
    for r in required {
        if !o.contains_key(*r) {
            return Err(invalid(format!("must have required property '{r}'")));
        }
    }
    if o.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid("must NOT have additional properties"));
    }
    Ok(())
}

fn one_of(s: &str, allowed: &[&str]) -> LivechatResult<()> {
    if allowed.contains(&s) {
        Ok(())
    } else {
        Err(invalid("must be equal to one of the allowed values"))
    }
}

fn bounded(s: String, what: &str) -> LivechatResult<String> {
    if s.chars().count() > MAX_TEXT {
        return Err(invalid(format!(
            "{what} must NOT have more than {MAX_TEXT} characters"
        )));
    }
    Ok(s)
}

/// A validated trigger body: `(id if updating, row without timestamps)`.
pub fn parse_body(body: &Value) -> LivechatResult<(Option<String>, TriggerRow)> {
    let o = object(body)?;
    check_keys(
        o,
        &[
            "name",
            "description",
            "enabled",
            "runOnce",
            "conditions",
            "actions",
        ],
        &[
            "_id",
            "name",
            "description",
            "enabled",
            "runOnce",
            "conditions",
            "actions",
        ],
    )?;
    let id = match o.get("_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(coerce_string(v)?).filter(|s| !s.is_empty()),
    };
    if let Some(id) = &id {
        if id.len() > 64 || !super::ids::valid_client_id(id) {
            return Err(invalid("_id must match pattern ^[A-Za-z0-9_-]{1,64}$"));
        }
    }
    let name = bounded(coerce_string(&o["name"])?, "name")?;
    let description = bounded(coerce_string(&o["description"])?, "description")?;
    let enabled = coerce_bool(&o["enabled"])?;
    let run_once = coerce_bool(&o["runOnce"])?;
    let conditions = parse_conditions(&o["conditions"])?;
    let actions = parse_actions(&o["actions"])?;
    if name.trim().is_empty() {
        return Err(invalid("name must NOT have fewer than 1 characters"));
    }
    Ok((
        id,
        TriggerRow {
            id: String::new(),
            name,
            description,
            enabled,
            run_once,
            conditions,
            actions,
            created_at: String::new(),
            updated_at: String::new(),
        },
    ))
}

fn parse_conditions(v: &Value) -> LivechatResult<Value> {
    let items = v.as_array().ok_or_else(|| invalid("must be array"))?;
    if items.is_empty() {
        return Err(invalid("must NOT have fewer than 1 items"));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter().take(20) {
        let c = object(item)?;
        check_keys(c, &["name", "value"], &["name", "value"])?;
        let name = coerce_string(&c["name"])?;
        one_of(&name, &CONDITIONS)?;
        let value = match &c["value"] {
            Value::Null => Value::Null,
            Value::String(s) => json!(bounded(s.clone(), "value")?),
            Value::Number(n) => Value::Number(n.clone()),
            Value::Bool(b) => json!(b.to_string()),
            _ => return Err(invalid("must be string,number")),
        };
        // rtbox checks what Rocket.Chat would only find out when the trigger runs.
        match name.as_str() {
            "time-on-site" => {
                let secs = coerce_number(&value)
                    .map_err(|_| invalid("time-on-site value must be a number of seconds"))?;
                if !(0.0..=86_400.0 * 30.0).contains(&secs) {
                    return Err(invalid(
                        "time-on-site value must be between 0 and 2592000 seconds",
                    ));
                }
            }
            "page-url" => {
                let pattern = value.as_str().map(str::to_string).unwrap_or_else(|| {
                    if value.is_null() {
                        String::new()
                    } else {
                        value.to_string()
                    }
                });
                compile_url(&pattern)?;
            }
            _ => {}
        }
        out.push(json!({"name": name, "value": value}));
    }
    Ok(Value::Array(out))
}

fn compile_url(pattern: &str) -> LivechatResult<Regex> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string().lines().last().unwrap_or_default().to_string();
            invalid(format!(
                "page-url value is not a valid regular expression: {}",
                first.trim()
            ))
        })
}

fn parse_actions(v: &Value) -> LivechatResult<Value> {
    let items = v.as_array().ok_or_else(|| invalid("must be array"))?;
    if items.is_empty() {
        return Err(invalid("must NOT have fewer than 1 items"));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter().take(10) {
        let a = object(item)?;
        check_keys(a, &["name"], &["name", "params"])?;
        let name = coerce_string(&a["name"])?;
        one_of(&name, &ACTIONS)?;
        let params = match a.get("params") {
            None | Some(Value::Null) => Map::new(),
            Some(p) => object(p)?.clone(),
        };
        let params = if name == "send-message" {
            check_keys(&params, &["sender", "msg"], &["sender", "msg", "name"])?;
            let sender = coerce_string(&params["sender"])?;
            one_of(&sender, &["queue", "custom"])?;
            let msg = bounded(coerce_string(&params["msg"])?, "msg")?;
            if msg.trim().is_empty() {
                return Err(invalid("msg must NOT have fewer than 1 characters"));
            }
            let mut p = json!({"sender": sender, "msg": msg});
            if let Some(n) = params.get("name") {
                p["name"] = json!(bounded(coerce_string(n)?, "name")?);
            }
            if sender == "custom" && p["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
                return Err(invalid("must have required property 'name'"));
            }
            p
        } else {
            check_keys(
                &params,
                &["serviceUrl", "serviceTimeout", "serviceFallbackMessage"],
                &[
                    "serviceUrl",
                    "serviceTimeout",
                    "serviceFallbackMessage",
                    "sender",
                    "name",
                ],
            )?;
            let url = coerce_string(&params["serviceUrl"])?;
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => return Err(invalid("serviceUrl must be an http(s) URL")),
            }
            let timeout = coerce_number(&params["serviceTimeout"])?;
            if !(1.0..=external::MAX_TIMEOUT_MS as f64).contains(&timeout) {
                return Err(invalid(format!(
                    "serviceTimeout must be between 1 and {} milliseconds",
                    external::MAX_TIMEOUT_MS
                )));
            }
            let fallback = bounded(
                coerce_string(&params["serviceFallbackMessage"])?,
                "serviceFallbackMessage",
            )?;
            let mut p = json!({"serviceUrl": url, "serviceTimeout": timeout as u64,
                               "serviceFallbackMessage": fallback});
            if let Some(s) = params.get("sender") {
                let s = coerce_string(s)?;
                one_of(&s, &["queue", "custom"])?;
                p["sender"] = json!(s);
            }
            if let Some(n) = params.get("name") {
                p["name"] = json!(bounded(coerce_string(n)?, "name")?);
            }
            p
        };
        out.push(json!({"name": name, "params": params}));
    }
    Ok(Value::Array(out))
}

// ---- compiled form -------------------------------------------------------------------

#[derive(Debug, Clone)]
pub enum Condition {
    TimeOnSite { ms: i64 },
    PageUrl(Regex),
    ChatOpened,
    Registered,
}

#[derive(Debug, Clone)]
pub enum Action {
    SendMessage {
        queue: bool,
        msg: String,
        name: Option<String>,
    },
    External {
        url: String,
        timeout_ms: u64,
        fallback: String,
        queue: bool,
        name: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Compiled {
    pub row: TriggerRow,
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
}

impl Compiled {
    pub fn from_row(row: TriggerRow) -> LivechatResult<Compiled> {
        let mut conditions = Vec::new();
        for c in row.conditions.as_array().into_iter().flatten() {
            let value = &c["value"];
            conditions.push(match c["name"].as_str().unwrap_or_default() {
                "time-on-site" => Condition::TimeOnSite {
                    ms: (coerce_number(value).unwrap_or(0.0) * 1000.0) as i64,
                },
                "page-url" => Condition::PageUrl(compile_url(
                    &value.as_str().map(str::to_string).unwrap_or_else(|| {
                        if value.is_null() {
                            String::new()
                        } else {
                            value.to_string()
                        }
                    }),
                )?),
                "chat-opened-by-visitor" => Condition::ChatOpened,
                _ => Condition::Registered,
            });
        }
        let mut actions = Vec::new();
        for a in row.actions.as_array().into_iter().flatten() {
            let p = &a["params"];
            let name = p["name"].as_str().map(str::to_string);
            let queue = p["sender"].as_str() != Some("custom");
            actions.push(match a["name"].as_str().unwrap_or_default() {
                "send-message" => Action::SendMessage {
                    queue,
                    msg: p["msg"].as_str().unwrap_or_default().to_string(),
                    name,
                },
                _ => Action::External {
                    url: p["serviceUrl"].as_str().unwrap_or_default().to_string(),
                    timeout_ms: p["serviceTimeout"].as_u64().unwrap_or(5000),
                    fallback: p["serviceFallbackMessage"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    queue,
                    name,
                },
            });
        }
        Ok(Compiled {
            row,
            conditions,
            actions,
        })
    }

    pub fn json(&self) -> Value {
        let r = &self.row;
        json!({
            "_id": r.id, "name": r.name, "description": r.description, "enabled": r.enabled,
            "runOnce": r.run_once, "conditions": r.conditions, "actions": r.actions,
            "_createdAt": r.created_at, "_updatedAt": r.updated_at,
        })
    }

    /// What the widget's config shows: no external-service internals.
    pub fn public_json(&self) -> Value {
        let r = &self.row;
        let actions: Vec<Value> = r
            .actions
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                if a["name"] == "use-external-service" {
                    let mut params = json!({});
                    for k in ["sender", "name"] {
                        if let Some(v) = a["params"].get(k) {
                            params[k] = v.clone();
                        }
                    }
                    json!({"name": a["name"], "params": params})
                } else {
                    a.clone()
                }
            })
            .collect();
        json!({"_id": r.id, "name": r.name, "enabled": r.enabled, "runOnce": r.run_once,
               "conditions": r.conditions, "actions": actions})
    }
}

// ---- CRUD ----------------------------------------------------------------------------

impl LivechatService {
    pub fn triggers(&self) -> Arc<Vec<Compiled>> {
        self.triggers.read().clone()
    }

    pub fn trigger(&self, id: &str) -> Option<Compiled> {
        self.triggers().iter().find(|t| t.row.id == id).cloned()
    }

    /// Creates, or replaces the trigger with `_id`.
    pub async fn save_trigger(&self, body: &Value) -> LivechatResult<Compiled> {
        let (id, mut row) = parse_body(body)?;
        let now = now_iso();
        let existing = id.as_deref().and_then(|id| self.trigger(id));
        row.id = id.unwrap_or_else(new_id);
        row.created_at = existing
            .map(|e| e.row.created_at)
            .unwrap_or_else(|| now.clone());
        row.updated_at = now;
        let compiled = Compiled::from_row(row.clone())?;
        self.db.write(move |c| rows::put_trigger(c, &row)).await?;
        let mut all: Vec<Compiled> = self
            .triggers()
            .iter()
            .filter(|t| t.row.id != compiled.row.id)
            .cloned()
            .collect();
        all.push(compiled.clone());
        all.sort_by(|a, b| a.row.created_at.cmp(&b.row.created_at));
        *self.triggers.write() = Arc::new(all);
        tracing::info!(trigger = %compiled.row.id, name = %compiled.row.name, "livechat trigger saved");
        Ok(compiled)
    }

    pub async fn delete_trigger(&self, id: &str) -> LivechatResult<bool> {
        let i = id.to_string();
        let removed = self.db.write(move |c| rows::delete_trigger(c, &i)).await?;
        let all: Vec<Compiled> = self
            .triggers()
            .iter()
            .filter(|t| t.row.id != id)
            .cloned()
            .collect();
        *self.triggers.write() = Arc::new(all);
        Ok(removed)
    }

    // ---- evaluation ------------------------------------------------------------------

    /// Evaluates every enabled trigger for the visitor; fires those whose conditions all
    /// hold and arms a timer for those that only wait for `time-on-site`.
    pub async fn evaluate_triggers(
        self: &Arc<Self>,
        state: VisitState,
        _event: Option<&VisitorEvent>,
    ) -> LivechatResult<Vec<String>> {
        let triggers = self.triggers();
        if !triggers.iter().any(|t| t.row.enabled) {
            return Ok(Vec::new());
        }
        let vid = state.visitor.id.clone();
        let done = self
            .db
            .read(move |c| rows::trigger_runs_of_visitor(c, &vid))
            .await?;
        let now = now_ms();
        let mut fired = Vec::new();
        let mut next_due: Option<i64> = None;
        for t in triggers.iter().filter(|t| t.row.enabled) {
            let visit_key = if t.row.run_once {
                ""
            } else {
                state.visit.id.as_str()
            };
            if done
                .iter()
                .any(|(tid, vk)| *tid == t.row.id && vk == visit_key)
            {
                continue;
            }
            let mut holds = true;
            let mut due: Option<i64> = None;
            for c in &t.conditions {
                match c {
                    Condition::TimeOnSite { ms } => {
                        let at = state.visit.started_ms + ms;
                        if now < at {
                            due = Some(due.map_or(at, |d: i64| d.max(at)));
                        }
                    }
                    Condition::PageUrl(re) => {
                        holds &= state.current.as_ref().is_some_and(|p| re.is_match(&p.href))
                    }
                    Condition::ChatOpened => holds &= state.visit.chat_opened,
                    Condition::Registered => holds &= state.visitor.registered,
                }
            }
            if !holds {
                continue;
            }
            if let Some(at) = due {
                next_due = Some(next_due.map_or(at, |d| d.min(at)));
                continue;
            }
            if self.fire(t, &state).await? {
                fired.push(t.row.id.clone());
            }
        }
        self.arm_timer(&state.visitor.id, next_due);
        Ok(fired)
    }

    /// One sleeping task per visitor, for its nearest `time-on-site` deadline; a new
    /// event replaces it (the state it would test may have changed).
    fn arm_timer(self: &Arc<Self>, visitor_id: &str, due: Option<i64>) {
        let mut live = self.live.lock();
        let entry = live.entry(visitor_id.to_string()).or_default();
        for t in entry.timers.drain(..) {
            t.abort();
        }
        let Some(due) = due else {
            return;
        };
        let wait = std::time::Duration::from_millis((due - now_ms()).max(0) as u64 + 5);
        let svc = Arc::downgrade(self);
        let vid = visitor_id.to_string();
        let task = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(svc) = svc.upgrade() else {
                return;
            };
            match svc.visit_state(&vid).await {
                Ok(Some(state))
                    if now_ms() - state.visit.last_event_ms <= svc.settings.visit_gap_ms() =>
                {
                    if let Err(e) = Box::pin(svc.evaluate_triggers(state, None)).await {
                        tracing::warn!(visitor = %vid, error = %e, "time-on-site evaluation failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(visitor = %vid, error = %e, "visit state unreadable"),
            }
        });
        entry.timers.push(task.abort_handle());
    }

    /// Records the firing (once) and carries out the trigger's actions.
    async fn fire(self: &Arc<Self>, t: &Compiled, state: &VisitState) -> LivechatResult<bool> {
        let visit_key = if t.row.run_once {
            String::new()
        } else {
            state.visit.id.clone()
        };
        let (tid, vid, at) = (t.row.id.clone(), state.visitor.id.clone(), now_iso());
        let first = self
            .db
            .write(move |c| rows::record_trigger_run(c, &tid, &vid, &visit_key, &at))
            .await?;
        if !first {
            return Ok(false);
        }
        metrics::counter!("rtbox_livechat_triggers_fired_total").increment(1);
        tracing::info!(trigger = %t.row.id, visitor = %state.visitor.id, "livechat trigger fired");
        let waits = t
            .actions
            .iter()
            .any(|a| matches!(a, Action::External { .. }));
        if waits {
            // An external service may take its whole timeout: the visitor's request or
            // socket does not wait for it; the answer arrives in the room.
            let (svc, t, visitor) = (self.clone(), t.clone(), state.visitor.clone());
            tokio::spawn(async move {
                if let Err(e) = svc.carry_out(&t, &visitor).await {
                    tracing::warn!(trigger = %t.row.id, error = %e, "livechat trigger actions failed");
                }
            });
        } else {
            self.carry_out(t, &state.visitor).await?;
        }
        Ok(true)
    }

    /// The actions of a fired trigger, in order.
    async fn carry_out(self: &Arc<Self>, t: &Compiled, visitor: &VisitorRow) -> LivechatResult<()> {
        for action in &t.actions {
            match action {
                Action::SendMessage { queue, msg, name } => {
                    self.trigger_say(t, visitor, *queue, name.as_deref(), vec![msg.clone()])
                        .await?;
                }
                Action::External {
                    url,
                    timeout_ms,
                    fallback,
                    queue,
                    name,
                } => {
                    let outcome = external::call(
                        self.http.clone(),
                        url.clone(),
                        *timeout_ms,
                        self.settings.text(super::settings::SECRET_TOKEN),
                        json!([]),
                        self.token_hint(&visitor.id),
                    )
                    .await;
                    let mut msgs = outcome.messages();
                    if msgs.is_empty() {
                        if let ServiceOutcome::Timeout(why) | ServiceOutcome::Invalid(why) =
                            &outcome
                        {
                            tracing::warn!(trigger = %t.row.id, %why, "external service failed; fallback message");
                        }
                        if !fallback.trim().is_empty() {
                            msgs.push(fallback.clone());
                        }
                    }
                    if !msgs.is_empty() {
                        self.trigger_say(t, visitor, *queue, name.as_deref(), msgs)
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// What the external service gets as `visitorToken`: the token when this process has
    /// seen it (tokens are stored hashed), else the visitor id.
    pub fn token_hint(&self, visitor_id: &str) -> String {
        self.live
            .lock()
            .get(visitor_id)
            .and_then(|l| l.token.clone())
            .unwrap_or_else(|| visitor_id.to_string())
    }

    pub fn remember_token(&self, visitor_id: &str, token: &str) {
        let mut live = self.live.lock();
        let entry = live.entry(visitor_id.to_string()).or_default();
        if entry.token.as_deref() != Some(token) {
            entry.token = Some(token.to_string());
        }
    }

    /// Posts trigger messages in the visitor's room (opening a pending one if needed).
    async fn trigger_say(
        self: &Arc<Self>,
        t: &Compiled,
        visitor: &VisitorRow,
        queue: bool,
        name: Option<&str>,
        msgs: Vec<String>,
    ) -> LivechatResult<()> {
        let (u, reserved) = if queue {
            match self.next_agent().await? {
                Some(agent) => (agent.short(), Some(agent.id)),
                None => {
                    let n = name
                        .map(str::to_string)
                        .unwrap_or_else(|| self.settings.text("Livechat_title"));
                    (
                        json!({"_id": format!("trigger-{}", t.row.id), "username": n, "name": n}),
                        None,
                    )
                }
            }
        } else {
            let n = name.unwrap_or("Bot");
            (
                json!({"_id": format!("trigger-{}", t.row.id), "username": n, "name": n}),
                None,
            )
        };
        let (room, _) = self.open_room(visitor, "trigger", true, reserved).await?;
        if room.status == "pending" && reserved.is_some() && room.reserved_agent_id != reserved {
            let r = reserved;
            self.mutate_room(&room.id, move |_, row| {
                row.reserved_agent_id = r;
                Ok(())
            })
            .await?;
        }
        let count = msgs.len() as i64;
        for msg in msgs {
            self.post(
                &room.id,
                None,
                NewMessage {
                    id: None,
                    msg,
                    speaker: Speaker {
                        sender: "trigger",
                        u: u.clone(),
                    },
                    t: None,
                    trigger: Some(json!({"_id": t.row.id, "name": t.row.name})),
                },
            )
            .await?;
        }
        let (room, _) = self
            .mutate_room(&room.id, move |_, r| {
                r.msgs += count;
                r.last_message_at = Some(now_iso());
                Ok(())
            })
            .await?;
        self.room_updated(&room, visitor).await;
        Ok(())
    }

    /// The call endpoint: asks the trigger's service now and answers what it said
    /// (nothing is posted; the server posts by itself when the trigger fires).
    pub async fn call_external(
        &self,
        t: &Compiled,
        visitor_token: &str,
        extra: Value,
    ) -> LivechatResult<(bool, Value)> {
        let Some(Action::External {
            url,
            timeout_ms,
            fallback,
            ..
        }) = t
            .actions
            .iter()
            .find(|a| matches!(a, Action::External { .. }))
        else {
            return Err(LivechatError::coded(
                "error-invalid-trigger",
                "Trigger is not configured to use an external service",
            ));
        };
        let outcome = external::call(
            self.http.clone(),
            url.clone(),
            *timeout_ms,
            self.settings.text(super::settings::SECRET_TOKEN),
            extra,
            visitor_token.to_string(),
        )
        .await;
        Ok(outcome.response_body(fallback))
    }

    /// The test endpoint: like a call, for a URL not saved yet.
    pub async fn test_external(
        &self,
        url: String,
        timeout_ms: u64,
        fallback: &str,
        extra: Value,
    ) -> (bool, Value) {
        let outcome = external::call(
            self.http.clone(),
            url,
            timeout_ms,
            self.settings.text(super::settings::SECRET_TOKEN),
            extra,
            "1234567890".into(),
        )
        .await;
        outcome.response_body(fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"name": "t", "description": "d", "enabled": true, "runOnce": false,
               "conditions": [{"name": "page-url", "value": "pricing"}],
               "actions": [{"name": "send-message", "params": {"sender": "custom", "name": "Bot", "msg": "hi"}}]})
    }

    fn err(v: Value) -> String {
        parse_body(&v).unwrap_err().to_string()
    }

    #[test]
    fn schema_errors_match_rocket_chat() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("description");
        assert_eq!(
            err(v),
            "must have required property 'description' [invalid-params]"
        );
        let mut v = base();
        v["conditions"][0]["name"] = json!("nope");
        assert_eq!(
            err(v),
            "must be equal to one of the allowed values [invalid-params]"
        );
        let mut v = base();
        v["extra"] = json!(1);
        assert_eq!(
            err(v),
            "must NOT have additional properties [invalid-params]"
        );
        let mut v = base();
        v["conditions"] = json!([]);
        assert_eq!(err(v), "must NOT have fewer than 1 items [invalid-params]");
        let mut v = base();
        v["enabled"] = json!("yes");
        assert_eq!(err(v), "must be boolean [invalid-params]");
        let mut v = base();
        v["conditions"][0]["value"] = json!("(unclosed");
        assert!(err(v).contains("not a valid regular expression"));
    }

    #[test]
    fn coercion_as_ajv() {
        let mut v = base();
        v["enabled"] = json!("false");
        v["runOnce"] = json!(1);
        v["name"] = json!(42);
        let (_, row) = parse_body(&v).unwrap();
        assert!(!row.enabled);
        assert!(row.run_once);
        assert_eq!(row.name, "42");
        let mut v = base();
        v["actions"] = json!([{"name": "use-external-service", "params": {
            "serviceUrl": "http://example.com/x", "serviceTimeout": "1500", "serviceFallbackMessage": "sorry"}}]);
        let (_, row) = parse_body(&v).unwrap();
        assert_eq!(row.actions[0]["params"]["serviceTimeout"], 1500);
    }
}
