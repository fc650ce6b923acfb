//! Admins manage dashboard users: create, list, read, update, deactivate, delete.

mod common;
use common::*;

#[test]
fn an_admin_creates_lists_updates_and_deletes_a_user() {
    let s = Server::start();
    let admin = s.admin_token();

    let created = s
        .post("/api/v1/users")
        .bearer_auth(&admin)
        .json(&json!({"email": "Mia@Example.com", "name": "Mia", "password": PASSWORD, "roles": ["agent"]}))
        .call()
        .expect(201);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["email"], "mia@example.com");
    assert_eq!(created["roles"], json!(["agent"]));
    assert_eq!(created["active"], true);
    assert!(created.get("password_hash").is_none() && created.get("password").is_none());

    let list = s
        .get("/api/v1/users")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    let emails: Vec<&str> = list["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, vec![ADMIN_EMAIL, "mia@example.com"]);
    assert!(list["next"].is_null() && list["prev"].is_null());

    let page = s
        .get("/api/v1/users?page_size=1")
        .bearer_auth(&admin)
        .call()
        .expect(200);
    assert_eq!(page["objects"].as_array().unwrap().len(), 1);
    assert!(
        page["next"].as_str().unwrap().contains("offset=1"),
        "{page}"
    );

    let one = s
        .get(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .call()
        .expect(200);
    assert_eq!(one["name"], "Mia");

    let updated = s
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Mia M.", "roles": ["agent", "manager"]}))
        .call()
        .expect(200);
    assert_eq!(updated["name"], "Mia M.");
    assert_eq!(updated["roles"], json!(["agent", "manager"]));

    let mia = s.login("mia@example.com", PASSWORD);
    assert_eq!(
        s.get("/api/v1/me").bearer_auth(&mia).call().expect(200)["name"],
        "Mia M."
    );

    assert_eq!(
        s.delete(&format!("/api/v1/users/{id}"))
            .bearer_auth(&admin)
            .call()
            .status,
        204
    );
    assert_eq!(
        s.get(&format!("/api/v1/users/{id}"))
            .bearer_auth(&admin)
            .call()
            .status,
        404
    );
    assert_eq!(
        s.delete(&format!("/api/v1/users/{id}"))
            .bearer_auth(&admin)
            .call()
            .status,
        404
    );
    // Deleting a user ends their sessions.
    assert_eq!(s.get("/api/v1/me").bearer_auth(&mia).call().status, 401);
}

#[test]
fn user_input_is_validated_field_by_field() {
    let s = Server::start();
    let admin = s.admin_token();
    let post = |body: Value| {
        s.post("/api/v1/users")
            .bearer_auth(&admin)
            .json(&body)
            .call()
    };

    let r = post(json!({"email": "nope", "password": PASSWORD}));
    assert_eq!(
        (r.status, r.json["email"].as_str()),
        (400, Some("Enter a valid email address."))
    );
    let r = post(json!({"email": "x@example.com", "password": "short"}));
    assert_eq!(r.status, 400);
    assert!(r.json["password"].as_str().unwrap().contains("at least 8"));
    let r = post(json!({"email": "x@example.com", "password": PASSWORD, "roles": ["root"]}));
    assert_eq!(r.status, 400);
    assert!(r.json["roles"].as_str().unwrap().contains("root"));
    let r = post(json!({"email": "x@example.com"}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json, json!({"password": "This field is required."}));

    let r = post(json!({"email": "ADMIN@example.com", "password": PASSWORD}));
    assert_eq!(r.status, 400, "duplicate email: {}", r.text);
    assert!(r.json["email"].as_str().unwrap().contains("already exists"));
}

#[test]
fn changing_a_password_or_deactivating_signs_the_user_out() {
    let s = Server::start();
    let admin = s.admin_token();
    let user = s.create_user(&admin, "sam@example.com", PASSWORD, &["agent"]);
    let id = user["id"].as_i64().unwrap();

    let session = s.login("sam@example.com", PASSWORD);
    s.patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"password": "another good one"}))
        .call()
        .expect(200);
    assert_eq!(s.get("/api/v1/me").bearer_auth(&session).call().status, 401);
    assert_eq!(s.try_login("sam@example.com", PASSWORD).status, 401);
    let session = s.login("sam@example.com", "another good one");

    s.patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .call()
        .expect(200);
    assert_eq!(s.get("/api/v1/me").bearer_auth(&session).call().status, 401);
    assert_eq!(
        s.try_login("sam@example.com", "another good one").status,
        401
    );

    // The admin's own session survives changing their own password.
    let me = s.get("/api/v1/me").bearer_auth(&admin).call().expect(200);
    s.patch(&format!("/api/v1/users/{}", me["id"]))
        .bearer_auth(&admin)
        .json(&json!({"password": "admin's new password"}))
        .call()
        .expect(200);
    s.get("/api/v1/me").bearer_auth(&admin).call().expect(200);
}

#[test]
fn the_last_admin_cannot_be_removed_or_demoted() {
    let s = Server::start();
    let admin = s.admin_token();
    let me = s.get("/api/v1/me").bearer_auth(&admin).call().expect(200);
    let id = me["id"].as_i64().unwrap();

    let r = s
        .delete(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .call();
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.detail(), "The last admin cannot be deleted.");
    let r = s
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["agent"]}))
        .call();
    assert_eq!(r.status, 409, "{}", r.text);
    let r = s
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin)
        .json(&json!({"active": false}))
        .call();
    assert_eq!(r.status, 409, "{}", r.text);
    // Nothing changed.
    let me = s.get("/api/v1/me").bearer_auth(&admin).call().expect(200);
    assert_eq!(me["roles"], json!(["admin"]));

    // With a second admin, the first one may go.
    s.create_user(&admin, "second@example.com", PASSWORD, &["admin"]);
    assert_eq!(
        s.delete(&format!("/api/v1/users/{id}"))
            .bearer_auth(&admin)
            .call()
            .status,
        204
    );
}
