//! Routing: who gets a chat. With `Auto_Selection` (the default) a queued chat goes to the
//! online agent with the fewest open chats; with `Manual_Selection` it waits until an
//! agent takes it. Agents set their own status; going online pulls from the queue, going
//! offline puts their unanswered chats back. Decisions are made one at a time.

use std::sync::Arc;

use serde_json::json;

use super::model::{inquiry_json, room_json};
use super::{
    now_iso, AgentInfo, LivechatError, LivechatResult, LivechatService, AGENT_FEED_PREFIX,
    QUEUE_FEED, ROOMS_FEED, VISITOR_FEED_PREFIX,
};
use crate::store::livechat as rows;

pub const STATUSES: [&str; 3] = ["online", "away", "offline"];

/// Why a chat leaves an agent.
#[derive(Debug, Clone, Copy)]
pub enum Unassign {
    Offline,
    Removed,
}

impl LivechatService {
    /// Online agents with their open chat counts, fewest first (ties: lowest id).
    pub async fn online_agents(&self) -> LivechatResult<Vec<(i64, i64)>> {
        let (agents, load) = self
            .db
            .read(|c| {
                Ok((
                    rows::users_with_role(c, "agent")?,
                    rows::open_chats_by_agent(c)?,
                ))
            })
            .await?;
        let mut online: Vec<(i64, i64)> = agents
            .into_iter()
            .filter(|(_, status)| status == "online")
            .map(|(id, _)| {
                let open = load
                    .iter()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                (id, open)
            })
            .collect();
        online.sort_by_key(|(id, open)| (*open, *id));
        Ok(online)
    }

    pub async fn any_agent_online(&self) -> LivechatResult<bool> {
        Ok(!self.online_agents().await?.is_empty())
    }

    pub async fn agent_is_online(&self, agent: i64) -> LivechatResult<bool> {
        Ok(self
            .online_agents()
            .await?
            .iter()
            .any(|(id, _)| *id == agent))
    }

    /// The agent a new chat would go to now.
    pub async fn next_agent(&self) -> LivechatResult<Option<AgentInfo>> {
        match self.online_agents().await?.first() {
            Some((id, _)) => self.agent_info(*id).await,
            None => Ok(None),
        }
    }

    /// Routes one queued room (auto selection only).
    pub async fn route(self: &Arc<Self>, rid: &str) -> LivechatResult<()> {
        if self.settings.manual_routing() {
            return Ok(());
        }
        let _turn = self.routing.lock().await;
        let Some(room) = self.room(rid).await? else {
            return Ok(());
        };
        if room.status != "queued" {
            return Ok(());
        }
        if let Some((agent, _)) = self.online_agents().await?.first().copied() {
            self.assign_locked(rid, agent, None).await?;
        }
        Ok(())
    }

    /// Assigns every queued chat that an online agent can take (auto selection only).
    pub async fn process_queue(self: &Arc<Self>) -> LivechatResult<()> {
        if self.settings.manual_routing() {
            return Ok(());
        }
        let _turn = self.routing.lock().await;
        loop {
            let (queued, _) = self.db.read(|c| rows::inquiries(c, "queued", 0, 1)).await?;
            let Some(q) = queued.into_iter().next() else {
                return Ok(());
            };
            let Some((agent, _)) = self.online_agents().await?.first().copied() else {
                return Ok(());
            };
            self.assign_locked(&q.room_id, agent, None).await?;
        }
    }

    /// Gives a room to an agent (routing, a take, a transfer, a trigger's reserved agent).
    pub async fn assign(
        self: &Arc<Self>,
        rid: &str,
        agent: i64,
        transferred_by: Option<&AgentInfo>,
    ) -> LivechatResult<()> {
        let _turn = self.routing.lock().await;
        self.assign_locked(rid, agent, transferred_by).await
    }

    async fn assign_locked(
        &self,
        rid: &str,
        agent: i64,
        transferred_by: Option<&AgentInfo>,
    ) -> LivechatResult<()> {
        let info = self
            .agent_info(agent)
            .await?
            .ok_or(LivechatError::coded("error-invalid-agent", "Invalid agent"))?;
        let now = now_iso();
        let (room, (previous, inquiry)) = self
            .mutate_room(rid, move |c, r| {
                if r.status == "closed" {
                    return Err(LivechatError::coded(
                        "error-room-already-closed",
                        "This conversation is already closed",
                    ));
                }
                let previous = r.agent_id.filter(|a| *a != agent);
                r.status = "open".into();
                r.agent_id = Some(agent);
                r.served_at = Some(now.clone());
                r.reserved_agent_id = None;
                if previous.is_some() {
                    r.agent_replied = false;
                }
                let mut q = rows::inquiry_of_room(c, &r.id)?;
                if let Some(q) = q.as_mut() {
                    q.status = "taken".into();
                    q.taken_at = Some(now.clone());
                    q.agent_id = Some(agent);
                    q.updated_at = now;
                    rows::put_inquiry(c, q)?;
                }
                Ok((previous, q))
            })
            .await?;
        self.index.add_agent(rid, agent);
        let visitor = self.visitor_of_room(&room).await?;
        let value = room_json(&room, &visitor, Some(&info), None);
        if let Some(q) = inquiry {
            self.announce(
                QUEUE_FEED.into(),
                json!({"type": "inquiry-taken", "inquiry": inquiry_json(&q, &visitor), "agent": info.short()}),
            )
            .await;
        }
        if let Some(prev) = previous {
            self.announce(
                format!("{AGENT_FEED_PREFIX}{prev}"),
                json!({"type": "room-unassigned", "room": value, "reason": "transfer"}),
            )
            .await;
        }
        self.announce(
            format!("{AGENT_FEED_PREFIX}{agent}"),
            json!({"type": "room-assigned", "room": value}),
        )
        .await;
        let kind = if previous.is_some() {
            "room-transferred"
        } else {
            "agent-assigned"
        };
        self.announce(
            format!("{VISITOR_FEED_PREFIX}{}", visitor.id),
            json!({"type": kind, "room": value, "agent": info.short()}),
        )
        .await;
        self.announce(
            ROOMS_FEED.into(),
            json!({"type": "room-assigned", "room": value}),
        )
        .await;
        match transferred_by {
            Some(by) => {
                let text = format!("{} transferred the chat to {}", by.name, info.name);
                self.system_message(rid, "livechat_transfer_history", &text, by.short())
                    .await
            }
            None => {
                self.system_message(rid, "uj", &info.username, info.short())
                    .await
            }
        }
        Ok(())
    }

    /// Puts a room back in the queue (its agent went offline or was removed).
    async fn requeue(&self, rid: &str, reason: Unassign) -> LivechatResult<()> {
        let now = now_iso();
        let (room, (prev, q)) = self
            .mutate_room(rid, move |c, r| {
                let prev = r.agent_id.take();
                r.status = "queued".into();
                r.served_at = None;
                let mut q = rows::inquiry_of_room(c, &r.id)?
                    .unwrap_or_else(|| super::rooms::new_inquiry(&r.id, "", &now));
                q.status = "queued".into();
                q.agent_id = None;
                q.taken_at = None;
                q.queued_at = now.clone();
                q.updated_at = now;
                rows::put_inquiry(c, &q)?;
                Ok((prev, q))
            })
            .await?;
        let visitor = self.visitor_of_room(&room).await?;
        let value = room_json(&room, &visitor, None, None);
        let reason = match reason {
            Unassign::Offline => "offline",
            Unassign::Removed => "removed",
        };
        if let Some(prev) = prev {
            self.announce(
                format!("{AGENT_FEED_PREFIX}{prev}"),
                json!({"type": "room-unassigned", "room": value, "reason": reason}),
            )
            .await;
        }
        self.announce(
            QUEUE_FEED.into(),
            json!({"type": "inquiry-queued", "inquiry": inquiry_json(&q, &visitor)}),
        )
        .await;
        self.announce(
            ROOMS_FEED.into(),
            json!({"type": "room-queued", "room": value}),
        )
        .await;
        Ok(())
    }

    pub async fn agent_status(&self, agent: i64) -> LivechatResult<String> {
        Ok(self
            .db
            .read(move |c| rows::agent_status(c, agent))
            .await?
            .unwrap_or_else(|| "offline".into()))
    }

    /// Sets an agent's status. Online: the queue is processed. Offline: its open chats
    /// that it never answered go back to the queue (and to other agents).
    pub async fn set_agent_status(
        self: &Arc<Self>,
        agent: i64,
        status: &str,
    ) -> LivechatResult<()> {
        let s = status.to_string();
        let now = now_iso();
        self.db
            .write(move |c| rows::set_agent_status(c, agent, &s, &now))
            .await?;
        self.announce(
            format!("{AGENT_FEED_PREFIX}{agent}"),
            json!({"type": "status", "status": status}),
        )
        .await;
        match status {
            "online" => self.process_queue().await?,
            "offline" => {
                self.release_unanswered(agent, Unassign::Offline).await?;
                self.process_queue().await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// An agent's inbox subscribed to its feed: it is present.
    pub fn agent_connected(&self, agent: i64) {
        let mut conns = self.agent_conns.lock();
        let entry = conns.entry(agent).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += 1;
    }

    /// An agent's inbox went away. When the last one is gone for
    /// `Livechat_agent_offline_after_disconnect_seconds` (0: never), an online agent is
    /// set offline, which puts its unanswered chats back in the queue.
    pub fn agent_disconnected(self: &Arc<Self>, agent: i64) {
        let generation = {
            let mut conns = self.agent_conns.lock();
            let entry = conns.entry(agent).or_insert((0, 0));
            entry.0 = entry.0.saturating_sub(1);
            entry.1 += 1;
            if entry.0 > 0 {
                return;
            }
            entry.1
        };
        let grace = self
            .settings
            .int("Livechat_agent_offline_after_disconnect_seconds");
        if grace <= 0 {
            return;
        }
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(grace as u64)).await;
            let Some(svc) = svc.upgrade() else { return };
            let still_gone = svc
                .agent_conns
                .lock()
                .get(&agent)
                .is_some_and(|(n, g)| *n == 0 && *g == generation);
            if !still_gone {
                return;
            }
            match svc.agent_status(agent).await {
                Ok(s) if s == "online" => {
                    tracing::info!(agent, "agent disconnected: set offline");
                    if let Err(e) = svc.set_agent_status(agent, "offline").await {
                        tracing::warn!(agent, error = %e, "could not set a disconnected agent offline");
                    }
                }
                _ => {}
            }
        });
    }

    /// Requeues the agent's open chats (only the unanswered ones unless `all`).
    pub async fn release_unanswered(&self, agent: i64, reason: Unassign) -> LivechatResult<()> {
        let _turn = self.routing.lock().await;
        let rooms = self
            .db
            .read(move |c| rows::open_rooms_of_agent(c, agent))
            .await?;
        for r in rooms {
            if matches!(reason, Unassign::Removed) || !r.agent_replied {
                self.requeue(&r.id, reason).await?;
            }
        }
        Ok(())
    }
}
