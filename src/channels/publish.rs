//! The publish pipeline, shared by REST publish, WebSocket `message` frames, Realtime
//! Events and trigger effects: checks → triggers (only if the channel has any) →
//! writer (group commit assigns the id, durable before the reply) → fan-out stage (off
//! the writer thread, in commit order) → hub.

use std::sync::Arc;

use serde_json::value::RawValue;

use super::access::Actor;
use super::message::{Author, Kind, Message};
use super::model::Permission;
use super::{ChannelError, ChannelService, Target};
use crate::store::{self, messages};
use crate::triggers::{Effect, TriggerAction, TriggerInput, TriggerOutcome};

/// Who is publishing, which decides the checks that apply.
pub enum Origin {
    /// A client (REST caller or WebSocket): needs publish permission and
    /// `custom_publish`; runs the channel's message triggers.
    Client {
        actor: Actor,
        socket_id: String,
        /// `{socketId, extras, permissions}` shown to receivers (WebSocket senders).
        client: Option<Arc<RawValue>>,
    },
    /// Server side (Realtime Events by admins/publish keys, trigger effects): no
    /// permission checks, no triggers.
    Server(Author),
    /// A client whose message a dialect router has validated (a livechat visitor or agent
    /// writing to its room): needs publish permission and runs the channel's message
    /// triggers, but not `custom_publish` (which keeps raw frames out of such channels).
    Dialect(Actor),
}

pub struct PublishRequest {
    pub channel: String,
    pub room: Option<String>,
    pub payload: Box<RawValue>,
    pub kind: Kind,
    pub origin: Origin,
}

pub struct Published {
    pub message: Arc<Message>,
    pub persisted: bool,
}

impl ChannelService {
    pub async fn publish(&self, req: PublishRequest) -> Result<Published, ChannelError> {
        if req.payload.get().len() > self.settings.max_payload_bytes {
            return Err(ChannelError::TooLarge(self.settings.max_payload_bytes));
        }
        if let Some(up) = self.upstream() {
            // The owner of the database checks (the payload too), runs triggers and commits.
            return up.publish(req).await;
        }
        if let Err(why) = super::message::check_payload(&req.payload) {
            return Err(ChannelError::field(
                "payload",
                format!("Invalid JSON: {why}."),
            ));
        }
        let (target, author, client, payload, effects) = match req.origin {
            Origin::Client {
                actor,
                socket_id,
                client,
            } => {
                let target = self.target(
                    &actor,
                    &req.channel,
                    req.room.as_deref(),
                    Permission::Publish,
                )?;
                if !target.channel.custom_publish {
                    return Err(ChannelError::CustomPublishDisabled);
                }
                let (payload, effects) = self
                    .run_message_triggers(&target, &actor, &socket_id, req.payload)
                    .await?;
                (target, actor.author(), client, payload, effects)
            }
            Origin::Dialect(actor) => {
                let target = self.target(
                    &actor,
                    &req.channel,
                    req.room.as_deref(),
                    Permission::Publish,
                )?;
                let (payload, effects) = self
                    .run_message_triggers(&target, &actor, "", req.payload)
                    .await?;
                (target, actor.author(), None, payload, effects)
            }
            Origin::Server(author) => {
                let target = self.target(
                    &Actor::Admin(author.clone()),
                    &req.channel,
                    req.room.as_deref(),
                    Permission::Publish,
                )?;
                (target, author, None, req.payload, Vec::new())
            }
        };
        if payload.get().len() > self.settings.max_payload_bytes {
            return Err(ChannelError::TooLarge(self.settings.max_payload_bytes));
        }
        let published = self
            .commit(&target, author, client, payload, req.kind)
            .await?;
        self.carry_out(effects).await;
        Ok(published)
    }

    /// Runs the channel's active message triggers, if any; returns the payload to store
    /// and the effects to carry out after it is stored.
    async fn run_message_triggers(
        &self,
        target: &Target,
        actor: &Actor,
        socket_id: &str,
        payload: Box<RawValue>,
    ) -> Result<(Box<RawValue>, Vec<Effect>), ChannelError> {
        if !self
            .triggers
            .has_active(&target.name, TriggerAction::Message)
        {
            return Ok((payload, Vec::new()));
        }
        let value: serde_json::Value = serde_json::from_str(payload.get())
            .map_err(|e| ChannelError::BadRequest(format!("JSON parse error - {e}")))?;
        let outcome = self
            .triggers
            .run(TriggerInput {
                action: TriggerAction::Message,
                channel: target.name.clone(),
                room: target.room.clone(),
                payload: value,
                client: actor.trigger_context(socket_id),
            })
            .await;
        match outcome {
            TriggerOutcome::Pass { payload, effects } => {
                let raw = serde_json::value::to_raw_value(&payload).map_err(|e| {
                    ChannelError::TriggerError(format!("trigger output is not JSON: {e}"))
                })?;
                Ok((raw, effects))
            }
            TriggerOutcome::Rejected { reason, effects } => {
                self.carry_out(effects).await;
                Err(ChannelError::Rejected(reason))
            }
            TriggerOutcome::Failed { error } => Err(ChannelError::TriggerError(error)),
        }
    }

    /// Runs join (refusable) triggers for a subscriber.
    pub async fn run_join_triggers(
        &self,
        target: &Target,
        actor: &Actor,
        socket_id: &str,
        payload: serde_json::Value,
    ) -> Result<(), ChannelError> {
        if let Some(up) = self.upstream() {
            if !up.has_triggers(&target.name, TriggerAction::Join) {
                return Ok(());
            }
            return up.join(target, actor, socket_id, payload).await;
        }
        if !self.triggers.has_active(&target.name, TriggerAction::Join) {
            return Ok(());
        }
        let outcome = self
            .triggers
            .run(TriggerInput {
                action: TriggerAction::Join,
                channel: target.name.clone(),
                room: target.room.clone(),
                payload,
                client: actor.trigger_context(socket_id),
            })
            .await;
        match outcome {
            TriggerOutcome::Pass { effects, .. } => {
                self.carry_out(effects).await;
                Ok(())
            }
            TriggerOutcome::Rejected { reason, effects } => {
                self.carry_out(effects).await;
                Err(ChannelError::Rejected(reason))
            }
            TriggerOutcome::Failed { error } => Err(ChannelError::TriggerError(error)),
        }
    }

    /// Runs leave triggers (they cannot refuse anything) after a client left.
    pub async fn run_leave_triggers(&self, target: &Target, actor: &Actor, socket_id: &str) {
        if let Some(up) = self.upstream() {
            if up.has_triggers(&target.name, TriggerAction::Leave) {
                up.leave(target, actor, socket_id).await;
            }
            return;
        }
        if !self.triggers.has_active(&target.name, TriggerAction::Leave) {
            return;
        }
        let outcome = self
            .triggers
            .run(TriggerInput {
                action: TriggerAction::Leave,
                channel: target.name.clone(),
                room: target.room.clone(),
                payload: serde_json::Value::Null,
                client: actor.trigger_context(socket_id),
            })
            .await;
        match outcome {
            TriggerOutcome::Pass { effects, .. } | TriggerOutcome::Rejected { effects, .. } => {
                self.carry_out(effects).await
            }
            TriggerOutcome::Failed { error } => {
                tracing::warn!(channel = %target.name, %error, "leave trigger failed")
            }
        }
    }

    /// Server-side publishes asked for by triggers; they do not run triggers again.
    async fn carry_out(&self, effects: Vec<Effect>) {
        for effect in effects {
            let (channel, room, payload, kind, trigger_id) = match effect {
                Effect::Publish {
                    trigger_id,
                    channel,
                    room,
                    payload,
                } => (channel, room, payload, Kind::Message, trigger_id),
                Effect::Event {
                    trigger_id,
                    channel,
                    data,
                } => (channel, None, data, Kind::Event, trigger_id),
            };
            let raw = match serde_json::value::to_raw_value(&payload) {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "trigger effect payload is not JSON");
                    continue;
                }
            };
            let result = Box::pin(self.publish(PublishRequest {
                channel: channel.clone(),
                room,
                payload: raw,
                kind,
                origin: Origin::Server(Author::Trigger(trigger_id)),
            }))
            .await;
            if let Err(e) = result {
                tracing::warn!(%channel, trigger_id, error = %e, "trigger publish failed");
            }
        }
    }

    /// Assigns the id and stores (when persisted), then hands the message to the fan-out
    /// stage in id order.
    async fn commit(
        &self,
        target: &Target,
        author: Author,
        client: Option<Arc<RawValue>>,
        payload: Box<RawValue>,
        kind: Kind,
    ) -> Result<Published, ChannelError> {
        let created_at = store::now_rfc3339();
        let mut message = Message {
            id: 0,
            channel: target.name.clone(),
            room: target.room.clone(),
            author,
            created_at,
            payload,
            kind,
            client,
        };
        metrics::counter!("rtbox_messages_published_total", "kind" => kind.as_str()).increment(1);
        if !target.channel.history.persist {
            // In-memory channel: the id counter lock also orders fan-out.
            let mut ids = self.memory_ids.lock();
            let id = ids.entry(target.name.clone()).or_insert(0);
            *id += 1;
            message.id = *id;
            let message = Arc::new(message);
            self.fanout.submit(message.clone());
            return Ok(Published {
                message,
                persisted: false,
            });
        }
        let fanout = self.fanout.clone();
        let created_unix = store::now_unix();
        let message = self
            .db
            // One INSERT: the id comes from the writer's in-memory sequence.
            .write_statement_then(
                move |c| {
                    message.id = messages::insert(
                        c,
                        &messages::NewMessage {
                            channel: &message.channel,
                            room: message.room.as_deref(),
                            author: &message.author,
                            created_at: &message.created_at,
                            created_unix,
                            payload: &message.payload,
                            kind: message.kind,
                        },
                    )?;
                    Ok(Arc::new(message))
                },
                // On the writer thread, in commit order: a queue push, nothing more.
                move |m: &Arc<Message>| fanout.submit(m.clone()),
            )
            .await?;
        Ok(Published {
            message,
            persisted: true,
        })
    }
}
