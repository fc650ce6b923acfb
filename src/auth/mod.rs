//! Identity: who is calling (dashboard user, API key, client token, anonymous) and what
//! they may do. Holds the API-key cache, the client-token secret, the one-time setup
//! token and the login limits.

pub mod extract;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod secrets;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use parking_lot::{Mutex, RwLock};
use rand::RngCore;
use serde::Serialize;

use crate::config::Settings;
use crate::error::{ApiError, NO_SUCH_KEY};
use crate::store::StoreError;
use crate::store::{self, keys, sessions, settings as kv, users, Db};
use jwt::{ClientClaims, TokenError};
use ratelimit::KeyedLimit;
pub use store::users::User;

pub const ROLES: [&str; 3] = ["admin", "manager", "agent"];
pub const KEY_ROLES: [&str; 2] = ["admin", "publish"];

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
}

/// The authenticated party behind a request or a WebSocket.
#[derive(Debug, Clone)]
pub enum Principal {
    User(Arc<User>),
    ApiKey(ApiKeyInfo),
    Client(Arc<ClientClaims>),
    Anonymous,
}

/// A principal plus how it authenticated (the session hash, so logout can revoke it).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub session_hash: Option<String>,
}

impl Caller {
    pub fn anonymous() -> Caller {
        Caller {
            principal: Principal::Anonymous,
            session_hash: None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self.principal, Principal::Anonymous)
    }

    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(u) => Some(u),
            _ => None,
        }
    }

    /// Admin user or admin API key.
    pub fn is_admin(&self) -> bool {
        match &self.principal {
            Principal::User(u) => u.has_role("admin"),
            Principal::ApiKey(k) => k.role == "admin",
            _ => false,
        }
    }

    /// Server-side publishers: admins and `publish` keys.
    pub fn is_server_publisher(&self) -> bool {
        self.is_admin() || matches!(&self.principal, Principal::ApiKey(k) if k.role == "publish")
    }

    pub fn has_any_role(&self, roles: &[&str]) -> bool {
        match &self.principal {
            Principal::User(u) => roles.iter().any(|r| u.has_role(r)),
            Principal::ApiKey(k) => k.role == "admin",
            _ => false,
        }
    }

    /// 401 for anonymous callers, 403 for authenticated ones lacking the right.
    pub fn require(&self, allowed: bool) -> Result<(), ApiError> {
        if allowed {
            Ok(())
        } else if self.is_anonymous() {
            Err(ApiError::Unauthenticated)
        } else {
            Err(ApiError::forbidden())
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(self.is_admin())
    }

    pub fn require_authenticated(&self) -> Result<(), ApiError> {
        self.require(!self.is_anonymous())
    }
}

/// Credentials a request or a WebSocket upgrade offered, before they are checked.
#[derive(Debug, Default)]
pub struct Credentials {
    pub api_key: Option<String>,
    pub bearer: Option<String>,
    pub auth_token: Option<String>,
    pub user_id: Option<String>,
}

struct SetupToken {
    hash: String,
    expires: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Invalid email or password.")]
    InvalidCredentials,
    #[error("Too many login attempts.")]
    RateLimited { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct AuthService {
    db: Db,
    keys: RwLock<HashMap<String, ApiKeyInfo>>,
    client_secret: RwLock<Arc<Vec<u8>>>,
    setup: Mutex<Option<SetupToken>>,
    login_by_ip: KeyedLimit,
    login_by_account: KeyedLimit,
    session_ttl: Duration,
    setup_ttl: Duration,
    /// Where dashboard sessions live when not in this node's database (cluster edges).
    session_source: std::sync::OnceLock<Arc<dyn SessionSource>>,
}

/// Looks dashboard sessions up elsewhere (a cluster edge asks the primary).
pub trait SessionSource: Send + Sync + 'static {
    /// The user of the live session whose token hashes to `token_hash`.
    fn user_for_session<'a>(
        &'a self,
        token_hash: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Option<User>, StoreError>>;
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))
}

impl AuthService {
    /// Loads API keys into memory and makes sure a client-token secret exists.
    pub async fn start(db: Db, settings: &Settings) -> Result<AuthService, StoreError> {
        let keys = db.read(keys::list).await?;
        let secret = db
            .write(|c| match kv::get(c, kv::CLIENT_TOKEN_SECRET)? {
                Some(s) => Ok(s),
                None => {
                    let s = random_secret();
                    kv::set(c, kv::CLIENT_TOKEN_SECRET, &s)?;
                    Ok(s)
                }
            })
            .await?;
        Ok(AuthService {
            db,
            keys: RwLock::new(
                keys.into_iter()
                    .map(|k| {
                        (
                            k.key_hash.clone(),
                            ApiKeyInfo {
                                id: k.id,
                                name: k.name,
                                role: k.role,
                            },
                        )
                    })
                    .collect(),
            ),
            client_secret: RwLock::new(Arc::new(secret.into_bytes())),
            setup: Mutex::new(None),
            login_by_ip: KeyedLimit::per_minute(settings.login_per_ip_per_minute),
            login_by_account: KeyedLimit::per_minute(settings.login_per_account_per_minute),
            session_ttl: settings.session_ttl,
            setup_ttl: settings.setup_token_ttl,
            session_source: std::sync::OnceLock::new(),
        })
    }

    /// Resolves offered credentials. Offered-but-wrong credentials are an error (never a
    /// silent downgrade to anonymous): an unknown key is 403 "No such API Key.", an
    /// unknown or expired session is 401.
    pub async fn authenticate(&self, creds: Credentials) -> Result<Caller, ApiError> {
        if let Some(key) = creds.api_key.as_deref() {
            return self.api_key(key).map(|k| Caller {
                principal: Principal::ApiKey(k),
                session_hash: None,
            });
        }
        if let Some(bearer) = creds.bearer.as_deref() {
            if bearer.starts_with(secrets::API_KEY_PREFIX) {
                return self.api_key(bearer).map(|k| Caller {
                    principal: Principal::ApiKey(k),
                    session_hash: None,
                });
            }
            return self.session(bearer, None).await;
        }
        if let Some(token) = creds.auth_token.as_deref() {
            return self.session(token, creds.user_id.as_deref()).await;
        }
        Ok(Caller::anonymous())
    }

    fn api_key(&self, key: &str) -> Result<ApiKeyInfo, ApiError> {
        self.keys
            .read()
            .get(&secrets::hash(key))
            .cloned()
            .ok_or_else(|| ApiError::Forbidden(NO_SUCH_KEY.to_string()))
    }

    async fn session(&self, token: &str, user_id: Option<&str>) -> Result<Caller, ApiError> {
        let hash = secrets::hash(token);
        let h = hash.clone();
        let now = store::now_unix();
        let user = match self.session_source.get() {
            Some(source) => source.user_for_session(&hash).await?,
            None => {
                self.db
                    .read(move |c| match sessions::lookup(c, &h, now)? {
                        Some(uid) => users::get(c, uid),
                        None => Ok(None),
                    })
                    .await?
            }
        };
        let invalid = || ApiError::Unauthorized("Invalid or expired session token.".into());
        let user = user.filter(|u| u.active).ok_or_else(invalid)?;
        if let Some(claimed) = user_id {
            if claimed != user.id.to_string() {
                return Err(invalid());
            }
        }
        Ok(Caller {
            principal: Principal::User(Arc::new(user)),
            session_hash: Some(hash),
        })
    }

    /// Checks limits, then the password; on success opens a session → (token, user).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: &str,
    ) -> Result<(String, User), LoginError> {
        let email = email.trim().to_ascii_lowercase();
        self.login_by_ip
            .check(ip)
            .map_err(|retry_after| LoginError::RateLimited { retry_after })?;
        self.login_by_account
            .check(&email)
            .map_err(|retry_after| LoginError::RateLimited { retry_after })?;
        let e = email.clone();
        let user = self.db.read(move |c| users::by_email(c, &e)).await?;
        let password = password.to_string();
        let ok = match user {
            Some(user) if user.active => {
                let phc = user.password_hash.clone();
                let valid = tokio::task::spawn_blocking(move || password::verify(&password, &phc))
                    .await
                    .unwrap_or(false);
                valid.then_some(user)
            }
            _ => {
                let _ =
                    tokio::task::spawn_blocking(move || password::verify_dummy(&password)).await;
                None
            }
        };
        match ok {
            Some(user) => {
                let token = self.open_session(user.id).await?;
                tracing::info!(user_id = user.id, %ip, "login");
                Ok((token, user))
            }
            None => {
                tracing::warn!(email = %email, %ip, "failed login");
                metrics::counter!("rtbox_login_failures_total").increment(1);
                Err(LoginError::InvalidCredentials)
            }
        }
    }

    pub async fn open_session(&self, user_id: i64) -> Result<String, StoreError> {
        let token = secrets::generate(secrets::SESSION_PREFIX);
        let hash = secrets::hash(&token);
        let expires = store::now_unix() + self.session_ttl.as_secs() as i64;
        self.db
            .write(move |c| {
                sessions::delete_expired(c, store::now_unix())?;
                sessions::insert(c, user_id, &hash, expires)
            })
            .await?;
        Ok(token)
    }

    pub async fn logout(&self, caller: &Caller) -> Result<(), StoreError> {
        if let Some(hash) = caller.session_hash.clone() {
            self.db.write(move |c| sessions::delete(c, &hash)).await?;
        }
        Ok(())
    }

    /// Revokes a user's sessions except `keep` (after a password change or deletion).
    pub async fn revoke_sessions(
        &self,
        user_id: i64,
        keep: Option<String>,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |c| sessions::delete_for_user(c, user_id, keep.as_deref()))
            .await?;
        Ok(())
    }

    // ---- first-run setup -------------------------------------------------------------

    /// When no admin exists yet, issues a one-time setup token and returns it.
    pub async fn issue_setup_token_if_needed(&self) -> Result<Option<String>, StoreError> {
        let admins = self.db.read(users::count_admins).await?;
        if admins > 0 {
            return Ok(None);
        }
        let token = random_secret();
        *self.setup.lock() = Some(SetupToken {
            hash: secrets::hash(&token),
            expires: Instant::now() + self.setup_ttl,
        });
        Ok(Some(token))
    }

    /// Whether a setup token is waiting to be used.
    pub fn setup_pending(&self) -> bool {
        self.setup
            .lock()
            .as_ref()
            .is_some_and(|s| s.expires > Instant::now())
    }

    /// Consumes the setup token (single use) and creates the first admin.
    pub async fn complete_setup(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
    ) -> Result<User, ApiError> {
        {
            let mut slot = self.setup.lock();
            let valid = slot.as_ref().is_some_and(|s| {
                s.expires > Instant::now() && secrets::equal(&s.hash, &secrets::hash(token))
            });
            if !valid {
                return Err(ApiError::Forbidden(
                    "Invalid or expired setup token.".into(),
                ));
            }
            slot.take();
        }
        let admins = self.db.read(users::count_admins).await?;
        if admins > 0 {
            return Err(ApiError::Conflict(
                "Setup has already been completed.".into(),
            ));
        }
        self.create_user(email, name, password, vec!["admin".into()])
            .await
    }

    // ---- users ---------------------------------------------------------------------

    pub async fn create_user(
        &self,
        email: &str,
        name: &str,
        password: &str,
        roles: Vec<String>,
    ) -> Result<User, ApiError> {
        let email = email.trim().to_ascii_lowercase();
        let name = name.to_string();
        let password = password.to_string();
        let phc = blocking(move || password::hash(&password))
            .await?
            .map_err(ApiError::Internal)?;
        let user = self
            .db
            .write(move |c| {
                users::insert(
                    c,
                    &users::NewUser {
                        email: &email,
                        name: &name,
                        password_hash: &phc,
                        roles: &roles,
                    },
                )
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(msg) => ApiError::field("email", msg),
                other => other.into(),
            })?;
        Ok(user)
    }

    // ---- API keys ------------------------------------------------------------------

    /// Creates a key; returns the record and the secret (shown once).
    pub async fn create_key(
        &self,
        name: &str,
        role: &str,
    ) -> Result<(keys::ApiKeyRecord, String), StoreError> {
        let key = secrets::generate(secrets::API_KEY_PREFIX);
        let hash = secrets::hash(&key);
        let prefix: String = key.chars().take(10).collect();
        let (n, r) = (name.to_string(), role.to_string());
        let record = self
            .db
            .write(move |c| keys::insert(c, &n, &r, &hash, &prefix))
            .await?;
        self.keys.write().insert(
            record.key_hash.clone(),
            ApiKeyInfo {
                id: record.id,
                name: record.name.clone(),
                role: record.role.clone(),
            },
        );
        Ok((record, key))
    }

    pub async fn delete_key(&self, id: i64) -> Result<(), StoreError> {
        self.db.write(move |c| keys::delete(c, id)).await?;
        self.keys.write().retain(|_, k| k.id != id);
        Ok(())
    }

    // ---- client tokens -------------------------------------------------------------

    pub fn verify_client_token(&self, token: &str) -> Result<ClientClaims, TokenError> {
        let secret = self.client_secret.read().clone();
        jwt::verify(token, &secret)
    }

    pub fn mint_client_token(&self, claims: &ClientClaims) -> Result<String, String> {
        let secret = self.client_secret.read().clone();
        jwt::sign(claims, &secret)
    }

    /// A new secret; every token signed with the old one stops working. Returned once.
    pub async fn rotate_client_secret(&self) -> Result<String, StoreError> {
        let secret = random_secret();
        let s = secret.clone();
        self.db
            .write(move |c| kv::set(c, kv::CLIENT_TOKEN_SECRET, &s))
            .await?;
        *self.client_secret.write() = Arc::new(secret.clone().into_bytes());
        Ok(secret)
    }

    /// Looks sessions up in `source` instead of this node's database (once, at start).
    pub fn set_session_source(&self, source: Arc<dyn SessionSource>) {
        let _ = self.session_source.set(source);
    }

    /// The user of a live session by token hash, from this node's database.
    pub async fn user_for_session_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let (h, now) = (token_hash.to_string(), store::now_unix());
        self.db
            .read(move |c| match sessions::lookup(c, &h, now)? {
                Some(uid) => users::get(c, uid),
                None => Ok(None),
            })
            .await
    }

    /// Replaces the API-key cache (a node that follows another's keys): `(key hash, key)`.
    pub fn replace_keys(&self, keys: Vec<(String, ApiKeyInfo)>) {
        *self.keys.write() = keys.into_iter().collect();
    }

    /// Uses `secret` for client tokens from now on, without storing it (a node that
    /// follows another's secret).
    pub fn follow_client_secret(&self, secret: &str) {
        if self.client_secret.read().as_slice() != secret.as_bytes() {
            *self.client_secret.write() = Arc::new(secret.as_bytes().to_vec());
        }
    }

    /// Periodic housekeeping: forget idle rate-limit keys.
    pub fn housekeeping(&self) {
        self.login_by_ip.forget_idle();
        self.login_by_account.forget_idle();
    }
}
