//! Dashboard identity: login, Rocket.Chat login, sessions (expiry, logout), login rate
//! limits, and the first-run setup link.

mod common;
use common::*;

use std::time::Duration;

#[test]
fn an_admin_logs_in_and_sees_themself() {
    let s = Server::start();
    s.admin_token();
    let body = s.try_login("ADMIN@example.com ", PASSWORD).expect(200);
    let token = body["token"].as_str().unwrap();
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
    assert!(body["user"].get("password_hash").is_none(), "{body}");

    let me = s.get("/api/v1/me").bearer_auth(token).call().expect(200);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["roles"], json!(["admin"]));

    // Sessions are stored hashed: the token itself is nowhere in the database.
    let conn = rusqlite::Connection::open(s.db_path()).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM sessions WHERE token_hash = ?1",
            [token],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let hash: String = conn
        .query_row(
            "SELECT password_hash FROM users WHERE email = ?1",
            [ADMIN_EMAIL],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[test]
fn a_wrong_password_and_an_unknown_user_get_the_same_401_and_are_logged() {
    let s = Server::start();
    s.admin_token();
    let wrong = s.try_login(ADMIN_EMAIL, "not the password");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json, json!({"detail": "Invalid email or password."}));
    let unknown = s.try_login("ghost@example.com", PASSWORD);
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.json, wrong.json);
    assert!(
        s.wait_for_log("failed login", Duration::from_secs(2)),
        "{}",
        s.stderr_text()
    );
    assert!(s.stderr_text().contains("ghost@example.com"));
}

#[test]
fn a_bad_session_token_is_401_not_anonymous() {
    let s = Server::start();
    let r = s.get("/api/v1/me").bearer_auth("rts_made-up").call();
    assert_eq!(r.status, 401);
    assert_eq!(r.detail(), "Invalid or expired session token.");
    let r = s.get("/api/v1/me").call();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json,
        json!({"detail": "Authentication credentials were not provided."})
    );
}

#[test]
fn login_is_rate_limited_per_ip_with_retry_after() {
    let s = Server::start_with(
        &[
            "--login-per-ip-per-minute",
            "3",
            "--login-per-account-per-minute",
            "100",
        ],
        &[],
    );
    s.admin_token(); // created through the setup link: not a login
    assert_eq!(s.try_login("a@example.com", "wrong-password").status, 401);
    assert_eq!(s.try_login("b@example.com", "wrong-password").status, 401);
    assert_eq!(s.try_login(ADMIN_EMAIL, PASSWORD).status, 200);

    // The fourth attempt from this IP is refused, even with the right password.
    let r = s.try_login(ADMIN_EMAIL, PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(r.detail().contains("throttled"), "{}", r.text);

    // Rocket.Chat's login shares the limit and answers in its own dialect.
    let r = s
        .post("/api/v1/login")
        .json(&json!({"user": ADMIN_EMAIL, "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json["status"], "error");
    assert!(r.json["error"]
        .as_str()
        .unwrap()
        .contains("[error-too-many-requests]"));
}

#[test]
fn login_is_rate_limited_per_account() {
    let s = Server::start_with(
        &[
            "--login-per-account-per-minute",
            "2",
            "--login-per-ip-per-minute",
            "100",
        ],
        &[],
    );
    let admin = s.admin_token();
    s.create_user(&admin, "agent@example.com", PASSWORD, &["agent"]);

    assert_eq!(s.try_login(ADMIN_EMAIL, "guess-one").status, 401);
    assert_eq!(s.try_login("Admin@Example.com", "guess-two").status, 401);
    let r = s.try_login(ADMIN_EMAIL, PASSWORD);
    assert_eq!(
        r.status, 429,
        "the account is locked for a while: {}",
        r.text
    );
    assert!(r.header("retry-after").is_some());

    // Other accounts from the same IP are not affected.
    assert_eq!(s.try_login("agent@example.com", PASSWORD).status, 200);
}

#[test]
fn sessions_expire() {
    let s = Server::start_with(&["--session-ttl-seconds", "1"], &[]);
    let token = s.admin_token();
    s.get("/api/v1/me").bearer_auth(&token).call().expect(200);
    std::thread::sleep(Duration::from_millis(2100));
    let r = s.get("/api/v1/me").bearer_auth(&token).call();
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.detail(), "Invalid or expired session token.");
}

#[test]
fn logout_revokes_only_that_session() {
    let s = Server::start();
    s.admin_token();
    let laptop = s.login(ADMIN_EMAIL, PASSWORD);
    let phone = s.login(ADMIN_EMAIL, PASSWORD);

    let r = s.post("/api/v1/auth/logout").bearer_auth(&laptop).call();
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(s.get("/api/v1/me").bearer_auth(&laptop).call().status, 401);
    assert_eq!(
        s.post("/api/v1/auth/logout")
            .bearer_auth(&laptop)
            .call()
            .status,
        401
    );
    s.get("/api/v1/me").bearer_auth(&phone).call().expect(200);

    // Logging out needs a session.
    assert_eq!(s.post("/api/v1/auth/logout").call().status, 401);
}

#[test]
fn rocket_chat_clients_log_in_use_headers_and_log_out() {
    let s = Server::start();
    s.admin_token();

    for field in ["user", "username", "email"] {
        let r = s
            .post("/api/v1/login")
            .json(&json!({field: ADMIN_EMAIL, "password": PASSWORD}))
            .call();
        let body = r.expect(200);
        assert_eq!(body["status"], "success");
        assert!(body["data"]["authToken"].is_string());
        assert!(
            body["data"]["userId"].is_string(),
            "userId is a string in Rocket.Chat"
        );
        assert_eq!(body["data"]["me"]["email"], ADMIN_EMAIL);
    }

    let body = s
        .post("/api/v1/login")
        .json(&json!({"user": ADMIN_EMAIL, "password": PASSWORD}))
        .call()
        .expect(200);
    let token = body["data"]["authToken"].as_str().unwrap().to_string();
    let user_id = body["data"]["userId"].as_str().unwrap().to_string();

    let me = s
        .get("/api/v1/me")
        .header("X-Auth-Token", &token)
        .header("X-User-Id", &user_id)
        .call()
        .expect(200);
    assert_eq!(me["email"], ADMIN_EMAIL);

    // A token presented with somebody else's user id is refused.
    let r = s
        .get("/api/v1/me")
        .header("X-Auth-Token", &token)
        .header("X-User-Id", "999999")
        .call();
    assert_eq!(r.status, 401);

    // The same session works as a Bearer token too.
    s.get("/api/v1/me").bearer_auth(&token).call().expect(200);

    let out = s
        .post("/api/v1/logout")
        .header("X-Auth-Token", &token)
        .header("X-User-Id", &user_id)
        .call()
        .expect(200);
    assert_eq!(out["status"], "success");
    let r = s
        .get("/api/v1/me")
        .header("X-Auth-Token", &token)
        .header("X-User-Id", &user_id)
        .call();
    assert_eq!(r.status, 401);
    let r = s.post("/api/v1/logout").call();
    assert_eq!(r.status, 401);
    assert_eq!(r.json["status"], "error");
}

#[test]
fn rocket_chat_login_failures_use_its_error_shape() {
    let s = Server::start();
    s.admin_token();
    let r = s
        .post("/api/v1/login")
        .json(&json!({"user": ADMIN_EMAIL, "password": "wrong-password"}))
        .call();
    assert_eq!(r.status, 401);
    assert_eq!(r.json["status"], "error");
    assert_eq!(r.json["error"], "Unauthorized");

    let r = s
        .post("/api/v1/login")
        .json(&json!({"user": ADMIN_EMAIL}))
        .call();
    assert_eq!(r.status, 400);
    assert_eq!(r.json["status"], "error");

    let r = s.post("/api/v1/login").body("{not json").call();
    assert_eq!(r.status, 400);
    assert_eq!(r.json["status"], "error");
}

// ---- first-run setup -----------------------------------------------------------------

#[test]
fn the_setup_link_creates_the_first_admin_once() {
    let mut s = Server::start();
    let token = s
        .setup_token
        .clone()
        .expect("setup link printed at first start");
    let status = s.get("/api/v1/setup").call().expect(200);
    assert_eq!(status["setup_required"], true);

    let r = s
        .post("/api/v1/setup")
        .json(&json!({"token": "guessed", "email": "first@example.com", "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 403);
    assert_eq!(r.detail(), "Invalid or expired setup token.");

    // A weak password is a 400 and does not burn the token.
    let r = s
        .post("/api/v1/setup")
        .json(&json!({"token": token, "email": "first@example.com", "password": "short"}))
        .call();
    assert_eq!(r.status, 400);
    assert!(r.json["password"].is_string(), "{}", r.text);

    let body = s
        .post("/api/v1/setup")
        .json(&json!({"token": token, "email": "first@example.com", "password": PASSWORD}))
        .call()
        .expect(201);
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    let session = body["token"].as_str().unwrap();
    s.get("/api/v1/me").bearer_auth(session).call().expect(200);

    // Single use.
    let r = s
        .post("/api/v1/setup")
        .json(&json!({"token": token, "email": "second@example.com", "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 403);
    assert_eq!(
        s.get("/api/v1/setup").call().expect(200)["setup_required"],
        false
    );
    assert_eq!(s.try_login("second@example.com", PASSWORD).status, 401);

    // With an admin in the database, no new link is printed at the next start.
    s.restart();
    assert!(s.setup_token.is_none(), "{:?}", s.stdout_lines());
    s.login("first@example.com", PASSWORD);
}

#[test]
fn the_setup_token_expires() {
    let s = Server::start_with(&["--setup-token-ttl-seconds", "1"], &[]);
    let token = s.setup_token.clone().unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let r = s
        .post("/api/v1/setup")
        .json(&json!({"token": token, "email": "late@example.com", "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(
        s.get("/api/v1/setup").call().expect(200)["setup_required"],
        false
    );
}

#[test]
fn setup_is_closed_once_an_admin_was_created_from_the_cli() {
    let s = Server::start();
    let token = s.setup_token.clone().unwrap();
    assert!(s
        .cli_create_admin("cli@example.com", PASSWORD)
        .status
        .success());
    let r = s
        .post("/api/v1/setup")
        .json(&json!({"token": token, "email": "web@example.com", "password": PASSWORD}))
        .call();
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(s.try_login("web@example.com", PASSWORD).status, 401);
}
