//! What a channel is: its settings, name rules and JSON shape (Syncano v1.1 fields plus
//! rtbox's presence, private messaging and history policy).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_ROOM_LEN: usize = 128;
pub const MAX_DESCRIPTION_LEN: usize = 1024;
pub const DEFAULT_MAX_MESSAGES: i64 = 10_000;
/// Path words that follow a channel name in URLs, so no name may end with one.
pub const RESERVED_LAST_SEGMENTS: [&str; 5] = ["publish", "history", "poll", "presence", "events"];

/// none < subscribe < publish, compared in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    None,
    Subscribe,
    Publish,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Subscribe => "subscribe",
            Permission::Publish => "publish",
        }
    }
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "none" => Some(Permission::None),
            "subscribe" => Some(Permission::Subscribe),
            "publish" => Some(Permission::Publish),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelType {
    Default,
    SeparateRooms,
}

impl ChannelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Default => "default",
            ChannelType::SeparateRooms => "separate_rooms",
        }
    }
    pub fn parse(s: &str) -> Option<ChannelType> {
        match s {
            "default" => Some(ChannelType::Default),
            "separate_rooms" => Some(ChannelType::SeparateRooms),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPolicy {
    pub persist: bool,
    pub max_messages: i64,
    pub max_age_seconds: Option<i64>,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        HistoryPolicy {
            persist: true,
            max_messages: DEFAULT_MAX_MESSAGES,
            max_age_seconds: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Lowercased. A name ending in `/*` is a pattern.
    pub name: String,
    pub description: String,
    pub channel_type: ChannelType,
    pub custom_publish: bool,
    pub other_permissions: Permission,
    pub group_permissions: Permission,
    pub presence: bool,
    pub private_messaging: bool,
    pub history: HistoryPolicy,
    pub created_at: String,
    pub updated_at: String,
}

impl Channel {
    pub fn is_pattern(&self) -> bool {
        self.name.ends_with("/*")
    }

    /// The prefix a concrete name must start with for this pattern (`chat/` for `chat/*`).
    pub fn pattern_prefix(&self) -> Option<&str> {
        self.name.strip_suffix('*')
    }

    /// The Syncano-shaped object, with `links` under `base` (e.g. `/api/v1`).
    pub fn to_json(&self, base: &str) -> Value {
        let path = format!("{base}/channels/{}", self.name);
        json!({
            "name": self.name,
            "description": self.description,
            "type": self.channel_type.as_str(),
            "custom_publish": self.custom_publish,
            "other_permissions": self.other_permissions.as_str(),
            "group_permissions": self.group_permissions.as_str(),
            "presence": self.presence,
            "private_messaging": self.private_messaging,
            "history": self.history,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "links": {
                "self": format!("{path}/"),
                "publish": format!("{path}/publish/"),
                "history": format!("{path}/history/"),
                "poll": format!("{path}/poll/"),
            }
        })
    }
}

/// The one channel-name rule (SPEC §3), for channels, patterns and trigger filters:
/// lowercased; letters, digits, `-`, `_`, `.`, `/`; `/` separates segments that are
/// never empty, `.` or `..` (a name goes into URL paths as it is). Returns the
/// lowercased name, or why it is refused in the words the API answers with.
pub fn validate_name(raw: &str, allow_pattern: bool) -> Result<String, String> {
    let name = raw.to_ascii_lowercase();
    let body = match name.strip_suffix("/*") {
        Some(prefix) if allow_pattern => prefix,
        Some(_) => return Err("A pattern (ending in /*) is not allowed here.".into()),
        None => name.as_str(),
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "Ensure this field has 1 to {MAX_NAME_LEN} characters."
        ));
    }
    check_segments(body, false)?;
    let last = body.rsplit('/').next().unwrap_or(body);
    if !name.ends_with("/*") && RESERVED_LAST_SEGMENTS.contains(&last) {
        return Err(format!(
            "'{last}' cannot be the last segment of a channel name."
        ));
    }
    Ok(name)
}

/// What a trigger applies to: `*` (every channel), a channel name, a `prefix/*` pattern,
/// or a bare `prefix*` (every name starting with `prefix`, whose last segment may be
/// partial). Same characters and segment rules as [`validate_name`].
pub fn validate_channel_filter(raw: &str) -> Result<String, String> {
    let filter = raw.trim().to_ascii_lowercase();
    if filter == "*" {
        return Ok(filter);
    }
    match filter.strip_suffix('*') {
        Some(prefix) if !prefix.ends_with('/') => {
            if filter.len() > MAX_NAME_LEN {
                return Err(format!(
                    "Ensure this field has 1 to {MAX_NAME_LEN} characters."
                ));
            }
            check_segments(prefix, true)?;
            Ok(filter)
        }
        _ => validate_name(&filter, true),
    }
}

/// Characters and segments of a name without its pattern suffix. With `partial_last`,
/// the last segment is the start of one (a prefix filter) and is not checked as whole.
fn check_segments(body: &str, partial_last: bool) -> Result<(), String> {
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
    {
        return Err("Use only letters, digits, '-', '_', '.' and '/'.".into());
    }
    let segments: Vec<&str> = body.split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        if partial_last && i + 1 == segments.len() {
            break;
        }
        if segment.is_empty() {
            return Err("Segments separated by '/' must not be empty.".into());
        }
        if matches!(*segment, "." | "..") {
            return Err("Segments separated by '/' must not be '.' or '..'.".into());
        }
    }
    Ok(())
}

/// Lowercased room, or why it is refused.
pub fn validate_room(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.chars().count() > MAX_ROOM_LEN {
        return Err(format!(
            "Ensure this field has 1 to {MAX_ROOM_LEN} characters."
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err("Control characters are not allowed.".into());
    }
    Ok(raw.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("Witchers", false).unwrap(), "witchers");
        assert_eq!(validate_name("chat/*", true).unwrap(), "chat/*");
        assert!(validate_name("chat/*", false).is_err());
        assert!(validate_name("a b", false).is_err());
        assert!(validate_name("", false).is_err());
        assert!(validate_name(&"x".repeat(65), false).is_err());
        assert!(validate_name("chat/publish", false).is_err());
        assert!(validate_name("chat//x", false).is_err());
        assert!(validate_name("/x", false).is_err());
        assert!(validate_name("a.b-c_d/e", false).is_ok());
        for dotted in [
            "..",
            ".",
            "../../etc/passwd",
            "a/../b",
            "a/.",
            "./a",
            "a/../*",
        ] {
            assert!(validate_name(dotted, true).is_err(), "{dotted}");
        }
        assert!(validate_name("a..b/.c/d.", false).is_ok());
    }

    #[test]
    fn trigger_filters_follow_the_same_rules() {
        assert_eq!(validate_channel_filter(" * ").unwrap(), "*");
        assert_eq!(validate_channel_filter("Chat/*").unwrap(), "chat/*");
        assert_eq!(validate_channel_filter("chat/ro*").unwrap(), "chat/ro*");
        assert_eq!(validate_channel_filter("chat/.*").unwrap(), "chat/.*");
        assert!(validate_channel_filter("news").is_ok());
        for bad in ["", "**", "a//b*", "../x*", "a b", "a/./*", "a/../b"] {
            assert!(validate_channel_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_order() {
        assert!(Permission::None < Permission::Subscribe);
        assert!(Permission::Subscribe < Permission::Publish);
    }
}
