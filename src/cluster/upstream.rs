//! An edge's view of the primary: the [`Upstream`] the edge's channel service uses
//! (publishes, history, join/leave triggers over the primary's node-to-node API) and
//! the loop that follows the primary's definitions (channels, API keys, client-token
//! secret, which channels have triggers).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{
    Definitions, HistoryCall, MembershipCall, MessageCall, PublishCall, PublishReply, TriggerReach,
    WireActor, WireError, WireMessage, NODE_HEADER, SECRET_HEADER,
};
use super::wire::{SessionCall, SessionReply};
use crate::auth::{AuthService, SessionSource, User};
use crate::channels::message::{Kind, Message};
use crate::channels::{
    Actor, ChannelError, ChannelService, Origin, PublishRequest, Published, Target, Upstream,
};
use crate::store::StoreError;
use crate::triggers::registry::ChannelSelector;
use crate::triggers::TriggerAction;

/// How often an edge re-reads the primary's definitions.
pub const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub const UNREACHABLE: &str = "The primary node is unreachable; try again shortly.";

/// The primary's node-to-node API, seen from an edge.
pub struct PrimaryClient {
    base: String,
    secret: String,
    node: String,
    http: reqwest::Client,
}

impl PrimaryClient {
    pub fn new(base: &str, secret: &str, node: &str) -> anyhow::Result<PrimaryClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(PrimaryClient {
            base: base.to_string(),
            secret: secret.to_string(),
            node: node.to_string(),
            http,
        })
    }

    pub(super) async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ChannelError> {
        let url = format!("{}/cluster/v1/{path}", self.base);
        let req = match body {
            Some(b) => self.http.post(&url).json(b),
            None => self.http.get(&url),
        }
        .header(SECRET_HEADER, &self.secret)
        .header(NODE_HEADER, &self.node);
        let unreachable = |e: reqwest::Error| {
            tracing::warn!(error = %e, "primary call failed");
            metrics::counter!("rtbox_cluster_primary_errors_total").increment(1);
            ChannelError::Store(StoreError::Unavailable(UNREACHABLE.into()))
        };
        let res = req.send().await.map_err(unreachable)?;
        let status = res.status();
        if status.is_success() {
            return res.json::<T>().await.map_err(unreachable);
        }
        if status.as_u16() == 422 || status.as_u16() == 409 {
            if let Ok(err) = res.json::<WireError>().await {
                return Err(err.into());
            }
        }
        metrics::counter!("rtbox_cluster_primary_errors_total").increment(1);
        if status.as_u16() == 403 {
            tracing::error!("the primary refused this node's cluster secret");
            return Err(ChannelError::Forbidden(
                "the cluster secret was refused".into(),
            ));
        }
        Err(ChannelError::Store(StoreError::Other(format!(
            "the primary answered {status}"
        ))))
    }

    pub async fn definitions(&self) -> Result<Definitions, ChannelError> {
        self.call::<(), _>("definitions", None).await
    }
}

impl SessionSource for PrimaryClient {
    fn user_for_session<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(async move {
            let call = SessionCall {
                token_hash: token_hash.to_string(),
            };
            match self.call::<_, SessionReply>("session", Some(&call)).await {
                Ok(reply) => Ok(reply.user),
                Err(ChannelError::Store(e)) => Err(e),
                Err(e) => Err(StoreError::Other(e.to_string())),
            }
        })
    }
}

pub struct HttpUpstream {
    client: Arc<PrimaryClient>,
    triggers: RwLock<Vec<TriggerReach>>,
}

impl HttpUpstream {
    pub fn new(client: Arc<PrimaryClient>) -> HttpUpstream {
        HttpUpstream {
            client,
            triggers: RwLock::new(Vec::new()),
        }
    }

    /// Takes over the primary's definitions.
    pub fn apply(&self, defs: Definitions, svc: &ChannelService, auth: &AuthService) {
        svc.replace_definitions(defs.channels);
        auth.replace_keys(defs.keys);
        auth.follow_client_secret(&defs.client_secret);
        *self.triggers.write() = defs.triggers;
    }

    /// Re-reads the definitions every [`FOLLOW_INTERVAL`], forever; `on_recover` runs
    /// each time the primary answers again after it could not be reached.
    pub async fn follow(
        self: Arc<Self>,
        svc: Arc<ChannelService>,
        auth: Arc<AuthService>,
        gauges: Arc<super::Gauges>,
        on_recover: impl Fn(),
    ) {
        let mut tick = tokio::time::interval(FOLLOW_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reachable = true;
        loop {
            tick.tick().await;
            match self.client.definitions().await {
                Ok(defs) => {
                    self.apply(defs, &svc, &auth);
                    gauges.set_primary_up(true);
                    if !reachable {
                        tracing::info!("primary reachable again");
                        on_recover();
                    }
                    reachable = true;
                }
                Err(_) => {
                    gauges.set_primary_up(false);
                    reachable = false;
                }
            }
        }
    }
}

/// Takes the primary's definitions on demand (after a change was announced or proxied).
pub struct Follower {
    pub upstream: Arc<HttpUpstream>,
    pub client: Arc<PrimaryClient>,
    pub svc: Arc<ChannelService>,
    pub auth: Arc<AuthService>,
}

impl Follower {
    pub async fn refresh(&self) {
        match self.client.definitions().await {
            Ok(defs) => self.upstream.apply(defs, &self.svc, &self.auth),
            Err(e) => tracing::debug!(error = %e, "definitions refresh failed"),
        }
    }
}

fn messages(list: Vec<WireMessage>) -> Vec<Arc<Message>> {
    list.into_iter()
        .map(|m| Arc::new(m.into_message()))
        .collect()
}

impl Upstream for HttpUpstream {
    fn publish(&self, req: PublishRequest) -> BoxFuture<'_, Result<Published, ChannelError>> {
        Box::pin(async move {
            let dialect = matches!(req.origin, Origin::Dialect(_));
            let (actor, author, socket_id, client) = match req.origin {
                Origin::Client {
                    actor,
                    socket_id,
                    client,
                } => (
                    Some(WireActor::from(&actor)),
                    None,
                    socket_id,
                    client.map(|c| (*c).to_owned()),
                ),
                Origin::Server(author) => (None, Some(author), String::new(), None),
                Origin::Dialect(actor) => {
                    (Some(WireActor::from(&actor)), None, String::new(), None)
                }
            };
            let call = PublishCall {
                channel: req.channel,
                room: req.room,
                payload: req.payload,
                kind: req.kind.as_str().to_string(),
                actor,
                author,
                socket_id,
                client,
                dialect,
            };
            let reply: PublishReply = self.client.call("publish", Some(&call)).await?;
            Ok(Published {
                message: Arc::new(reply.message.into_message()),
                persisted: reply.persisted,
            })
        })
    }

    fn history<'a>(
        &'a self,
        target: &'a Target,
        cursor: Option<i64>,
        descending: bool,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<Arc<Message>>, ChannelError>> {
        Box::pin(async move {
            let call = HistoryCall {
                channel: target.name.clone(),
                room: target.room.clone(),
                cursor,
                descending,
                limit,
            };
            let list: Vec<WireMessage> = self.client.call("history", Some(&call)).await?;
            Ok(messages(list))
        })
    }

    fn message<'a>(
        &'a self,
        target: &'a Target,
        id: i64,
    ) -> BoxFuture<'a, Result<Message, ChannelError>> {
        Box::pin(async move {
            let call = MessageCall {
                channel: target.name.clone(),
                id,
            };
            let m: WireMessage = self.client.call("message", Some(&call)).await?;
            Ok(m.into_message())
        })
    }

    fn join<'a>(
        &'a self,
        target: &'a Target,
        actor: &'a Actor,
        socket_id: &'a str,
        payload: serde_json::Value,
    ) -> BoxFuture<'a, Result<(), ChannelError>> {
        Box::pin(async move {
            let call = MembershipCall::new(target, actor, socket_id, payload);
            self.client
                .call::<_, serde_json::Value>("join", Some(&call))
                .await
                .map(|_| ())
        })
    }

    fn leave<'a>(
        &'a self,
        target: &'a Target,
        actor: &'a Actor,
        socket_id: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let call = MembershipCall::new(target, actor, socket_id, serde_json::Value::Null);
            if let Err(e) = self
                .client
                .call::<_, serde_json::Value>("leave", Some(&call))
                .await
            {
                tracing::warn!(channel = %target.name, error = %e, "leave trigger not run on the primary");
            }
        })
    }

    fn has_triggers(&self, channel: &str, action: TriggerAction) -> bool {
        self.triggers.read().iter().any(|t| {
            let covers = match action {
                TriggerAction::Message => t.message,
                TriggerAction::Join => t.join,
                TriggerAction::Leave => t.leave,
            };
            covers && ChannelSelector::parse(&t.channel).matches(channel)
        })
    }
}

/// `Kind` from its wire name (unknown names are plain messages).
pub fn kind_of(s: &str) -> Kind {
    Kind::parse(s).unwrap_or(Kind::Message)
}
