//! Who may call what: every foundation route against every kind of caller
//! (admin / manager / agent users, admin and publish API keys, client JWTs, anonymous).

mod common;
use common::*;

use reqwest::Method;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    AdminUser,
    Manager,
    Agent,
    AdminKey,
    PublishKey,
    ClientToken,
    Anonymous,
}

use Who::*;

struct Callers {
    admin: String,
    manager: String,
    agent: String,
    admin_key: String,
    publish_key: String,
    client_token: String,
}

impl Callers {
    fn apply(
        &self,
        who: Who,
        rb: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match who {
            AdminUser => rb.bearer_auth(&self.admin),
            Manager => rb.bearer_auth(&self.manager),
            Agent => rb.bearer_auth(&self.agent),
            AdminKey => rb.header("X-API-KEY", &self.admin_key),
            PublishKey => rb.bearer_auth(&self.publish_key),
            ClientToken => rb.bearer_auth(&self.client_token),
            Anonymous => rb,
        }
    }
}

/// A route, a body that passes validation, and who may call it. Calls that would destroy
/// the fixture target ids that do not exist: passing the permission check then shows as
/// 404 instead of 401/403.
struct Route {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    allowed: &'static [Who],
}

#[test]
fn every_route_checks_the_callers_role() {
    let s = Server::start();
    let admin = s.admin_token();
    let admin_key = s.create_key(&admin, "admin backend", "admin").key;
    let publish_key = s.create_key(&admin, "publisher", "publish").key;
    let callers = Callers {
        manager: s.user_token("manager"),
        agent: s.user_token("agent"),
        client_token: s.mint_client_token(&publish_key, json!({"sub": "u1"})),
        admin,
        admin_key,
        publish_key,
    };

    let admins: &[Who] = &[AdminUser, AdminKey];
    let anyone_known: &[Who] = &[AdminUser, Manager, Agent, AdminKey, PublishKey];
    let routes = [
        Route {
            method: Method::GET,
            path: "/api/v1/users",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::POST,
            path: "/api/v1/users",
            // Valid up to the duplicate check: 400 {"email": "…already exists"} once allowed.
            body: Some(json!({"email": ADMIN_EMAIL, "password": PASSWORD, "roles": ["agent"]})),
            allowed: admins,
        },
        Route {
            method: Method::GET,
            path: "/api/v1/users/1",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::PATCH,
            path: "/api/v1/users/999",
            body: Some(json!({"name": "x"})),
            allowed: admins,
        },
        Route {
            method: Method::PUT,
            path: "/api/v1/users/999",
            body: Some(json!({"name": "x"})),
            allowed: admins,
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/users/999",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::GET,
            path: "/api/v1/keys",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::POST,
            path: "/api/v1/keys",
            body: Some(json!({"name": "k", "role": "publish"})),
            allowed: admins,
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/keys/999",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::POST,
            path: "/api/v1/client-secret/rotate",
            body: None,
            allowed: admins,
        },
        Route {
            method: Method::POST,
            path: "/api/v1/tokens",
            body: Some(json!({"sub": "u2"})),
            allowed: &[AdminUser, AdminKey, PublishKey],
        },
        Route {
            method: Method::GET,
            path: "/api/v1/me",
            body: None,
            allowed: anyone_known,
        },
    ];

    let everyone = [
        AdminUser,
        Manager,
        Agent,
        AdminKey,
        PublishKey,
        ClientToken,
        Anonymous,
    ];
    let mut failures = Vec::new();
    for route in &routes {
        for who in everyone {
            let mut rb = callers.apply(who, s.request(route.method.clone(), route.path));
            if let Some(b) = &route.body {
                rb = rb.json(b);
            }
            let r = rb.call();
            let expected_ok = route.allowed.contains(&who);
            let ok = match (expected_ok, who) {
                (true, _) => ![401, 403].contains(&r.status) && r.status < 500,
                (false, Anonymous) => {
                    r.status == 401 && r.detail() == "Authentication credentials were not provided."
                }
                // A client JWT is not a dashboard session.
                (false, ClientToken) => r.status == 401,
                (false, _) => {
                    r.status == 403
                        && r.detail() == "You do not have permission to perform this action."
                }
            };
            if !ok {
                failures.push(format!(
                    "{} {} as {who:?}: {} {}",
                    route.method, route.path, r.status, r.text
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );
}

#[test]
fn ops_and_login_routes_need_no_credentials() {
    let s = Server::start();
    s.get("/healthz").call().expect(200);
    s.get("/metrics").call().expect(200);
    s.get("/api/v1/setup").call().expect(200);
    assert_eq!(s.try_login("x@example.com", "whatever-pw").status, 401);
}
