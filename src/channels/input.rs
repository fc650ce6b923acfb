//! Parsing channel create/update bodies into settings, with one `{"field": "reason"}`
//! error per problem (Syncano style). Unknown keys are ignored, so a GET body can be PUT back.

use serde_json::{Map, Value};

use super::model::{
    validate_name, Channel, ChannelType, HistoryPolicy, Permission, MAX_DESCRIPTION_LEN,
};
use super::ChannelError;

fn field(name: &str, reason: impl Into<String>) -> ChannelError {
    ChannelError::Field {
        field: name.to_string(),
        reason: reason.into(),
    }
}

fn bool_field(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ChannelError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(field(key, "Must be a valid boolean.")),
    }
}

fn permission_field(
    body: &Map<String, Value>,
    key: &str,
) -> Result<Option<Permission>, ChannelError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Permission::parse(s).map(Some).ok_or_else(|| {
            field(
                key,
                format!("\"{s}\" is not a valid choice (none, subscribe, publish)."),
            )
        }),
        Some(_) => Err(field(key, "Must be one of none, subscribe, publish.")),
    }
}

fn history_field(
    body: &Map<String, Value>,
    current: &HistoryPolicy,
) -> Result<HistoryPolicy, ChannelError> {
    let obj = match body.get("history") {
        None | Some(Value::Null) => return Ok(current.clone()),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(field(
                "history",
                "Must be an object {persist, max_messages, max_age_seconds}.",
            ))
        }
    };
    let mut policy = current.clone();
    for key in obj.keys() {
        if !matches!(key.as_str(), "persist" | "max_messages" | "max_age_seconds") {
            return Err(field("history", format!("Unknown key \"{key}\".")));
        }
    }
    if let Some(v) = obj.get("persist") {
        policy.persist = v
            .as_bool()
            .ok_or_else(|| field("history", "persist must be a boolean."))?;
    }
    if let Some(v) = obj.get("max_messages") {
        policy.max_messages = v
            .as_i64()
            .filter(|n| (1..=10_000_000).contains(n))
            .ok_or_else(|| {
                field(
                    "history",
                    "max_messages must be an integer from 1 to 10000000.",
                )
            })?;
    }
    match obj.get("max_age_seconds") {
        None => {}
        Some(Value::Null) => policy.max_age_seconds = None,
        Some(v) => {
            policy.max_age_seconds = Some(v.as_i64().filter(|n| *n >= 1).ok_or_else(|| {
                field(
                    "history",
                    "max_age_seconds must be a positive integer or null.",
                )
            })?)
        }
    }
    Ok(policy)
}

/// Applies the fields present in `body` onto `channel` (create starts from defaults).
fn apply(channel: &mut Channel, body: &Map<String, Value>) -> Result<(), ChannelError> {
    match body.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_LEN => {
            channel.description = s.clone()
        }
        Some(Value::String(_)) => {
            return Err(field(
                "description",
                format!("Ensure this field has no more than {MAX_DESCRIPTION_LEN} characters."),
            ))
        }
        Some(_) => return Err(field("description", "Not a valid string.")),
    }
    if let Some(b) = bool_field(body, "custom_publish")? {
        channel.custom_publish = b;
    }
    if let Some(b) = bool_field(body, "presence")? {
        channel.presence = b;
    }
    if let Some(b) = bool_field(body, "private_messaging")? {
        channel.private_messaging = b;
    }
    if let Some(p) = permission_field(body, "other_permissions")? {
        channel.other_permissions = p;
    }
    if let Some(p) = permission_field(body, "group_permissions")? {
        channel.group_permissions = p;
    }
    channel.history = history_field(body, &channel.history)?;
    Ok(())
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, ChannelError> {
    body.as_object()
        .ok_or_else(|| ChannelError::BadRequest("JSON parse error - expected an object".into()))
}

fn parse_type(body: &Map<String, Value>) -> Result<Option<ChannelType>, ChannelError> {
    match body.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => ChannelType::parse(s).map(Some).ok_or_else(|| {
            field(
                "type",
                format!("\"{s}\" is not a valid choice (default, separate_rooms)."),
            )
        }),
        Some(_) => Err(field("type", "Must be default or separate_rooms.")),
    }
}

pub fn new_channel(body: &Value, now: &str) -> Result<Channel, ChannelError> {
    let body = as_object(body)?;
    let name = match body.get("name") {
        Some(Value::String(s)) => validate_name(s, true).map_err(|r| field("name", r))?,
        None | Some(Value::Null) => return Err(field("name", "This field is required.")),
        Some(_) => return Err(field("name", "Not a valid string.")),
    };
    let mut channel = Channel {
        name,
        description: String::new(),
        channel_type: parse_type(body)?.unwrap_or(ChannelType::Default),
        custom_publish: true,
        other_permissions: Permission::None,
        group_permissions: Permission::Subscribe,
        presence: false,
        private_messaging: false,
        history: HistoryPolicy::default(),
        created_at: now.to_string(),
        updated_at: now.to_string(),
    };
    apply(&mut channel, body)?;
    Ok(channel)
}

/// PATCH/PUT: `type` and `name` are read-only after creation.
pub fn updated_channel(
    current: &Channel,
    body: &Value,
    now: &str,
) -> Result<Channel, ChannelError> {
    let body = as_object(body)?;
    if let Some(t) = parse_type(body)? {
        if t != current.channel_type {
            return Err(field(
                "type",
                "This field cannot be changed after creation.",
            ));
        }
    }
    if let Some(Value::String(n)) = body.get("name") {
        if !n.eq_ignore_ascii_case(&current.name) {
            return Err(field(
                "name",
                "This field cannot be changed after creation.",
            ));
        }
    }
    let mut channel = current.clone();
    apply(&mut channel, body)?;
    channel.updated_at = now.to_string();
    Ok(channel)
}
