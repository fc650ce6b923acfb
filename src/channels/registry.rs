//! In-memory copy of every channel's settings, so the hot path resolves a name without
//! touching SQLite. Exact names win over patterns; the longest pattern wins.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::model::Channel;

#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    exact: HashMap<String, Arc<Channel>>,
    /// (prefix, channel), longest prefix first.
    patterns: Vec<(String, Arc<Channel>)>,
}

impl Registry {
    pub fn load(channels: Vec<Channel>) -> Registry {
        let r = Registry::default();
        for c in channels {
            r.put(c);
        }
        r
    }

    /// Replaces every definition at once (readers see the old set or the new one).
    pub fn replace_all(&self, channels: Vec<Channel>) {
        let fresh = Registry::load(channels);
        let fresh = std::mem::take(&mut *fresh.inner.write());
        *self.inner.write() = fresh;
    }

    /// Inserts or replaces a channel's settings.
    pub fn put(&self, channel: Channel) {
        let channel = Arc::new(channel);
        let mut inner = self.inner.write();
        match channel.pattern_prefix() {
            Some(prefix) => {
                let prefix = prefix.to_string();
                inner.patterns.retain(|(p, _)| *p != prefix);
                inner.patterns.push((prefix, channel));
                inner
                    .patterns
                    .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            }
            None => {
                inner.exact.insert(channel.name.clone(), channel);
            }
        }
    }

    pub fn remove(&self, name: &str) {
        let mut inner = self.inner.write();
        match name.strip_suffix('*') {
            Some(prefix) if name.ends_with("/*") => inner.patterns.retain(|(p, _)| p != prefix),
            _ => {
                inner.exact.remove(name);
            }
        }
    }

    /// The stored definition named exactly `name` (a channel or a pattern).
    pub fn definition(&self, name: &str) -> Option<Arc<Channel>> {
        let inner = self.inner.read();
        match name.strip_suffix('*') {
            Some(prefix) if name.ends_with("/*") => inner
                .patterns
                .iter()
                .find(|(p, _)| p == prefix)
                .map(|(_, c)| c.clone()),
            _ => inner.exact.get(name).cloned(),
        }
    }

    /// The settings a concrete channel name lives under.
    pub fn resolve(&self, name: &str) -> Option<Arc<Channel>> {
        let inner = self.inner.read();
        if let Some(c) = inner.exact.get(name) {
            return Some(c.clone());
        }
        inner
            .patterns
            .iter()
            .find(|(p, _)| name.len() > p.len() && name.starts_with(p.as_str()))
            .map(|(_, c)| c.clone())
    }

    /// Every definition, sorted by name.
    pub fn list(&self) -> Vec<Arc<Channel>> {
        let inner = self.inner.read();
        let mut all: Vec<Arc<Channel>> = inner
            .exact
            .values()
            .chain(inner.patterns.iter().map(|(_, c)| c))
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::model::*;

    fn ch(name: &str) -> Channel {
        Channel {
            name: name.into(),
            description: String::new(),
            channel_type: ChannelType::Default,
            custom_publish: true,
            other_permissions: Permission::None,
            group_permissions: Permission::Subscribe,
            presence: false,
            private_messaging: false,
            history: HistoryPolicy::default(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn exact_beats_pattern_and_longest_pattern_wins() {
        let r = Registry::load(vec![ch("chat/*"), ch("chat/vip/*"), ch("chat/42")]);
        assert_eq!(r.resolve("chat/42").unwrap().name, "chat/42");
        assert_eq!(r.resolve("chat/7").unwrap().name, "chat/*");
        assert_eq!(r.resolve("chat/vip/1").unwrap().name, "chat/vip/*");
        assert!(r.resolve("chat/").is_none());
        assert!(r.resolve("other").is_none());
        r.remove("chat/vip/*");
        assert_eq!(r.resolve("chat/vip/1").unwrap().name, "chat/*");
        assert_eq!(r.definition("chat/*").unwrap().name, "chat/*");
    }
}
