//! Who belongs to livechat's channels, from an in-memory index of every room (visitor,
//! serving agent): a visitor joins its own rooms and feed, an agent the rooms it serves
//! (and served), its own feed and the queue; managers and admins everything.

use std::collections::HashMap;

use parking_lot::RwLock;

use super::{AGENT_FEED_PREFIX, QUEUE_FEED, ROOMS_FEED, ROOM_PREFIX, VISITOR_FEED_PREFIX};
use std::sync::Arc;

use crate::channels::model::{Channel, ChannelType, HistoryPolicy, Permission};
use crate::channels::{Actor, Membership};
use crate::store::Db;
use crate::store::StoreError;

#[derive(Debug, Clone)]
struct RoomAccess {
    visitor_id: String,
    /// Every agent that served the room keeps reading it.
    agents: Vec<i64>,
}

pub struct RoomIndex {
    rooms: RwLock<HashMap<String, RoomAccess>>,
    /// The settings of livechat's channels: (name prefix or exact name, settings).
    channels: Vec<(&'static str, bool, Arc<Channel>)>,
}

/// Livechat's channels: no raw client publishes (messages go through the livechat API),
/// no anonymous or token access (membership decides), persisted history.
fn owned(name: &str, max_messages: i64) -> Arc<Channel> {
    Arc::new(Channel {
        name: name.to_string(),
        description: "livechat (managed by rtbox)".into(),
        channel_type: ChannelType::Default,
        custom_publish: false,
        other_permissions: Permission::None,
        group_permissions: Permission::None,
        presence: false,
        private_messaging: false,
        history: HistoryPolicy {
            persist: true,
            max_messages,
            max_age_seconds: None,
        },
        created_at: String::new(),
        updated_at: String::new(),
    })
}

impl Default for RoomIndex {
    fn default() -> RoomIndex {
        RoomIndex {
            rooms: RwLock::new(HashMap::new()),
            channels: vec![
                (ROOM_PREFIX, true, owned("livechat/*", 10_000)),
                (VISITOR_FEED_PREFIX, true, owned("livechat-visitor/*", 200)),
                (AGENT_FEED_PREFIX, true, owned("livechat-agent/*", 1_000)),
                (QUEUE_FEED, false, owned(QUEUE_FEED, 1_000)),
                (ROOMS_FEED, false, owned(ROOMS_FEED, 5_000)),
            ],
        }
    }
}

impl RoomIndex {
    pub async fn load(db: &Db) -> Result<RoomIndex, StoreError> {
        let rows = db.read(crate::store::livechat::room_index).await?;
        let index = RoomIndex::default();
        {
            let mut rooms = index.rooms.write();
            for (id, visitor_id, agent, _status) in rows {
                rooms.insert(
                    id,
                    RoomAccess {
                        visitor_id,
                        agents: agent.into_iter().collect(),
                    },
                );
            }
        }
        Ok(index)
    }

    pub fn add_room(&self, rid: &str, visitor_id: &str) {
        self.rooms.write().insert(
            rid.to_string(),
            RoomAccess {
                visitor_id: visitor_id.to_string(),
                agents: Vec::new(),
            },
        );
    }

    pub fn add_agent(&self, rid: &str, agent: i64) {
        if let Some(r) = self.rooms.write().get_mut(rid) {
            if !r.agents.contains(&agent) {
                r.agents.push(agent);
            }
        }
    }

    pub fn remove_room(&self, rid: &str) {
        self.rooms.write().remove(rid);
    }

    /// Who may use a room: its visitor and every agent that served it.
    pub fn access(&self, rid: &str) -> Option<(String, Vec<i64>)> {
        self.rooms
            .read()
            .get(rid)
            .map(|r| (r.visitor_id.clone(), r.agents.clone()))
    }

    /// Puts a room as another node knows it (a mirror of the primary's index).
    pub fn set_room(&self, rid: &str, visitor_id: String, agents: Vec<i64>) {
        self.rooms
            .write()
            .insert(rid.to_string(), RoomAccess { visitor_id, agents });
    }

    pub fn room_count(&self) -> usize {
        self.rooms.read().len()
    }

    /// Forgets every room (a mirror past its size bound refetches on demand).
    pub fn clear(&self) {
        self.rooms.write().clear();
    }

    pub fn visitor_of(&self, rid: &str) -> Option<String> {
        self.rooms.read().get(rid).map(|r| r.visitor_id.clone())
    }

    fn room_permission(&self, actor: &Actor, rid: &str) -> Permission {
        let rooms = self.rooms.read();
        let Some(room) = rooms.get(rid) else {
            return Permission::None;
        };
        match actor {
            Actor::Visitor(v) if v.id == room.visitor_id => Permission::Publish,
            Actor::Member { staff: Some(s), .. }
                if s.manager || (s.agent && room.agents.contains(&s.user_id)) =>
            {
                Permission::Publish
            }
            _ => Permission::None,
        }
    }
}

impl Membership for RoomIndex {
    fn channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.channels
            .iter()
            .find(|(key, prefix, _)| {
                if *prefix {
                    name.len() > key.len() && name.starts_with(key)
                } else {
                    name == *key
                }
            })
            .map(|(_, _, c)| c.clone())
    }

    fn permission(&self, actor: &Actor, name: &str) -> Option<Permission> {
        // Admins and admin keys keep their access everywhere; publish keys (backends)
        // read and publish server-side as on every channel.
        if matches!(actor, Actor::Admin(_) | Actor::PublishKey(_)) {
            return None;
        }
        let staff = actor.staff();
        let manager = staff.is_some_and(|s| s.manager);
        let agent = staff.is_some_and(|s| s.agent || s.manager);
        if let Some(rid) = name.strip_prefix(ROOM_PREFIX) {
            return Some(self.room_permission(actor, rid));
        }
        if let Some(vid) = name.strip_prefix(VISITOR_FEED_PREFIX) {
            let own = actor.visitor().is_some_and(|v| v.id == vid);
            return Some(if own || manager {
                Permission::Subscribe
            } else {
                Permission::None
            });
        }
        if let Some(uid) = name.strip_prefix(AGENT_FEED_PREFIX) {
            let own = staff.is_some_and(|s| (s.agent || s.manager) && s.user_id.to_string() == uid);
            return Some(if own || manager {
                Permission::Subscribe
            } else {
                Permission::None
            });
        }
        if name == QUEUE_FEED {
            return Some(if agent {
                Permission::Subscribe
            } else {
                Permission::None
            });
        }
        if name == ROOMS_FEED {
            return Some(if manager {
                Permission::Subscribe
            } else {
                Permission::None
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::message::Author;
    use crate::channels::{Profile, Staff};

    fn visitor(id: &str) -> Actor {
        Actor::Visitor(Arc::new(Profile {
            id: id.into(),
            username: "guest-1".into(),
            name: "Guest".into(),
        }))
    }

    fn staff(user_id: i64, agent: bool, manager: bool) -> Actor {
        Actor::Member {
            author: Author::User(user_id.to_string()),
            claims: None,
            staff: Some(Staff {
                user_id,
                agent,
                manager,
            }),
            profile: None,
        }
    }

    #[test]
    fn visitors_agents_and_managers_get_what_they_belong_to() {
        let index = RoomIndex::default();
        index.add_room("r1", "v1");
        index.add_agent("r1", 7);
        let p = |a: &Actor, name: &str| index.permission(a, name);
        assert_eq!(p(&visitor("v1"), "livechat/r1"), Some(Permission::Publish));
        assert_eq!(p(&visitor("v2"), "livechat/r1"), Some(Permission::None));
        assert_eq!(
            p(&visitor("v1"), "livechat/unknown"),
            Some(Permission::None)
        );
        assert_eq!(
            p(&visitor("v1"), "livechat-visitor/v1"),
            Some(Permission::Subscribe)
        );
        assert_eq!(
            p(&visitor("v1"), "livechat-visitor/v2"),
            Some(Permission::None)
        );
        assert_eq!(p(&visitor("v1"), "livechat-queue"), Some(Permission::None));
        assert_eq!(
            p(&staff(7, true, false), "livechat/r1"),
            Some(Permission::Publish)
        );
        assert_eq!(
            p(&staff(8, true, false), "livechat/r1"),
            Some(Permission::None)
        );
        assert_eq!(
            p(&staff(8, true, false), "livechat-queue"),
            Some(Permission::Subscribe)
        );
        assert_eq!(
            p(&staff(8, true, false), "livechat-agent/8"),
            Some(Permission::Subscribe)
        );
        assert_eq!(
            p(&staff(8, true, false), "livechat-agent/7"),
            Some(Permission::None)
        );
        assert_eq!(
            p(&staff(8, true, false), "livechat-rooms"),
            Some(Permission::None)
        );
        assert_eq!(
            p(&staff(9, false, true), "livechat/r1"),
            Some(Permission::Publish)
        );
        assert_eq!(
            p(&staff(9, false, true), "livechat-rooms"),
            Some(Permission::Subscribe)
        );
        assert_eq!(
            p(&staff(10, false, false), "livechat-queue"),
            Some(Permission::None)
        );
        assert_eq!(
            p(&Actor::Anonymous("s".into()), "livechat/r1"),
            Some(Permission::None)
        );
        assert_eq!(p(&Actor::Admin(Author::Admin(1)), "livechat/r1"), None);
        // Names livechat does not own are left to the channel's own permissions.
        assert_eq!(p(&visitor("v1"), "chat/42"), None);
        assert_eq!(p(&visitor("v1"), "livechatx"), None);
        index.remove_room("r1");
        assert_eq!(p(&visitor("v1"), "livechat/r1"), Some(Permission::None));
    }

    #[test]
    fn livechat_channels_are_built_in() {
        let index = RoomIndex::default();
        let room = index.channel("livechat/abc").unwrap();
        assert!(!room.custom_publish);
        assert_eq!(room.other_permissions, Permission::None);
        assert!(index.channel("livechat/").is_none());
        assert!(index.channel("livechat-queue").is_some());
        assert!(index.channel("livechat-queue/x").is_none());
        assert!(index.channel("other").is_none());
    }
}
