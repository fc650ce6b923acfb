//! Livechat sockets on an edge. Livechat runs once, on the primary: an edge sends it the
//! visitor tokens its `/ws` sees, the livechat frames (`visitor_event`,
//! `livechat_message`) and which agents have their inbox open here; who may join a room
//! is the primary's room index, mirrored here room by room as sockets ask for them.
//!
//! The primary's half, [`EdgeInboxes`], turns the edges' inbox reports into the agent
//! connects and disconnects its routing counts, and forgets an edge that stops reporting.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;

use super::upstream::{PrimaryClient, UNREACHABLE};
use super::wire::{
    FrameCall, FrameReply, InboxReport, RoomCall, RoomReply, VisitorCall, VisitorReply,
};
use crate::channels::model::{Channel, Permission};
use crate::channels::{Actor, ChannelError, ChannelService, Membership};
use crate::livechat::membership::RoomIndex;
use crate::livechat::visitors::own_feed;
use crate::livechat::{LivechatService, ROOM_PREFIX};
use crate::realtime::dialect::DialectFuture;
use crate::realtime::protocol::ErrorCode;
use crate::realtime::{AuthRefusal, SessionDialect};

/// Rooms mirrored at most; past it the mirror starts over (rooms are fetched again as
/// sockets join them).
const MIRROR_MAX_ROOMS: usize = 100_000;
/// How often an edge repeats its inbox report when nothing changed.
pub const INBOX_REPORT_INTERVAL: Duration = Duration::from_secs(3);
/// An edge whose last inbox report is older than this is gone: its agents' inboxes close.
pub const INBOX_REPORT_TTL: Duration = Duration::from_secs(10);

/// The edge's livechat: membership and session frames answered by the primary.
pub struct EdgeLivechat {
    client: Arc<PrimaryClient>,
    rooms: RoomIndex,
    inbox: Mutex<Inboxes>,
    inbox_changed: tokio::sync::Notify,
}

impl EdgeLivechat {
    pub fn new(client: Arc<PrimaryClient>) -> Arc<EdgeLivechat> {
        Arc::new(EdgeLivechat {
            client,
            rooms: RoomIndex::default(),
            inbox: Mutex::new(HashMap::new()),
            inbox_changed: tokio::sync::Notify::new(),
        })
    }

    /// Installs this in the channel service (before the local livechat service could)
    /// and starts the inbox reports.
    pub fn install(self: &Arc<Self>, svc: &ChannelService) {
        svc.install_membership(self.clone());
        svc.install_session_dialect(self.clone());
        actix_web::rt::spawn(self.clone().report_inboxes());
    }

    /// Sends the whole inbox map on every change (merged while a report is in flight)
    /// and every [`INBOX_REPORT_INTERVAL`].
    async fn report_inboxes(self: Arc<Self>) {
        loop {
            let report = InboxReport {
                agents: self.inbox.lock().clone(),
            };
            if let Err(e) = self
                .client
                .call::<_, Value>("livechat/inbox", Some(&report))
                .await
            {
                tracing::debug!(error = %e, "inbox report not delivered; repeating");
            }
            tokio::select! {
                _ = self.inbox_changed.notified() => {}
                _ = tokio::time::sleep(INBOX_REPORT_INTERVAL) => {}
            }
        }
    }

    fn inbox_delta(&self, agent: i64, opened: bool) {
        {
            let mut inbox = self.inbox.lock();
            let n = inbox.entry(agent).or_insert(0);
            if opened {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    inbox.remove(&agent);
                }
            }
        }
        self.inbox_changed.notify_one();
    }

    async fn fetch_room(&self, rid: &str) {
        let call = RoomCall {
            rid: rid.to_string(),
        };
        match self
            .client
            .call::<_, RoomReply>("livechat/room", Some(&call))
            .await
        {
            Ok(RoomReply {
                visitor_id: Some(visitor),
                agents,
            }) => {
                if self.rooms.room_count() >= MIRROR_MAX_ROOMS {
                    self.rooms.clear();
                }
                self.rooms.set_room(rid, visitor, agents);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, rid, "room lookup on the primary failed"),
        }
    }
}

impl Membership for EdgeLivechat {
    fn permission(&self, actor: &Actor, name: &str) -> Option<Permission> {
        self.rooms.permission(actor, name)
    }

    fn channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.rooms.channel(name)
    }

    /// A room this mirror does not grant yet is asked for: it may be new, or have a new
    /// agent. Grants only grow (a room is removed only when its visitor is erased, and
    /// then the visitor's token is gone too), so a mirrored grant is never too wide.
    fn refresh<'a>(&'a self, actor: &'a Actor, name: &'a str) -> Option<BoxFuture<'a, ()>> {
        let rid = name.strip_prefix(ROOM_PREFIX)?;
        let interested = actor.visitor().is_some() || actor.staff().is_some();
        if rid.is_empty() || !interested || self.permission(actor, name) != Some(Permission::None) {
            return None;
        }
        Some(Box::pin(self.fetch_room(rid)))
    }
}

impl SessionDialect for EdgeLivechat {
    fn visitor(&self, token: String) -> DialectFuture<Result<Actor, AuthRefusal>> {
        let client = self.client.clone();
        Box::pin(async move {
            let reply = client
                .call::<_, VisitorReply>("livechat/visitor", Some(&VisitorCall { token }))
                .await;
            match reply {
                Ok(VisitorReply {
                    visitor: Some(profile),
                    ..
                }) => Ok(Actor::Visitor(Arc::new(profile))),
                Ok(VisitorReply { error, .. }) => Err(AuthRefusal::denied(
                    error.unwrap_or_else(|| "invalid-token".into()),
                )),
                Err(ChannelError::Forbidden(_)) => Err(AuthRefusal::unavailable(
                    "this node is not admitted by the primary",
                )),
                Err(_) => Err(AuthRefusal::unavailable(UNREACHABLE)),
            }
        })
    }

    fn frame(
        &self,
        actor: &Actor,
        action: &str,
        payload: Value,
    ) -> Option<DialectFuture<Result<Value, (ErrorCode, String)>>> {
        if !matches!(action, "visitor_event" | "livechat_message") {
            return None;
        }
        let client = self.client.clone();
        let call = FrameCall {
            actor: actor.into(),
            action: action.to_string(),
            payload,
        };
        Some(Box::pin(async move {
            match client
                .call::<_, FrameReply>("livechat/frame", Some(&call))
                .await
            {
                Ok(FrameReply::Ok { ack }) => Ok(ack),
                Ok(FrameReply::Error { code, message }) => Err((code, message)),
                Ok(FrameReply::Unknown) => Err((
                    ErrorCode::BadRequest,
                    format!("unknown action {}", call.action),
                )),
                Err(_) => Err((ErrorCode::Internal, UNREACHABLE.to_string())),
            }
        }))
    }

    fn joined(&self, actor: &Actor, channel: &str) {
        if let Some(agent) = own_feed(actor, channel) {
            self.inbox_delta(agent, true);
        }
    }

    fn left(&self, actor: &Actor, channel: &str) {
        if let Some(agent) = own_feed(actor, channel) {
            self.inbox_delta(agent, false);
        }
    }
}

/// Agent → sockets on the agent's own feed.
type Inboxes = HashMap<i64, u32>;

/// One edge's last inbox report.
struct EdgeReport {
    at: Instant,
    agents: Inboxes,
}

/// The primary's view of the agents' inboxes open on edges.
#[derive(Default)]
pub struct EdgeInboxes {
    edges: Mutex<HashMap<String, EdgeReport>>,
}

impl EdgeInboxes {
    /// Takes an edge's whole inbox map; the difference to its last one becomes agent
    /// connects and disconnects in livechat's routing.
    pub fn report(&self, livechat: &Arc<LivechatService>, node: &str, agents: Inboxes) {
        let report = EdgeReport {
            at: Instant::now(),
            agents: agents.clone(),
        };
        let before = self
            .edges
            .lock()
            .insert(node.to_string(), report)
            .map(|r| r.agents)
            .unwrap_or_default();
        apply(livechat, &before, &agents);
    }

    /// Closes the inboxes of edges that stopped reporting (killed, or cut off).
    pub fn expire(&self, livechat: &Arc<LivechatService>) {
        let gone: Vec<(String, Inboxes)> = {
            let mut edges = self.edges.lock();
            let stale: Vec<String> = edges
                .iter()
                .filter(|(_, r)| r.at.elapsed() > INBOX_REPORT_TTL)
                .map(|(node, _)| node.clone())
                .collect();
            stale
                .into_iter()
                .filter_map(|node| edges.remove(&node).map(|r| (node, r.agents)))
                .collect()
        };
        for (node, agents) in gone {
            tracing::warn!(
                node,
                agents = agents.len(),
                "edge stopped reporting; its agents' inboxes are closed"
            );
            apply(livechat, &agents, &HashMap::new());
        }
    }

    /// Runs [`EdgeInboxes::expire`] until the runtime stops.
    pub fn spawn_expiry(self: &Arc<Self>, livechat: Arc<LivechatService>) {
        let me = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(INBOX_REPORT_INTERVAL);
            loop {
                tick.tick().await;
                me.expire(&livechat);
            }
        });
    }
}

fn apply(livechat: &Arc<LivechatService>, before: &Inboxes, after: &Inboxes) {
    let count = |m: &Inboxes, a: &i64| m.get(a).copied().unwrap_or(0);
    let agents: HashSet<i64> = before.keys().chain(after.keys()).copied().collect();
    for agent in agents {
        let (was, now) = (count(before, &agent), count(after, &agent));
        for _ in now..was {
            livechat.agent_disconnected(agent);
        }
        for _ in was..now {
            livechat.agent_connected(agent);
        }
    }
}
