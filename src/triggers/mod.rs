//! Realtime triggers: Rhai scripts that run when a client joins, leaves or sends a
//! message to a channel. This module's public surface is what the channels pipeline calls.

use std::sync::Arc;

use serde_json::Value;

use crate::config::Settings;
use crate::error::StoreError;
use crate::store::Db;

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

pub struct TriggerService {
    #[allow(dead_code)]
    db: Db,
}

impl TriggerService {
    pub async fn start(
        db: Db,
        _settings: Arc<Settings>,
    ) -> Result<Arc<TriggerService>, StoreError> {
        Ok(Arc::new(TriggerService { db }))
    }

    /// Cheap, in-memory: whether any active trigger covers `channel` for `action`.
    /// Channels without triggers skip `run` entirely.
    pub fn has_active(&self, _channel: &str, _action: TriggerAction) -> bool {
        false
    }

    /// Runs the chain of active triggers for the input, in id order, off the executor.
    pub async fn run(&self, input: TriggerInput) -> TriggerOutcome {
        TriggerOutcome::Pass {
            payload: input.payload,
            effects: Vec::new(),
        }
    }
}
