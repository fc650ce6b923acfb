//! Who is acting on a channel and what the channel lets them do.

use std::sync::Arc;

use serde_json::{json, Value};

use super::message::Author;
use super::model::{Channel, Permission};
use crate::auth::jwt::ClientClaims;
use crate::auth::{Caller, Principal};
use crate::triggers::ClientContext;

/// The refusal every dialect words the same way (Syncano's).
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";

#[derive(Debug, Clone)]
pub enum Actor {
    /// Admin users and admin API keys: everything.
    Admin(Author),
    /// `publish` API keys: publish and read, on every channel.
    PublishKey(i64),
    /// Client-token holders (and non-admin dashboard users): `group_permissions`,
    /// limited to the token's `channels` claim.
    Member {
        author: Author,
        claims: Option<Arc<ClientClaims>>,
    },
    /// No credentials: `other_permissions`.
    Anonymous(String),
}

impl Actor {
    pub fn from_caller(caller: &Caller, socket_id: &str) -> Actor {
        match &caller.principal {
            Principal::User(u) if u.has_role("admin") => Actor::Admin(Author::Admin(u.id)),
            Principal::User(u) => Actor::Member {
                author: Author::User(u.id.to_string()),
                claims: None,
            },
            Principal::ApiKey(k) if k.role == "admin" => Actor::Admin(Author::ApiKey(k.id)),
            Principal::ApiKey(k) => Actor::PublishKey(k.id),
            Principal::Client(c) => Actor::Member {
                author: Author::User(c.sub.clone()),
                claims: Some(c.clone()),
            },
            Principal::Anonymous => Actor::Anonymous(socket_id.to_string()),
        }
    }

    pub fn permission(&self, channel: &Channel, name: &str) -> Permission {
        match self {
            Actor::Admin(_) | Actor::PublishKey(_) => Permission::Publish,
            Actor::Member { claims, .. } => {
                if claims.as_ref().is_none_or(|c| c.allows_channel(name)) {
                    channel.group_permissions
                } else {
                    Permission::None
                }
            }
            Actor::Anonymous(_) => channel.other_permissions,
        }
    }

    pub fn author(&self) -> Author {
        match self {
            Actor::Admin(a) => a.clone(),
            Actor::PublishKey(id) => Author::ApiKey(*id),
            Actor::Member { author, .. } => author.clone(),
            Actor::Anonymous(socket) => Author::Anonymous(socket.clone()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Actor::Anonymous(_))
    }

    fn row_id(&self) -> Value {
        match self.author() {
            Author::Admin(id) | Author::ApiKey(id) | Author::Trigger(id) => json!(id),
            Author::User(sub) => json!(sub),
            Author::Anonymous(_) => Value::Null,
        }
    }

    /// `{socketId, extras, permissions}` as Xano clients see each other.
    pub fn client_json(&self, socket_id: &str) -> Value {
        let extras = match self {
            Actor::Member {
                claims: Some(c), ..
            } => c.info.clone().unwrap_or_else(|| json!({})),
            _ => json!({}),
        };
        json!({
            "socketId": socket_id,
            "extras": extras,
            "permissions": {"dbo_id": Value::Null, "row_id": self.row_id()},
        })
    }

    /// What a trigger script sees as `client`.
    pub fn trigger_context(&self, socket_id: &str) -> ClientContext {
        let client = self.client_json(socket_id);
        ClientContext {
            socket_id: socket_id.to_string(),
            extras: client["extras"].clone(),
            permissions: client["permissions"].clone(),
            authenticated: !self.is_anonymous(),
        }
    }
}
