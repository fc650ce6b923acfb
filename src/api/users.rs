//! Users CRUD for admins: `{email, name, password, roles}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::{offset_page, OffsetQuery};
use crate::auth::{password, AuthService, Caller, ROLES};
use crate::error::{ApiError, ApiResult};
use crate::store::StoreError;
use crate::store::{users, Db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/users")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/api/v1/users/{id}")
            .route(web::get().to(detail))
            .route(web::patch().to(update))
            .route(web::put().to(update))
            .route(web::delete().to(delete)),
    );
}

pub fn validate_email(email: &str) -> ApiResult<()> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(())
    } else {
        Err(ApiError::field("email", "Enter a valid email address."))
    }
}

fn validate_roles(roles: &[String]) -> ApiResult<()> {
    match roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        Some(bad) => Err(ApiError::field(
            "roles",
            format!("\"{bad}\" is not a valid role (admin, manager, agent)."),
        )),
        None => Ok(()),
    }
}

fn validate_name(name: &str) -> ApiResult<()> {
    if name.chars().count() > 128 {
        return Err(ApiError::field(
            "name",
            "Ensure this field has no more than 128 characters.",
        ));
    }
    Ok(())
}

async fn list(
    req: HttpRequest,
    caller: Caller,
    db: web::Data<Db>,
    q: web::Query<OffsetQuery>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let (offset, limit) = q.window();
    let rows = db.read(move |c| users::list(c, offset, limit + 1)).await?;
    Ok(HttpResponse::Ok().json(offset_page(&req, rows, offset, limit)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    roles: Vec<String>,
}

async fn create(
    caller: Caller,
    auth: web::Data<AuthService>,
    body: web::Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    validate_email(&body.email)?;
    validate_name(&body.name)?;
    validate_roles(&body.roles)?;
    password::check_strength(&body.password).map_err(|m| ApiError::field("password", m))?;
    let user = auth
        .create_user(&body.email, &body.name, &body.password, body.roles.clone())
        .await?;
    Ok(HttpResponse::Created().json(user))
}

async fn detail(caller: Caller, db: web::Data<Db>, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let user = db
        .read(move |c| users::get(c, id))
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    email: Option<String>,
    name: Option<String>,
    password: Option<String>,
    roles: Option<Vec<String>>,
    active: Option<bool>,
}

async fn update(
    caller: Caller,
    auth: web::Data<AuthService>,
    db: web::Data<Db>,
    id: web::Path<i64>,
    body: web::Json<UpdateUser>,
) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    let body = body.into_inner();
    if let Some(email) = &body.email {
        validate_email(email)?;
    }
    if let Some(name) = &body.name {
        validate_name(name)?;
    }
    if let Some(roles) = &body.roles {
        validate_roles(roles)?;
    }
    let password_hash = match body.password {
        Some(pw) => {
            password::check_strength(&pw).map_err(|m| ApiError::field("password", m))?;
            let phc = tokio::task::spawn_blocking(move || password::hash(&pw))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(ApiError::Internal)?;
            Some(phc)
        }
        None => None,
    };
    let revoke = password_hash.is_some() || body.active == Some(false);
    let changes = users::UserChanges {
        email: body.email.map(|e| e.trim().to_ascii_lowercase()),
        name: body.name,
        password_hash,
        roles: body.roles,
        active: body.active,
    };
    let demotes = changes
        .roles
        .as_ref()
        .is_some_and(|r| !r.iter().any(|x| x == "admin"))
        || changes.active == Some(false);
    let user = db
        .write(move |c| {
            let before = users::get(c, id)?.ok_or(StoreError::NotFound)?;
            let user = users::update(c, id, &changes)?;
            if demotes && before.has_role("admin") && users::count_admins(c)? == 0 {
                return Err(StoreError::Conflict(
                    "The last admin cannot lose the admin role.".into(),
                ));
            }
            Ok(user)
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) if m.contains("email") => ApiError::field("email", m),
            other => other.into(),
        })?;
    if revoke {
        auth.revoke_sessions(id, caller.session_hash.clone())
            .await?;
    }
    Ok(HttpResponse::Ok().json(user))
}

async fn delete(caller: Caller, db: web::Data<Db>, id: web::Path<i64>) -> ApiResult<HttpResponse> {
    caller.require_admin()?;
    let id = id.into_inner();
    db.write(move |c| {
        let user = users::get(c, id)?.ok_or(StoreError::NotFound)?;
        users::delete(c, id)?;
        if user.has_role("admin") && users::count_admins(c)? == 0 {
            return Err(StoreError::Conflict(
                "The last admin cannot be deleted.".into(),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
