//! Login, logout, the caller, and first-run setup. Both rtbox's own login
//! (`/api/v1/auth/login`) and Rocket.Chat's (`/api/v1/login`) are served.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::extract::client_ip;
use crate::auth::{password, AuthService, Caller, LoginError, Principal};
use crate::error::{ApiError, ApiResult};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/auth/login", web::post().to(login))
        .route("/api/v1/auth/logout", web::post().to(logout))
        .route("/api/v1/login", web::post().to(rocket_login))
        .route("/api/v1/logout", web::post().to(rocket_logout))
        .route("/api/v1/me", web::get().to(me))
        .route("/api/v1/setup", web::post().to(setup))
        .route("/api/v1/setup", web::get().to(setup_status));
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
}

async fn login(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    body: web::Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    match auth
        .login(&body.email, &body.password, &client_ip(&req))
        .await
    {
        Ok((token, user)) => Ok(HttpResponse::Ok().json(json!({"token": token, "user": user}))),
        Err(LoginError::InvalidCredentials) => {
            Err(ApiError::Unauthorized("Invalid email or password.".into()))
        }
        Err(LoginError::RateLimited { retry_after }) => Err(ApiError::RateLimited { retry_after }),
        Err(LoginError::Store(e)) => Err(e.into()),
    }
}

async fn logout(auth: web::Data<AuthService>, caller: Caller) -> ApiResult<HttpResponse> {
    if caller.session_hash.is_none() {
        return Err(ApiError::Unauthenticated);
    }
    auth.logout(&caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn rocket_error(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({"status": "error", "error": message, "message": message}))
}

/// Rocket.Chat's `POST /api/v1/login` takes `{user|username|email, password}`.
async fn rocket_login(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    body: web::Bytes,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let parsed: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return rocket_error(StatusCode::BAD_REQUEST, &format!("JSON parse error - {e}")),
    };
    let user = ["user", "username", "email"]
        .iter()
        .find_map(|k| parsed.get(*k).and_then(|v| v.as_str()));
    let password = parsed.get("password").and_then(|v| v.as_str());
    let (Some(user), Some(password)) = (user, password) else {
        return rocket_error(StatusCode::BAD_REQUEST, "Must provide user and password.");
    };
    match auth.login(user, password, &client_ip(&req)).await {
        Ok((token, user)) => HttpResponse::Ok().json(json!({
            "status": "success",
            "data": {"authToken": token, "userId": user.id.to_string(), "me": user}
        })),
        Err(LoginError::InvalidCredentials) => {
            rocket_error(StatusCode::UNAUTHORIZED, "Unauthorized")
        }
        Err(LoginError::RateLimited { retry_after }) => {
            let mut resp = rocket_error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Error, too many requests. Please slow down. You must wait {retry_after} seconds before trying this endpoint again. [error-too-many-requests]"),
            );
            if let Ok(v) = retry_after.to_string().parse() {
                resp.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, v);
            }
            resp
        }
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "login failed on storage");
            rocket_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.")
        }
    }
}

async fn rocket_logout(auth: web::Data<AuthService>, caller: Caller) -> HttpResponse {
    if caller.session_hash.is_none() {
        return rocket_error(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "You must be logged in to do this.",
        );
    }
    match auth.logout(&caller).await {
        Ok(()) => HttpResponse::Ok()
            .json(json!({"status": "success", "data": {"message": "You've been logged out!"}})),
        Err(e) => {
            tracing::error!(error = %e, "logout failed on storage");
            rocket_error(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error.",
            )
        }
    }
}

async fn me(caller: Caller) -> ApiResult<HttpResponse> {
    match &caller.principal {
        Principal::User(u) => Ok(HttpResponse::Ok().json(u.as_ref())),
        Principal::ApiKey(k) => Ok(HttpResponse::Ok().json(json!({"api_key": k}))),
        Principal::Client(c) => Ok(HttpResponse::Ok().json(json!({"client": c}))),
        Principal::Anonymous => Err(ApiError::Unauthenticated),
    }
}

#[derive(Deserialize)]
struct SetupBody {
    token: String,
    email: String,
    password: String,
    #[serde(default)]
    name: String,
}

/// Creates the first admin with the one-time token printed at first start, and logs in.
async fn setup(
    auth: web::Data<AuthService>,
    body: web::Json<SetupBody>,
) -> ApiResult<HttpResponse> {
    crate::api::users::validate_email(&body.email)?;
    password::check_strength(&body.password).map_err(|m| ApiError::field("password", m))?;
    let user = auth
        .complete_setup(&body.token, &body.email, &body.name, &body.password)
        .await?;
    tracing::info!(user_id = user.id, "first admin created through setup");
    let token = auth.open_session(user.id).await?;
    Ok(HttpResponse::Created().json(json!({"token": token, "user": user})))
}

/// Whether the first-run setup is still open (for the admin UI).
async fn setup_status(auth: web::Data<AuthService>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"setup_required": auth.setup_pending()})))
}
