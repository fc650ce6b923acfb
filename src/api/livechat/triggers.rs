//! Livechat triggers, exactly Rocket.Chat's REST API: list / get / create-or-update /
//! delete (managers), the external-service call (visitors, 10 per minute) and the
//! external-service test (managers).

use actix_web::{web, HttpRequest};
use serde_json::{json, Value};

use super::{
    ip_limit, json_body, object_body, ok, only_keys, req_str, staff, token_limit, Query, Reply,
    Result, Svc,
};
use crate::livechat::settings::Scope;
use crate::livechat::LivechatError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/triggers", web::get().to(list))
        .route("/triggers", web::post().to(save))
        .route("/triggers/external-service/test", web::post().to(test))
        .route("/triggers/{id}", web::get().to(get))
        .route("/triggers/{id}", web::delete().to(delete))
        .route("/triggers/{id}/external-service/call", web::post().to(call));
}

async fn list(req: HttpRequest, svc: Svc) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let q = Query::of(&req);
    let (offset, count) = q.paging()?;
    let sort: Value = match q.get("sort") {
        None => json!({"name": 1}),
        Some(s) => serde_json::from_str(s)
            .map_err(|_| LivechatError::invalid("sort must be a JSON object"))?,
    };
    let Some(sort) = sort.as_object().filter(|o| o.len() <= 3) else {
        return Err(LivechatError::invalid("sort must be a JSON object"));
    };
    let mut keys = Vec::new();
    for (k, dir) in sort {
        let dir = match dir.as_i64() {
            Some(1) => 1,
            Some(-1) => -1,
            _ => return Err(LivechatError::invalid("sort values must be 1 or -1")),
        };
        if ![
            "name",
            "description",
            "enabled",
            "runOnce",
            "_updatedAt",
            "_createdAt",
            "_id",
        ]
        .contains(&k.as_str())
        {
            return Err(LivechatError::invalid("sort field is not allowed"));
        }
        keys.push((k.clone(), dir));
    }
    caller.require_manager()?;
    let mut all: Vec<Value> = svc.triggers().iter().map(|t| t.json()).collect();
    all.sort_by(|a, b| {
        for (k, dir) in &keys {
            let ord = compare(&a[k], &b[k]);
            if ord != std::cmp::Ordering::Equal {
                return if *dir < 0 { ord.reverse() } else { ord };
            }
        }
        std::cmp::Ordering::Equal
    });
    let total = all.len();
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset as usize)
        .take(count as usize)
        .collect();
    Ok(ok(
        json!({"triggers": page, "count": page.len(), "offset": offset, "total": total}),
    ))
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

async fn get(req: HttpRequest, svc: Svc, id: web::Path<String>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    caller.require_manager()?;
    let trigger = svc.trigger(&id).map(|t| t.json());
    Ok(ok(json!({"trigger": trigger})))
}

async fn save(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let value = json_body(&body)?;
    // Validation comes before permission, as in Rocket.Chat.
    crate::livechat::triggers::parse_body(&value)?;
    caller.require_manager()?;
    svc.save_trigger(&value).await?;
    Ok(ok(json!({})))
}

async fn delete(req: HttpRequest, svc: Svc, id: web::Path<String>) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    caller.require_manager()?;
    if !svc.delete_trigger(&id).await? {
        return Err(LivechatError::coded(
            "error-invalid-trigger",
            "Trigger not found",
        ));
    }
    Ok(ok(json!({})))
}

async fn call(
    req: HttpRequest,
    svc: Svc,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<Reply> {
    let ip = ip_limit(&req, &svc)?;
    let o = object_body(&body)?;
    let token = req_str(&o, "token")?;
    let quotas = token_limit(&svc, &token, ip)?;
    let call_quota = svc.limits.check(Scope::ServiceCall, &token)?;
    only_keys(&o, &["token", "extraData"])?;
    let extra = extra_data(o.get("extraData"))?;
    svc.visitor_by_token(&token).await?;
    let trigger = svc.trigger(&id).ok_or(LivechatError::coded(
        "error-invalid-trigger",
        "Invalid trigger",
    ))?;
    let (success, mut body) = svc.call_external(&trigger, &token, extra).await?;
    body["triggerId"] = json!(id.as_str());
    let quotas = if call_quota.remaining < quotas.remaining {
        call_quota
    } else {
        quotas
    };
    if !success {
        body["success"] = json!(false);
        return Err(LivechatError::ExternalService(body));
    }
    Ok(ok(body).with(Some(quotas)))
}

fn extra_data(v: Option<&Value>) -> Result<Value> {
    match v {
        None | Some(Value::Null) => Ok(json!([])),
        Some(Value::Array(items)) => {
            if items.len() > 50 {
                return Err(LivechatError::invalid(
                    "extraData must NOT have more than 50 items",
                ));
            }
            for item in items {
                let o = item
                    .as_object()
                    .ok_or_else(|| LivechatError::invalid("extraData items must be object"))?;
                req_str(o, "key")?;
                if !o.contains_key("value") {
                    return Err(LivechatError::invalid(
                        "must have required property 'value'",
                    ));
                }
            }
            Ok(Value::Array(items.clone()))
        }
        Some(_) => Err(LivechatError::invalid("extraData must be array")),
    }
}

async fn test(req: HttpRequest, svc: Svc, body: web::Bytes) -> Result<Reply> {
    let caller = staff(&req, &svc).await?;
    let o = object_body(&body)?;
    let url = req_str(&o, "webhookUrl")?;
    let timeout = match o.get("timeout") {
        None => {
            return Err(LivechatError::invalid(
                "must have required property 'timeout'",
            ))
        }
        Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
        Some(Value::String(s)) => s
            .parse::<f64>()
            .map_err(|_| LivechatError::invalid("timeout must be number"))?,
        Some(_) => return Err(LivechatError::invalid("timeout must be number")),
    };
    let fallback = req_str(&o, "fallbackMessage")?;
    only_keys(
        &o,
        &["webhookUrl", "timeout", "fallbackMessage", "extraData"],
    )?;
    let extra = extra_data(o.get("extraData"))?;
    if !(1.0..=30_000.0).contains(&timeout) {
        return Err(LivechatError::invalid(
            "timeout must be between 1 and 30000 milliseconds",
        ));
    }
    match url::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => return Err(LivechatError::invalid("webhookUrl must be an http(s) URL")),
    }
    caller.require_manager()?;
    let (success, mut body) = svc
        .test_external(url, timeout as u64, &fallback, extra)
        .await;
    body["triggerId"] = json!("test-trigger");
    if !success {
        body["success"] = json!(false);
        return Err(LivechatError::ExternalService(body));
    }
    Ok(ok(body))
}
