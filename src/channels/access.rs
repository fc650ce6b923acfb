//! Who is acting on a channel and what the channel lets them do.
//!
//! Two kinds of rule decide: a channel's own permissions (`group_permissions`,
//! `other_permissions`, token claims) and, for channels owned by a dialect (livechat rooms
//! and feeds), a [`Membership`] that knows who belongs where (visitor → its rooms, agent →
//! the rooms it serves, manager → all).

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
        /// Set for dashboard users (their livechat roles).
        staff: Option<Staff>,
        /// A dashboard user's id, email and name.
        profile: Option<Arc<Profile>>,
    },
    /// A livechat visitor (authenticated by its visitor token): only what a
    /// [`Membership`] grants it.
    Visitor(Arc<Profile>),
    /// No credentials: `other_permissions`.
    Anonymous(String),
}

/// How a person shows up to others (typing indicators, livechat messages).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub id: String,
    pub username: String,
    pub name: String,
}

/// A dashboard user's livechat standing (from its roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Staff {
    pub user_id: i64,
    pub agent: bool,
    pub manager: bool,
}

/// Who belongs to the channels a dialect owns. `None`: the name is not one of them and
/// the channel's own permissions apply.
pub trait Membership: Send + Sync {
    fn permission(&self, actor: &Actor, name: &str) -> Option<Permission>;

    /// The settings of a channel the dialect owns (its rooms and feeds exist without
    /// being created and do not show in the channel list); `None` for other names.
    fn channel(&self, _name: &str) -> Option<Arc<Channel>> {
        None
    }

    /// Runs before a join is checked. A node that mirrors another node's membership
    /// (a cluster edge) fetches what it does not know yet; `None`: nothing to fetch.
    fn refresh<'a>(
        &'a self,
        _actor: &'a Actor,
        _name: &'a str,
    ) -> Option<futures_util::future::BoxFuture<'a, ()>> {
        None
    }
}

impl Actor {
    pub fn from_caller(caller: &Caller, socket_id: &str) -> Actor {
        match &caller.principal {
            Principal::User(u) if u.has_role("admin") => Actor::Admin(Author::Admin(u.id)),
            Principal::User(u) => Actor::Member {
                author: Author::User(u.id.to_string()),
                claims: None,
                staff: Some(Staff {
                    user_id: u.id,
                    agent: u.has_role("agent"),
                    manager: u.has_role("manager"),
                }),
                profile: Some(Arc::new(Profile {
                    id: u.id.to_string(),
                    username: u.email.clone(),
                    name: u.name.clone(),
                })),
            },
            Principal::ApiKey(k) if k.role == "admin" => Actor::Admin(Author::ApiKey(k.id)),
            Principal::ApiKey(k) => Actor::PublishKey(k.id),
            Principal::Client(c) => Actor::Member {
                author: Author::User(c.sub.clone()),
                claims: Some(c.clone()),
                staff: None,
                profile: None,
            },
            Principal::Anonymous => Actor::Anonymous(socket_id.to_string()),
        }
    }

    /// What this actor may do on the concrete channel `name` (settings `channel`); a
    /// dialect's membership decides for the channels it owns.
    pub fn permission(
        &self,
        channel: &Channel,
        name: &str,
        membership: Option<&dyn Membership>,
    ) -> Permission {
        if let Some(p) = membership.and_then(|m| m.permission(self, name)) {
            return p;
        }
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
            Actor::Visitor(_) => Permission::None,
        }
    }

    /// The livechat standing of a dashboard user; admins count as managers.
    pub fn staff(&self) -> Option<Staff> {
        match self {
            Actor::Member { staff, .. } => *staff,
            _ => None,
        }
    }

    pub fn author(&self) -> Author {
        match self {
            Actor::Admin(a) => a.clone(),
            Actor::PublishKey(id) => Author::ApiKey(*id),
            Actor::Member { author, .. } => author.clone(),
            Actor::Anonymous(socket) => Author::Anonymous(socket.clone()),
            Actor::Visitor(v) => Author::Visitor(v.id.clone()),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Actor::Anonymous(_))
    }

    pub fn visitor(&self) -> Option<&Profile> {
        match self {
            Actor::Visitor(v) => Some(v),
            _ => None,
        }
    }

    /// `{_id, username, name}` and a role word, as typing indicators show a person.
    pub fn typing_identity(&self) -> (Value, &'static str) {
        match self {
            Actor::Visitor(p) => (
                json!({"_id": p.id, "username": p.username, "name": p.name}),
                "visitor",
            ),
            Actor::Member {
                profile: Some(p),
                staff,
                ..
            } => (
                json!({"_id": p.id, "username": p.username, "name": p.name}),
                if staff.is_some_and(|s| s.agent || s.manager) {
                    "agent"
                } else {
                    "user"
                },
            ),
            Actor::Admin(Author::Admin(id)) => (
                json!({"_id": id.to_string(), "username": Value::Null, "name": Value::Null}),
                "agent",
            ),
            other => (json!({"_id": other.row_id()}), "user"),
        }
    }

    fn row_id(&self) -> Value {
        match self.author() {
            Author::Admin(id) | Author::ApiKey(id) | Author::Trigger(id) => json!(id),
            Author::User(sub) | Author::Visitor(sub) | Author::Livechat(sub) => json!(sub),
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
