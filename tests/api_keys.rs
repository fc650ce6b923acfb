//! API keys for backends: created by an admin, secret shown once, accepted as
//! `X-API-KEY`, `?api_key=` and `Authorization: Bearer`; deleted keys stop working.

mod common;
use common::*;

#[test]
fn an_admin_creates_a_key_whose_secret_is_shown_once() {
    let s = Server::start();
    let admin = s.admin_token();
    let created = s
        .post("/api/v1/keys")
        .bearer_auth(&admin)
        .json(&json!({"name": "billing backend", "role": "publish"}))
        .call()
        .expect(201);
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("rtk_") && key.len() > 40, "{key}");
    assert_eq!(created["name"], "billing backend");
    assert_eq!(created["role"], "publish");
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));

    let list = s.get("/api/v1/keys").bearer_auth(&admin).call();
    assert_eq!(list.status, 200);
    assert!(
        !list.text.contains(key),
        "the list must not reveal secrets: {}",
        list.text
    );
    let listed = &list.json["objects"][0];
    assert_eq!(listed["id"], created["id"]);
    assert!(listed.get("key").is_none());

    // Only a hash is stored.
    let conn = rusqlite::Connection::open(s.db_path()).unwrap();
    let stored: String = conn
        .query_row("SELECT key_hash FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert_ne!(stored, key);
    assert!(!stored.contains(&key[4..]));
}

#[test]
fn a_key_is_accepted_in_every_transport_until_it_is_deleted() {
    let s = Server::start();
    let admin = s.admin_token();
    let k = s.create_key(&admin, "backend", "admin");

    let transports = |s: &Server, key: &str| {
        vec![
            s.get("/api/v1/me").header("X-API-KEY", key).call(),
            s.get(&format!("/api/v1/me?api_key={key}")).call(),
            s.get("/api/v1/me").bearer_auth(key).call(),
        ]
    };
    for r in transports(&s, &k.key) {
        let body = r.expect(200);
        assert_eq!(
            body["api_key"],
            json!({"id": k.id, "name": "backend", "role": "admin"})
        );
    }
    // An admin key can manage keys.
    s.get("/api/v1/keys")
        .header("X-API-KEY", &k.key)
        .call()
        .expect(200);

    assert_eq!(
        s.delete(&format!("/api/v1/keys/{}", k.id))
            .bearer_auth(&admin)
            .call()
            .status,
        204
    );
    for r in transports(&s, &k.key) {
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.json, json!({"detail": "No such API Key."}));
    }
    assert_eq!(
        s.delete(&format!("/api/v1/keys/{}", k.id))
            .bearer_auth(&admin)
            .call()
            .status,
        404
    );
}

#[test]
fn an_unknown_key_is_403_even_where_no_credentials_are_needed() {
    let s = Server::start();
    for r in [
        s.get("/api/v1/me").header("X-API-KEY", "rtk_nope").call(),
        s.get("/api/v1/me?api_key=whatever").call(),
        s.get("/api/v1/me").bearer_auth("rtk_nope").call(),
    ] {
        assert_eq!(r.status, 403);
        assert_eq!(r.json, json!({"detail": "No such API Key."}));
    }
}

#[test]
fn a_deleted_key_stays_deleted_after_a_restart() {
    let mut s = Server::start();
    let admin = s.admin_token();
    let gone = s.create_key(&admin, "old", "publish");
    let kept = s.create_key(&admin, "new", "publish");
    s.delete(&format!("/api/v1/keys/{}", gone.id))
        .bearer_auth(&admin)
        .call()
        .expect(204);
    s.restart();
    assert_eq!(
        s.get("/api/v1/me")
            .header("X-API-KEY", &gone.key)
            .call()
            .status,
        403
    );
    s.get("/api/v1/me")
        .header("X-API-KEY", &kept.key)
        .call()
        .expect(200);
}

#[test]
fn key_input_is_validated() {
    let s = Server::start();
    let admin = s.admin_token();
    let post = |body: Value| {
        s.post("/api/v1/keys")
            .bearer_auth(&admin)
            .json(&body)
            .call()
    };

    let r = post(json!({"name": "x", "role": "superuser"}));
    assert_eq!(r.status, 400);
    assert!(
        r.json["role"].as_str().unwrap().contains("admin, publish"),
        "{}",
        r.text
    );
    let r = post(json!({"role": "publish"}));
    assert_eq!(r.json, json!({"name": "This field is required."}));
    let r = post(json!({"name": "   "}));
    assert_eq!(r.status, 400);
    assert!(r.json["name"].is_string());
    let r = post(json!({"name": "defaults"}));
    assert_eq!(r.expect(201)["role"], "publish", "role defaults to publish");
}
