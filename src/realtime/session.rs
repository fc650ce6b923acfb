//! One WebSocket connection (on the raw socket, see `wsio`): a loop that selects over
//! the socket, the connection's outbox, the heartbeat and close requests. Frames are
//! handled in order; replies go straight to the socket, channel messages come through
//! the outbox. The same loop runs both kinds of session — the envelope protocol and the
//! Syncano one-topic feed — so both get the guarded writes, the dead-peer check and the
//! close handshake.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_http::ws::{CloseCode, CloseReason};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::mpsc;

use super::dialect::AuthRefusal;
use super::hub::{Conn, Format};
use super::outbox::{Outgoing, CLOSE_POLICY, CLOSE_TRY_AGAIN};
use super::protocol::{self as proto, ClientOptions, ErrorCode, ReplyTo};
use super::wsio::{Incoming, WsIo};
use crate::auth::{AuthService, Principal};
use crate::channels::message::{Kind, Message};
use crate::channels::model::Permission;
use crate::channels::{Actor, ChannelError, ChannelService, Origin, PublishRequest, Target};

/// Consecutive malformed frames after which a client is disconnected.
const MAX_STRIKES: u32 = 10;
/// Messages replayed per history read while catching up a `join` with `last_id`.
const REPLAY_PAGE: i64 = 500;
/// Outbox frames written per wake-up before the loop looks at the socket again.
const DRAIN_BATCH: usize = 64;

struct Subscription {
    target: Target,
    /// Highest message id sent for this topic; anything at or below is a duplicate.
    last_id: i64,
}

/// What the client speaks.
pub enum SessionKind {
    /// The envelope protocol (`/ws`, `/rt/…`). `auth_error` is set when the upgrade's
    /// credentials were not taken: reported, then closed (1008, or 1013 to retry).
    Envelope { auth_error: Option<AuthRefusal> },
    /// A fixed one-topic feed (Syncano `poll/?transport=websocket`): replays after
    /// `last_id`, then writes each new message; client data frames are ignored.
    Feed { target: Target, last_id: i64 },
}

pub struct SessionParams {
    pub svc: Arc<ChannelService>,
    pub auth: Arc<AuthService>,
    pub conn: Arc<Conn>,
    pub rx: mpsc::Receiver<Outgoing>,
    pub actor: Actor,
    pub kind: SessionKind,
}

struct State {
    svc: Arc<ChannelService>,
    auth: Arc<AuthService>,
    conn: Arc<Conn>,
    actor: Actor,
    ws: WsIo,
    subs: HashMap<Arc<str>, Subscription>,
    strikes: u32,
    limiter: Option<DefaultDirectRateLimiter>,
    close: Option<(u16, String)>,
    /// A write was abandoned mid-frame: the stream is no longer well-formed, so no close
    /// frame can follow; the socket is just dropped.
    torn: bool,
    /// A Syncano feed: client data frames are ignored, no presence or leave triggers.
    feed: bool,
    /// A peer silent (or not reading) this long is dead.
    dead_after: Duration,
}

/// Runs a session on `ws` (frames up to `max_frame_bytes`, continuations joined up to
/// the same size) until either side closes.
pub async fn run(ws: WsIo, params: SessionParams) {
    let ping_interval = params.svc.settings().ws_ping_interval;
    let mut rx = params.rx;
    let mut st = State {
        svc: params.svc,
        auth: params.auth,
        conn: params.conn,
        actor: params.actor,
        ws,
        subs: HashMap::new(),
        strikes: 0,
        limiter: None,
        close: None,
        torn: false,
        feed: matches!(params.kind, SessionKind::Feed { .. }),
        dead_after: ping_interval * 3,
    };
    st.svc.hub().register(st.conn.clone());
    // Boxed: what only the first moments of a session need (a replay, an error frame)
    // must not enlarge the state every idle connection keeps.
    match params.kind {
        SessionKind::Envelope {
            auth_error: Some(err),
        } => Box::pin(st.refuse_auth(&ReplyTo::default(), err)).await,
        SessionKind::Envelope { auth_error: None } => {}
        SessionKind::Feed { target, last_id } => Box::pin(st.start_feed(target, last_id)).await,
    }
    let mut heartbeat = tokio::time::interval(ping_interval);
    heartbeat.tick().await;
    let mut last_seen = Instant::now();

    while st.close.is_none() {
        tokio::select! {
            code = st.conn.outbox.closing() => {
                let reason = if code == super::outbox::CLOSE_TRY_AGAIN { "outbound queue full" } else { "server restarting" };
                st.close = Some((code, reason.to_string()));
            }
            item = rx.recv() => match item {
                Some(item) => {
                    st.write(item);
                    // Let the other woken tasks (publishers, other sockets) run first, so
                    // that under load more frames are queued by the time this socket
                    // writes: everything queued goes out in one write, which costs both
                    // ends far fewer syscalls than one write per frame.
                    tokio::task::yield_now().await;
                    for _ in 1..DRAIN_BATCH {
                        match rx.try_recv() {
                            Ok(more) => st.write(more),
                            Err(_) => break,
                        }
                    }
                    st.flush().await;
                }
                None => break,
            },
            msg = st.ws.recv() => {
                last_seen = Instant::now();
                match msg {
                    // Boxed: frame handling (publish, replay, triggers) needs far more
                    // state than an idle connection should carry.
                    Some(Ok(Incoming::Text(_) | Incoming::Binary(_))) if st.feed => {}
                    Some(Ok(Incoming::Text(text))) => Box::pin(st.handle_text(&text)).await,
                    Some(Ok(Incoming::Binary(_))) => {
                        st.strike("binary frames are not supported; send JSON text frames").await
                    }
                    Some(Ok(Incoming::Ping(bytes))) => st.pong(bytes).await,
                    Some(Ok(Incoming::Pong(_))) => {}
                    Some(Ok(Incoming::Close(_))) | None => break,
                    Some(Err(e)) => {
                        let too_big = matches!(e, actix_http::ws::ProtocolError::Overflow);
                        if too_big {
                            st.send(proto::error_frame(&ReplyTo::default(), ErrorCode::TooLarge, "frame is larger than the limit")).await;
                            st.close = Some((1009, "frame too large".into()));
                        } else {
                            st.close = Some((1002, format!("protocol error: {e}")));
                        }
                    }
                }
            }
            _ = heartbeat.tick() => {
                if last_seen.elapsed() > st.dead_after {
                    st.close = Some((1001, "no heartbeat".into()));
                } else {
                    st.ping().await;
                }
            }
        }
    }
    // Boxed: the close handshake's state is only needed at the end.
    Box::pin(st.finish(rx)).await;
}

impl State {
    async fn send(&mut self, frame: impl Into<bytestring::ByteString>) {
        let conn = self.conn.clone();
        let written = guarded(&conn, self.dead_after, self.ws.text(frame)).await;
        self.after_write(written);
    }

    /// Writes what `write` queued; a failed write means the peer is gone.
    async fn flush(&mut self) {
        let conn = self.conn.clone();
        let written = guarded(&conn, self.dead_after, self.ws.flush()).await;
        self.after_write(written);
    }

    async fn ping(&mut self) {
        let conn = self.conn.clone();
        let written = guarded(&conn, self.dead_after, self.ws.ping(b"")).await;
        self.after_write(written);
    }

    async fn pong(&mut self, payload: bytes::Bytes) {
        let conn = self.conn.clone();
        let written = guarded(&conn, self.dead_after, self.ws.pong(&payload)).await;
        self.after_write(written);
    }

    /// A channel message as this connection's format writes it.
    fn message_text(&self, message: &Message) -> String {
        match &self.conn.format {
            Format::Envelope => message.ws_frame(),
            Format::Syncano { base } => message.to_json_string(base),
        }
    }

    /// Follows the feed's one topic: subscribed first, so whatever commits during the
    /// replay is queued live and its overlap with the replay dropped by id.
    async fn start_feed(&mut self, target: Target, last_id: i64) {
        let shared = self.svc.hub().subscribe(&target.topic(), &self.conn);
        self.subs.insert(
            shared.clone(),
            Subscription {
                target: target.clone(),
                last_id,
            },
        );
        if let Err(e) = self.replay(&shared, &target, last_id).await {
            tracing::error!(error = %e, "feed replay failed");
            self.close
                .get_or_insert((1011, "history unavailable".into()));
        }
    }

    fn after_write(&mut self, written: Written) {
        match written {
            Written::Done(Ok(())) => {}
            Written::Done(Err(_)) => {
                self.close.get_or_insert((1000, String::new()));
            }
            Written::Torn(code) => {
                self.torn = true;
                self.close
                    .get_or_insert((code, "outbound queue full".into()));
            }
        }
    }

    /// Queues an outbox frame for the next `flush`, unless it is a duplicate.
    fn write(&mut self, item: Outgoing) {
        self.conn.outbox.sent(item.bytes.len());
        if let Some(topic) = &item.topic {
            let Some(sub) = self.subs.get_mut(topic) else {
                return;
            };
            if item.id <= sub.last_id {
                return;
            }
            sub.last_id = item.id;
        }
        if self.ws.queue_text(item.bytes.clone()).is_err() {
            self.close.get_or_insert((1000, String::new()));
        }
    }

    async fn strike(&mut self, message: &str) {
        self.strikes += 1;
        self.send(proto::error_frame(
            &ReplyTo::default(),
            ErrorCode::BadRequest,
            message,
        ))
        .await;
        if self.strikes >= MAX_STRIKES {
            self.close = Some((CLOSE_POLICY, "too many malformed frames".into()));
        }
    }

    async fn fail(&mut self, to: &ReplyTo, err: &ChannelError) {
        if let ChannelError::Store(e) = err {
            tracing::error!(error = %e, "storage error on websocket");
        }
        self.send(proto::channel_error_frame(to, err)).await;
    }

    async fn handle_text(&mut self, text: &str) {
        let frame = match proto::decode_client_frame(text) {
            Ok(f) => f,
            Err(message) => return self.strike(&message).await,
        };
        self.strikes = 0;
        let (opts, to) = (frame.options, frame.reply_to);
        match frame.action.as_str() {
            "join" => self.join(opts, frame.payload, to).await,
            "leave" => self.leave(opts, to).await,
            "message" => self.message(opts, frame.payload, to).await,
            "history" => self.history(opts, to).await,
            "ping" => self.send(proto::pong_frame()).await,
            "pong" => {}
            "auth" => self.authenticate(opts, frame.payload, to).await,
            "typing" => self.typing(opts, frame.payload, to).await,
            other => self.dialect_frame(other, frame.payload, to).await,
        }
    }

    /// An action only a dialect knows (livechat `visitor_event`), or an unknown one.
    async fn dialect_frame(&mut self, action: &str, payload: Option<Box<RawValue>>, to: ReplyTo) {
        let payload: Value = payload
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or(Value::Null);
        let handled = self
            .svc
            .session_dialect()
            .and_then(|d| d.frame(&self.actor, action, payload));
        match handled {
            Some(fut) => match fut.await {
                Ok(reply) => self.send(proto::ack_with_payload(&to, reply)).await,
                Err((code, message)) => self.send(proto::error_frame(&to, code, &message)).await,
            },
            None => {
                let msg = format!(
                    "unknown action \"{action}\" (join, leave, message, history, typing, ping, auth)"
                );
                self.send(proto::error_frame(&to, ErrorCode::BadRequest, &msg))
                    .await
            }
        }
    }

    /// `{"action": "typing", "options": {channel, room?}, "payload": {"typing": bool}}`:
    /// shown at once to the others joined to that channel; never stored.
    async fn typing(&mut self, opts: ClientOptions, payload: Option<Box<RawValue>>, to: ReplyTo) {
        let typing = payload
            .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
            .and_then(|v| v.get("typing").and_then(Value::as_bool));
        let Some(typing) = typing else {
            return self
                .send(proto::error_frame(
                    &to,
                    ErrorCode::BadRequest,
                    "typing needs payload {\"typing\": true|false}",
                ))
                .await;
        };
        let target = match self.channel_of(&opts).and_then(|c| {
            self.svc
                .target(&self.actor, c, opts.room.as_deref(), Permission::Subscribe)
        }) {
            Ok(t) => t,
            Err(e) => return self.fail(&to, &e).await,
        };
        let key = target.topic();
        if !self.subs.contains_key(key.as_str()) {
            let err = ChannelError::BadRequest("join the channel before sending typing".into());
            return self.fail(&to, &err).await;
        }
        if !self.allow_publish() {
            return self.fail(&to, &ChannelError::RateLimited).await;
        }
        let (u, sender) = self.actor.typing_identity();
        let frame = proto::typing_frame(&presence_reply(&target), typing, sender, &u);
        self.svc
            .broadcast_ephemeral(&key, frame, Some(self.conn.id));
    }

    fn channel_of<'a>(&self, opts: &'a ClientOptions) -> Result<&'a str, ChannelError> {
        opts.channel
            .as_deref()
            .ok_or_else(|| ChannelError::BadRequest("options.channel is required".into()))
    }

    async fn join(&mut self, opts: ClientOptions, payload: Option<Box<RawValue>>, to: ReplyTo) {
        if let Err(e) = self.try_join(&opts, payload, &to).await {
            self.fail(&to, &e).await;
        }
    }

    async fn try_join(
        &mut self,
        opts: &ClientOptions,
        payload: Option<Box<RawValue>>,
        to: &ReplyTo,
    ) -> Result<(), ChannelError> {
        let channel = self.channel_of(opts)?;
        self.svc.refresh_membership(&self.actor, channel).await;
        let target = self
            .svc
            .subscribe_target(&self.actor, channel, opts.room.as_deref())?;
        let key = target.topic();
        if self.subs.contains_key(key.as_str()) {
            self.send(proto::join_frame(to, &self.conn.socket_id)).await;
            return Ok(());
        }
        if self.subs.len() >= self.svc.settings().max_subscriptions {
            return Err(ChannelError::Forbidden(format!(
                "subscription limit reached ({} per connection)",
                self.svc.settings().max_subscriptions
            )));
        }
        let payload: Value = payload
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or(Value::Null);
        self.svc
            .run_join_triggers(&target, &self.actor, &self.conn.socket_id, payload.clone())
            .await?;
        // Subscribe before reading history: whatever commits from now on is queued
        // live, and the overlap with the replay is dropped by id.
        let shared = self.svc.hub().subscribe(&key, &self.conn);
        let me = self.conn.client.read().clone();
        self.svc.subscribed(&target, &self.conn.socket_id, &me);
        let last_id = opts.last_id.unwrap_or(0).max(0);
        self.subs.insert(
            shared.clone(),
            Subscription {
                target: target.clone(),
                last_id,
            },
        );
        if let Some(dialect) = self.svc.session_dialect() {
            dialect.joined(&self.actor, &target.name);
        }
        self.send(proto::join_frame(to, &self.conn.socket_id)).await;
        if opts.last_id.is_some() {
            self.replay(&shared, &target, last_id).await?;
        }
        if payload.get("history").and_then(Value::as_bool) == Some(true) {
            let mut recent = self.svc.history(&target, None, true, 50).await?;
            recent.reverse();
            self.send(proto::history_frame(to, &recent)).await;
        }
        if target.channel.presence {
            if payload.get("presence").and_then(Value::as_bool) == Some(true) {
                let clients = self.svc.presence(&key).await;
                self.send(proto::presence_full_frame(to, &clients)).await;
            }
            let update = proto::presence_update_frame(&presence_reply(&target), "join", &me);
            self.svc
                .broadcast_ephemeral(&key, update, Some(self.conn.id));
        }
        Ok(())
    }

    async fn replay(
        &mut self,
        topic: &Arc<str>,
        target: &Target,
        mut cursor: i64,
    ) -> Result<(), ChannelError> {
        loop {
            let page = self
                .svc
                .history(target, Some(cursor), false, REPLAY_PAGE)
                .await?;
            let full = page.len() as i64 == REPLAY_PAGE;
            for m in page {
                cursor = m.id;
                let text = self.message_text(&m);
                self.send(text).await;
            }
            if let Some(sub) = self.subs.get_mut(topic) {
                sub.last_id = sub.last_id.max(cursor);
            }
            if !full || self.close.is_some() {
                return Ok(());
            }
        }
    }

    async fn leave(&mut self, opts: ClientOptions, to: ReplyTo) {
        let target = match self.channel_of(&opts).and_then(|c| {
            self.svc
                .target(&self.actor, c, opts.room.as_deref(), Permission::None)
        }) {
            Ok(t) => t,
            Err(e) => return self.fail(&to, &e).await,
        };
        let key = target.topic();
        match self.subs.remove_entry(key.as_str()) {
            Some((_, sub)) => {
                self.unsubscribe(&sub.target);
                self.send(proto::leave_frame(&to)).await;
            }
            None => {
                let err = ChannelError::BadRequest("not joined to this channel".into());
                self.fail(&to, &err).await
            }
        }
    }

    /// Leaves the hub topic, tells the others (presence) and runs leave triggers.
    fn unsubscribe(&self, target: &Target) {
        let key = target.topic();
        if !self.svc.hub().unsubscribe(&key, self.conn.id) || self.feed {
            return;
        }
        if let Some(dialect) = self.svc.session_dialect() {
            dialect.left(&self.actor, &target.name);
        }
        self.svc.unsubscribed(target, &self.conn.socket_id);
        if target.channel.presence {
            let me = self.conn.client.read().clone();
            let update = proto::presence_update_frame(&presence_reply(target), "leave", &me);
            self.svc.broadcast_ephemeral(&key, update, None);
        }
        if self.svc.has_leave_triggers(&target.name) {
            let (svc, target, actor, socket) = (
                self.svc.clone(),
                target.clone(),
                self.actor.clone(),
                self.conn.socket_id.to_string(),
            );
            actix_web::rt::spawn(async move {
                svc.run_leave_triggers(&target, &actor, &socket).await;
            });
        }
    }

    fn allow_publish(&mut self) -> bool {
        let rate = self.svc.settings().publish_rate;
        let limiter = self.limiter.get_or_insert_with(|| {
            let per_second = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(rate.saturating_mul(2)).unwrap_or(per_second);
            RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
        });
        limiter.check().is_ok()
    }

    async fn message(&mut self, opts: ClientOptions, payload: Option<Box<RawValue>>, to: ReplyTo) {
        if let Err(e) = self.try_message(&opts, payload, &to).await {
            self.fail(&to, &e).await;
        }
    }

    async fn try_message(
        &mut self,
        opts: &ClientOptions,
        payload: Option<Box<RawValue>>,
        to: &ReplyTo,
    ) -> Result<(), ChannelError> {
        let channel = self.channel_of(opts)?.to_string();
        if !self.allow_publish() {
            return Err(ChannelError::RateLimited);
        }
        let payload = match payload {
            Some(p) => p,
            None => RawValue::from_string("null".into())
                .map_err(|e| ChannelError::BadRequest(e.to_string()))?,
        };
        let client = self.conn.client.read().clone();
        if let Some(socket_id) = &opts.socket_id {
            return self
                .private_message(
                    &channel,
                    opts.room.as_deref(),
                    socket_id,
                    &client,
                    &payload,
                    to,
                )
                .await;
        }
        let published = self
            .svc
            .publish(PublishRequest {
                channel,
                room: opts.room.clone(),
                payload,
                kind: Kind::Message,
                origin: Origin::Client {
                    actor: self.actor.clone(),
                    socket_id: self.conn.socket_id.to_string(),
                    client: Some(client),
                },
            })
            .await?;
        self.send(proto::ack_frame(
            to,
            Some(published.message.id),
            published.persisted,
        ))
        .await;
        Ok(())
    }

    async fn private_message(
        &mut self,
        channel: &str,
        room: Option<&str>,
        socket_id: &str,
        sender: &RawValue,
        payload: &RawValue,
        to: &ReplyTo,
    ) -> Result<(), ChannelError> {
        let target = self
            .svc
            .target(&self.actor, channel, room, Permission::Publish)?;
        if !target.channel.private_messaging {
            return Err(ChannelError::Forbidden(
                "Private messaging is not enabled on this channel.".into(),
            ));
        }
        if payload.get().len() > self.svc.settings().max_payload_bytes {
            return Err(ChannelError::TooLarge(
                self.svc.settings().max_payload_bytes,
            ));
        }
        let key = target.topic();
        if !self.subs.contains_key(key.as_str()) {
            return Err(ChannelError::BadRequest(
                "join the channel before messaging its members".into(),
            ));
        }
        let frame = proto::private_frame(to, sender, payload);
        if !self.svc.send_private(&key, socket_id, frame).await {
            return Err(ChannelError::NotFound);
        }
        self.send(proto::ack_frame(to, None, false)).await;
        Ok(())
    }

    async fn history(&mut self, opts: ClientOptions, to: ReplyTo) {
        let result = async {
            let channel = self.channel_of(&opts)?;
            let target = self.svc.target(
                &self.actor,
                channel,
                opts.room.as_deref(),
                Permission::Subscribe,
            )?;
            let limit = opts.limit.unwrap_or(50).clamp(1, 100);
            let mut messages = match opts.last_id {
                Some(last) => self.svc.history(&target, Some(last), false, limit).await?,
                None => {
                    let mut m = self.svc.history(&target, None, true, limit).await?;
                    m.reverse();
                    m
                }
            };
            messages.truncate(limit as usize);
            Ok::<_, ChannelError>(messages)
        }
        .await;
        match result {
            Ok(messages) => self.send(proto::history_frame(&to, &messages)).await,
            Err(e) => self.fail(&to, &e).await,
        }
    }

    /// `{"action": "auth", "payload": {"token": JWT}}` (or `options.token`): upgrades an
    /// anonymous connection; later joins use the new identity.
    async fn authenticate(
        &mut self,
        opts: ClientOptions,
        payload: Option<Box<RawValue>>,
        to: ReplyTo,
    ) {
        let body: Value = payload
            .as_ref()
            .and_then(|p| serde_json::from_str(p.get()).ok())
            .unwrap_or(Value::Null);
        if let Some(visitor_token) = body.get("visitor_token").and_then(Value::as_str) {
            return self
                .authenticate_visitor(visitor_token.to_string(), to)
                .await;
        }
        let token = opts.token.or_else(|| match &body {
            Value::String(s) => Some(s.clone()),
            other => other.get("token")?.as_str().map(str::to_string),
        });
        let Some(token) = token else {
            return self
                .send(proto::error_frame(
                    &to,
                    ErrorCode::BadRequest,
                    "auth needs a token",
                ))
                .await;
        };
        if token.starts_with(crate::auth::secrets::SESSION_PREFIX) {
            let creds = crate::auth::Credentials {
                bearer: Some(token),
                ..Default::default()
            };
            return match self.auth.authenticate(creds).await {
                Ok(caller) => {
                    let actor = Actor::from_caller(&caller, &self.conn.socket_id);
                    self.become_actor(actor, &to).await
                }
                Err(e) => self.refuse_auth(&to, AuthRefusal::from(&e)).await,
            };
        }
        match self.auth.verify_client_token(&token) {
            Ok(claims) => {
                let caller = crate::auth::Caller {
                    principal: Principal::Client(Arc::new(claims)),
                    session_hash: None,
                };
                self.actor = Actor::from_caller(&caller, &self.conn.socket_id);
                let client = self.actor.client_json(&self.conn.socket_id);
                if let Ok(raw) = serde_json::value::to_raw_value(&client) {
                    *self.conn.client.write() = Arc::from(raw);
                }
                self.send(proto::ack_frame(&to, None, false)).await;
            }
            Err(e) => {
                let msg = format!("invalid client token: {e}");
                self.send(proto::error_frame(&to, ErrorCode::Unauthorized, &msg))
                    .await;
                self.close = Some((CLOSE_POLICY, msg));
            }
        }
    }

    async fn authenticate_visitor(&mut self, token: String, to: ReplyTo) {
        let Some(dialect) = self.svc.session_dialect().cloned() else {
            return self
                .refuse_auth(&to, AuthRefusal::denied("livechat is not available"))
                .await;
        };
        match dialect.visitor(token).await {
            Ok(actor) => self.become_actor(actor, &to).await,
            Err(msg) => self.refuse_auth(&to, msg).await,
        }
    }

    /// Later joins and frames use `actor`; subscriptions already held are kept.
    async fn become_actor(&mut self, actor: Actor, to: &ReplyTo) {
        self.actor = actor;
        let client = self.actor.client_json(&self.conn.socket_id);
        if let Ok(raw) = serde_json::value::to_raw_value(&client) {
            *self.conn.client.write() = Arc::from(raw);
        }
        self.send(proto::ack_frame(to, None, false)).await;
    }

    async fn refuse_auth(&mut self, to: &ReplyTo, refusal: AuthRefusal) {
        let (code, close) = if refusal.retry {
            (ErrorCode::Internal, CLOSE_TRY_AGAIN)
        } else {
            (ErrorCode::Unauthorized, CLOSE_POLICY)
        };
        self.send(proto::error_frame(to, code, &refusal.message))
            .await;
        self.close = Some((close, refusal.message));
    }

    async fn finish(mut self, mut rx: mpsc::Receiver<Outgoing>) {
        let subs: Vec<Subscription> = self.subs.drain().map(|(_, s)| s).collect();
        for sub in &subs {
            self.unsubscribe(&sub.target);
        }
        self.svc.hub().unregister(self.conn.id);
        rx.close();
        let reason = self.close.take().map(|(code, description)| CloseReason {
            code: CloseCode::from(code),
            description: (!description.is_empty()).then_some(description),
        });
        if self.torn {
            return;
        }
        self.ws.close(reason).await;
    }
}

/// How long a write may stay blocked after the connection was asked to close (its outbox
/// overflowed because the peer stopped reading) before it is abandoned.
const STUCK_WRITE_GRACE: Duration = Duration::from_secs(5);

enum Written {
    Done(std::io::Result<()>),
    /// Abandoned mid-write after a close request (code) and the grace period.
    Torn(u16),
}

/// Runs a socket write. A peer that stopped reading blocks it forever; its outbox then
/// overflows and requests a close, after which the write gets `STUCK_WRITE_GRACE` to
/// finish (so a proper close frame can still follow) before it is abandoned. A write
/// that no close request ends (a quiet channel, a long replay) is abandoned after
/// `dead_after`, the same patience the heartbeat has with a silent peer.
async fn guarded(
    conn: &Conn,
    dead_after: Duration,
    write: impl std::future::Future<Output = std::io::Result<()>>,
) -> Written {
    tokio::pin!(write);
    // Nearly every write completes at once; only a blocked one pays for the close watch.
    if let Some(done) = futures_util::FutureExt::now_or_never(&mut write) {
        return Written::Done(done);
    }
    // The blocked case is rare: its timers live on the heap, not in every connection.
    Box::pin(async move {
        tokio::select! {
            done = &mut write => Written::Done(done),
            code = conn.outbox.closing() => {
                match tokio::time::timeout(STUCK_WRITE_GRACE, &mut write).await {
                    Ok(done) => Written::Done(done),
                    Err(_) => Written::Torn(code),
                }
            }
            _ = tokio::time::sleep(dead_after) => Written::Torn(1001),
        }
    })
    .await
}

/// Presence updates name the channel and room they concern.
fn presence_reply(target: &Target) -> ReplyTo {
    ReplyTo {
        channel: Some(target.name.clone()),
        room: target.room.clone(),
        reference: None,
    }
}
