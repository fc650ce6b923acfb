//! The primary's node-to-node API, `/cluster/v1/*`: what edges call instead of touching
//! a database. Every call must carry the cluster secret; nothing here is reachable with
//! a client's credentials, and the secret grants nothing on the public routes.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::livechat::EdgeInboxes;
use super::upstream::kind_of;
use super::wire::{
    Definitions, HistoryCall, MembershipCall, MessageCall, PublishCall, PublishReply, TriggerReach,
    WireError, WireMessage, SECRET_HEADER,
};
use super::wire::{
    FrameCall, FrameReply, InboxReport, RoomCall, RoomReply, SessionCall, SessionReply,
    VisitorCall, VisitorReply, NODE_HEADER,
};
use crate::auth::{ApiKeyInfo, AuthService};
use crate::channels::message::Author;
use crate::channels::model::Permission;
use crate::channels::{Actor, ChannelError, ChannelService, Origin, PublishRequest, Target};
use crate::livechat::LivechatService;
use crate::store::StoreError;
use crate::store::{keys, settings as kv, triggers as trigger_rows, Db};

/// The secret, kept as a digest so comparisons take the same time whatever is sent.
#[derive(Clone)]
pub struct NodeSecret([u8; 32]);

impl NodeSecret {
    pub fn new(secret: &str) -> NodeSecret {
        NodeSecret(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether the request carries the cluster secret.
    pub fn admits(&self, req: &HttpRequest) -> bool {
        let Some(offered) = req
            .headers()
            .get(SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let offered: [u8; 32] = Sha256::digest(offered.as_bytes()).into();
        offered
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/cluster/v1")
            .wrap(from_fn(require_secret))
            .route("/definitions", web::get().to(definitions))
            .route("/publish", web::post().to(publish))
            .route("/history", web::post().to(history))
            .route("/message", web::post().to(message))
            .route("/join", web::post().to(join))
            .route("/leave", web::post().to(leave))
            .route("/session", web::post().to(session))
            .route("/livechat/visitor", web::post().to(livechat_visitor))
            .route("/livechat/frame", web::post().to(livechat_frame))
            .route("/livechat/room", web::post().to(livechat_room))
            .route("/livechat/inbox", web::post().to(livechat_inbox)),
    );
}

fn refuse() -> HttpResponse {
    HttpResponse::Forbidden().json(serde_json::json!({"detail": "Not a node of this cluster."}))
}

/// Lets a call through only with the cluster secret.
async fn require_secret(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let admitted = req
        .app_data::<web::Data<NodeSecret>>()
        .is_some_and(|secret| secret.admits(req.request()));
    if !admitted {
        return Ok(req.into_response(refuse()));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Domain errors travel as 422 with a `WireError` body; edges map them back.
fn domain_error(e: &ChannelError) -> HttpResponse {
    if let ChannelError::Store(err) = e {
        tracing::error!(error = %err, "storage error answering an edge");
    }
    HttpResponse::UnprocessableEntity().json(WireError::from(e))
}

fn ok<T: Serialize>(value: &T) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

/// Edges have already authorized reads; the primary resolves the concrete target.
fn read_target(
    svc: &ChannelService,
    channel: &str,
    room: Option<&str>,
) -> Result<Target, ChannelError> {
    svc.target(
        &Actor::Admin(Author::Admin(0)),
        channel,
        room,
        Permission::None,
    )
}

async fn definitions(svc: web::Data<ChannelService>, db: web::Data<Db>) -> HttpResponse {
    let stored = db
        .read(|c| {
            let keys = keys::list(c)?;
            let secret = kv::get(c, kv::CLIENT_TOKEN_SECRET)?.unwrap_or_default();
            let triggers = trigger_rows::list(c)?;
            Ok((keys, secret, triggers))
        })
        .await;
    let (keys, client_secret, triggers) = match stored {
        Ok(v) => v,
        Err(e) => return domain_error(&ChannelError::Store(e)),
    };
    let defs = Definitions {
        channels: svc.list().iter().map(|c| (**c).clone()).collect(),
        keys: keys
            .into_iter()
            .map(|k| {
                (
                    k.key_hash,
                    ApiKeyInfo {
                        id: k.id,
                        name: k.name,
                        role: k.role,
                    },
                )
            })
            .collect(),
        client_secret,
        triggers: triggers
            .into_iter()
            .filter(|t| t.active)
            .map(|t| TriggerReach {
                channel: t.channel,
                message: t.actions.message,
                join: t.actions.join,
                leave: t.actions.leave,
            })
            .collect(),
    };
    ok(&defs)
}

async fn publish(svc: web::Data<ChannelService>, body: web::Json<PublishCall>) -> HttpResponse {
    let call = body.into_inner();
    let origin = match (call.actor, call.author) {
        (Some(actor), _) if call.dialect => Origin::Dialect(actor.into()),
        (Some(actor), _) => Origin::Client {
            actor: actor.into(),
            socket_id: call.socket_id,
            client: call.client.map(Arc::from),
        },
        (None, Some(author)) => Origin::Server(author),
        (None, None) => {
            return domain_error(&ChannelError::BadRequest(
                "a publish needs an actor or an author".into(),
            ))
        }
    };
    let result = svc
        .publish(PublishRequest {
            channel: call.channel,
            room: call.room,
            payload: call.payload,
            kind: kind_of(&call.kind),
            origin,
        })
        .await;
    match result {
        Ok(p) => ok(&PublishReply {
            message: WireMessage::from_message(&p.message),
            persisted: p.persisted,
        }),
        Err(e) => domain_error(&e),
    }
}

async fn history(svc: web::Data<ChannelService>, body: web::Json<HistoryCall>) -> HttpResponse {
    let call = body.into_inner();
    let result = async {
        let target = read_target(&svc, &call.channel, call.room.as_deref())?;
        svc.history(
            &target,
            call.cursor,
            call.descending,
            call.limit.clamp(1, 1000),
        )
        .await
    }
    .await;
    match result {
        Ok(list) => ok(&list
            .iter()
            .map(|m| WireMessage::from_message(m))
            .collect::<Vec<_>>()),
        Err(e) => domain_error(&e),
    }
}

async fn message(svc: web::Data<ChannelService>, body: web::Json<MessageCall>) -> HttpResponse {
    let result = async {
        let target = svc.any_room_target(
            &Actor::Admin(Author::Admin(0)),
            &body.channel,
            Permission::None,
        )?;
        svc.message(&target, body.id).await
    }
    .await;
    match result {
        Ok(m) => ok(&WireMessage::from_message(&m)),
        Err(e) => domain_error(&e),
    }
}

async fn join(svc: web::Data<ChannelService>, body: web::Json<MembershipCall>) -> HttpResponse {
    let call = body.into_inner();
    let actor: Actor = call.actor.into();
    let result = async {
        let target = svc.subscribe_target(&actor, &call.channel, call.room.as_deref())?;
        svc.run_join_triggers(&target, &actor, &call.socket_id, call.payload)
            .await
    }
    .await;
    match result {
        Ok(()) => ok(&serde_json::json!({"ok": true})),
        Err(e) => domain_error(&e),
    }
}

async fn leave(svc: web::Data<ChannelService>, body: web::Json<MembershipCall>) -> HttpResponse {
    let call = body.into_inner();
    let actor: Actor = call.actor.into();
    match svc.target(
        &actor,
        &call.channel,
        call.room.as_deref(),
        Permission::None,
    ) {
        Ok(target) => {
            svc.run_leave_triggers(&target, &actor, &call.socket_id)
                .await;
            ok(&serde_json::json!({"ok": true}))
        }
        Err(e) => domain_error(&e),
    }
}

async fn session(auth: web::Data<AuthService>, body: web::Json<SessionCall>) -> HttpResponse {
    match auth.user_for_session_hash(&body.token_hash).await {
        Ok(user) => ok(&SessionReply { user }),
        Err(e) => domain_error(&ChannelError::Store(e)),
    }
}

// ---- livechat sockets held by edges ------------------------------------------------------

fn no_visitor(why: impl Into<String>) -> HttpResponse {
    ok(&VisitorReply {
        visitor: None,
        error: Some(why.into()),
    })
}

async fn livechat_visitor(
    svc: web::Data<ChannelService>,
    body: web::Json<VisitorCall>,
) -> HttpResponse {
    let Some(dialect) = svc.session_dialect() else {
        return no_visitor("livechat is not available");
    };
    match dialect.visitor(body.into_inner().token).await {
        Ok(Actor::Visitor(profile)) => ok(&VisitorReply {
            visitor: Some((*profile).clone()),
            error: None,
        }),
        Ok(_) => no_visitor("invalid-token"),
        Err(refusal) if refusal.retry => {
            domain_error(&ChannelError::Store(StoreError::Other(refusal.message)))
        }
        Err(refusal) => no_visitor(refusal.message),
    }
}

async fn livechat_frame(
    svc: web::Data<ChannelService>,
    body: web::Json<FrameCall>,
) -> HttpResponse {
    let call = body.into_inner();
    let actor: Actor = call.actor.into();
    let pending = svc
        .session_dialect()
        .and_then(|d| d.frame(&actor, &call.action, call.payload));
    let reply = match pending {
        None => FrameReply::Unknown,
        Some(pending) => match pending.await {
            Ok(ack) => FrameReply::Ok { ack },
            Err((code, message)) => FrameReply::Error { code, message },
        },
    };
    ok(&reply)
}

async fn livechat_room(
    livechat: web::Data<LivechatService>,
    body: web::Json<RoomCall>,
) -> HttpResponse {
    let (visitor_id, agents) = match livechat.room_access(&body.rid) {
        Some((visitor, agents)) => (Some(visitor), agents),
        None => (None, Vec::new()),
    };
    ok(&RoomReply { visitor_id, agents })
}

async fn livechat_inbox(
    req: HttpRequest,
    livechat: web::Data<LivechatService>,
    inboxes: web::Data<EdgeInboxes>,
    body: web::Json<InboxReport>,
) -> HttpResponse {
    let Some(node) = req.headers().get(NODE_HEADER).and_then(|v| v.to_str().ok()) else {
        return domain_error(&ChannelError::BadRequest(format!(
            "an inbox report needs the {NODE_HEADER} header"
        )));
    };
    inboxes.report(&livechat.into_inner(), node, body.into_inner().agents);
    ok(&serde_json::json!({"ok": true}))
}
