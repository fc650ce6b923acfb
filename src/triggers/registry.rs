//! The in-memory set of compiled active triggers, indexed by channel, so that deciding
//! whether a channel has triggers costs a hash lookup and no I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Arc;

use rhai::AST;

use super::TriggerAction;
use crate::store::triggers::{Actions, TriggerRecord};

/// A trigger ready to run: its compiled script and what it covers.
#[derive(Debug)]
pub struct CompiledTrigger {
    pub id: i64,
    pub channel: String,
    pub actions: Actions,
    pub script: String,
    pub ast: Arc<AST>,
    /// Why the stored script no longer compiles; such a trigger fails every run.
    pub broken: Option<String>,
    /// For XanoScript triggers: the source line of each line of the generated Rhai, so
    /// run errors name the line the user wrote.
    pub line_map: Option<Arc<Vec<u32>>>,
    pub log_budget: LogBudget,
}

/// Successful runs logged per trigger and second. A busy channel would otherwise turn
/// every message into a second SQLite write; rejections and errors are always logged.
pub const OK_RUNS_LOGGED_PER_SECOND: u32 = 20;

#[derive(Debug, Default)]
pub struct LogBudget {
    second: AtomicI64,
    used: AtomicU32,
}

impl LogBudget {
    /// Whether one more successful run may be logged in the current second.
    pub fn take(&self) -> bool {
        let now = chrono::Utc::now().timestamp();
        if self.second.swap(now, Ordering::Relaxed) != now {
            self.used.store(0, Ordering::Relaxed);
        }
        self.used.fetch_add(1, Ordering::Relaxed) < OK_RUNS_LOGGED_PER_SECOND
    }
}

impl CompiledTrigger {
    pub fn covers(&self, action: TriggerAction) -> bool {
        match action {
            TriggerAction::Message => self.actions.message,
            TriggerAction::Join => self.actions.join,
            TriggerAction::Leave => self.actions.leave,
        }
    }
}

/// How a trigger's `channel` field selects channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelSelector {
    Exact(String),
    /// `chat/*` matches every name starting with `chat/`.
    Prefix(String),
    All,
}

impl ChannelSelector {
    pub fn parse(channel: &str) -> ChannelSelector {
        if channel == "*" {
            ChannelSelector::All
        } else if let Some(prefix) = channel.strip_suffix('*') {
            ChannelSelector::Prefix(prefix.to_string())
        } else {
            ChannelSelector::Exact(channel.to_string())
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            ChannelSelector::All => true,
            ChannelSelector::Exact(n) => n == name,
            ChannelSelector::Prefix(p) => prefix_matches(p, name),
        }
    }
}

fn prefix_matches(prefix: &str, name: &str) -> bool {
    name.len() > prefix.len() && name.starts_with(prefix)
}

#[derive(Default)]
pub struct Registry {
    exact: HashMap<String, Vec<Arc<CompiledTrigger>>>,
    prefixed: Vec<(String, Arc<CompiledTrigger>)>,
    all: Vec<Arc<CompiledTrigger>>,
    by_id: HashMap<i64, Arc<CompiledTrigger>>,
}

impl Registry {
    /// Builds the index from active triggers; callers pass them in id order.
    pub fn new(triggers: Vec<Arc<CompiledTrigger>>) -> Registry {
        let mut reg = Registry::default();
        for t in triggers {
            match ChannelSelector::parse(&t.channel) {
                ChannelSelector::All => reg.all.push(t.clone()),
                ChannelSelector::Prefix(p) => reg.prefixed.push((p, t.clone())),
                ChannelSelector::Exact(n) => reg.exact.entry(n).or_default().push(t.clone()),
            }
            reg.by_id.insert(t.id, t);
        }
        reg
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A compiled script to reuse when the same source is saved again.
    pub fn cached_ast(&self, id: i64, script: &str) -> Option<Arc<AST>> {
        self.cached(id, script).map(|t| t.ast.clone())
    }

    /// The compiled trigger to reuse when the same source is saved again.
    pub fn cached(&self, id: i64, script: &str) -> Option<&Arc<CompiledTrigger>> {
        self.by_id
            .get(&id)
            .filter(|t| t.script == script && t.broken.is_none())
    }

    pub fn has_active(&self, channel: &str, action: TriggerAction) -> bool {
        if self.by_id.is_empty() {
            return false;
        }
        self.exact
            .get(channel)
            .is_some_and(|v| v.iter().any(|t| t.covers(action)))
            || self
                .prefixed
                .iter()
                .any(|(p, t)| t.covers(action) && prefix_matches(p, channel))
            || self.all.iter().any(|t| t.covers(action))
    }

    /// The chain for a channel and action, in id order.
    pub fn chain(&self, channel: &str, action: TriggerAction) -> Vec<Arc<CompiledTrigger>> {
        let mut out: Vec<Arc<CompiledTrigger>> = Vec::new();
        if let Some(v) = self.exact.get(channel) {
            out.extend(v.iter().filter(|t| t.covers(action)).cloned());
        }
        for (p, t) in &self.prefixed {
            if t.covers(action) && prefix_matches(p, channel) {
                out.push(t.clone());
            }
        }
        out.extend(self.all.iter().filter(|t| t.covers(action)).cloned());
        out.sort_by_key(|t| t.id);
        out
    }
}

/// Whether a stored trigger applies to a channel name or pattern given as a list filter:
/// the same value, or a pattern covering it.
pub fn record_matches_filter(record: &TriggerRecord, filter: &str) -> bool {
    record.channel == filter || ChannelSelector::parse(&record.channel).matches(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: i64, channel: &str, actions: Actions) -> Arc<CompiledTrigger> {
        Arc::new(CompiledTrigger {
            id,
            channel: channel.into(),
            actions,
            script: String::new(),
            ast: Arc::new(AST::empty()),
            broken: None,
            line_map: None,
            log_budget: LogBudget::default(),
        })
    }

    #[test]
    fn chain_merges_exact_prefix_and_all_in_id_order() {
        let msg = Actions::default();
        let join = Actions {
            message: false,
            join: true,
            leave: false,
        };
        let reg = Registry::new(vec![
            t(1, "*", msg),
            t(2, "chat/*", msg),
            t(3, "chat/42", msg),
            t(4, "chat/42", join),
            t(5, "other", msg),
        ]);
        let ids: Vec<i64> = reg
            .chain("chat/42", TriggerAction::Message)
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert!(reg.has_active("chat/42", TriggerAction::Join));
        assert!(!reg.has_active("chat/1", TriggerAction::Join));
        assert!(!reg.has_active("x", TriggerAction::Leave));
        // A pattern does not cover its own bare prefix.
        assert_eq!(reg.chain("chat/", TriggerAction::Message).len(), 1);
        assert!(Registry::default()
            .chain("a", TriggerAction::Message)
            .is_empty());
    }
}
