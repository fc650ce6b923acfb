//! Channels over REST (SPEC §3): an admin sets channels up, backends publish and read
//! history, clients long-poll — with the exact Syncano shapes, name and room rules,
//! pattern channels, history policies, every permission level and bad input on every route.

mod common;
use common::*;

use std::time::{Duration, Instant};

use reqwest::Method;

const NOT_FOUND: &str = "Not found.";
const NO_CREDENTIALS: &str = "Authentication credentials were not provided.";
const NO_PERMISSION: &str = "You do not have permission to perform this action.";
const NO_SUCH_KEY: &str = "No such API Key.";
const ROOM_REQUIRED: &str = "This field is required for channels with separate rooms.";

/// A server with an admin session and an admin API key, ready for channel stories.
struct Fixture {
    s: Server,
    admin: String,
    key: String,
    key_id: i64,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with(Server::start())
    }

    fn with(s: Server) -> Fixture {
        let admin = s.admin_token();
        let k = s.create_key(&admin, "backend", "admin");
        Fixture {
            s,
            admin,
            key: k.key,
            key_id: k.id,
        }
    }

    fn channel(&self, body: Value) -> Value {
        self.s.create_channel(&self.admin, body)
    }

    fn publish(&self, channel: &str, body: Value) -> Resp {
        self.s.publish_with_key(&self.key, channel, body)
    }

    fn get(&self, path: &str) -> Resp {
        self.s.get(path).header("X-API-KEY", &self.key).call()
    }
}

fn ids(objects: &Value) -> Vec<i64> {
    objects
        .as_array()
        .expect("objects array")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

// ---- CRUD --------------------------------------------------------------------------------

#[test]
fn admin_creates_lists_updates_and_deletes_channels_in_syncano_shape() {
    let f = Fixture::new();
    let created = f.channel(json!({"name": "Witchers", "description": "Kaer Morhen"}));
    let stamp = created["created_at"]
        .as_str()
        .expect("created_at")
        .to_string();
    assert!(stamp.ends_with('Z'), "RFC 3339 UTC: {stamp}");
    assert_eq!(
        created,
        json!({
            "name": "witchers",
            "description": "Kaer Morhen",
            "type": "default",
            "custom_publish": true,
            "other_permissions": "none",
            "group_permissions": "subscribe",
            "presence": false,
            "private_messaging": false,
            "history": {"persist": true, "max_messages": 10000, "max_age_seconds": null},
            "created_at": stamp,
            "updated_at": stamp,
            "links": {
                "self": "/api/v1/channels/witchers/",
                "publish": "/api/v1/channels/witchers/publish/",
                "history": "/api/v1/channels/witchers/history/",
                "poll": "/api/v1/channels/witchers/poll/",
            }
        })
    );

    // Same name again (any case) is a field error.
    let dup =
        f.s.post("/api/v1/channels")
            .bearer_auth(&f.admin)
            .json(&json!({"name": "WITCHERS"}))
            .call();
    assert_eq!(dup.status, 400, "{}", dup.text);
    assert_eq!(
        dup.json,
        json!({"name": "Channel with this name already exists."})
    );

    // Detail, by any case of the name, with or without the trailing slash.
    assert_eq!(f.get("/api/v1/channels/Witchers").expect(200), created);
    assert_eq!(f.get("/api/v1/channels/witchers/").expect(200), created);

    // List, paginated.
    f.channel(json!({"name": "alpha"}));
    f.channel(json!({"name": "beta", "type": "separate_rooms"}));
    let page1 = f.get("/api/v1/channels?page_size=2").expect(200);
    let names = |p: &Value| -> Vec<String> {
        p["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&page1), ["alpha", "beta"]);
    assert_eq!(page1["prev"], Value::Null);
    let next = page1["next"].as_str().expect("next link").to_string();
    let page2 = f.get(&next).expect(200);
    assert_eq!(names(&page2), ["witchers"]);
    assert_eq!(page2["next"], Value::Null);
    assert!(page2["prev"].is_string(), "{page2}");
    assert_eq!(page2["objects"][0], created);

    // PATCH changes only what it names; updated_at moves, created_at stays.
    std::thread::sleep(Duration::from_millis(5));
    let patched =
        f.s.patch("/api/v1/channels/witchers")
            .bearer_auth(&f.admin)
            .json(&json!({"description": "School of the Wolf", "presence": true}))
            .call()
            .expect(200);
    assert_eq!(patched["description"], "School of the Wolf");
    assert_eq!(patched["presence"], true);
    assert_eq!(patched["custom_publish"], true);
    assert_eq!(patched["created_at"], stamp.as_str());
    assert_ne!(patched["updated_at"], stamp.as_str());

    // A GET body can be PUT back (links and timestamps are ignored).
    let mut body = patched.clone();
    body["other_permissions"] = json!("subscribe");
    body["history"] = json!({"persist": true, "max_messages": 5, "max_age_seconds": 60});
    let put =
        f.s.put("/api/v1/channels/witchers/")
            .header("X-API-KEY", &f.key)
            .json(&body)
            .call()
            .expect(200);
    assert_eq!(put["other_permissions"], "subscribe");
    assert_eq!(
        put["history"],
        json!({"persist": true, "max_messages": 5, "max_age_seconds": 60})
    );
    assert_eq!(f.get("/api/v1/channels/witchers").expect(200), put);

    // `type` and `name` are read-only after creation.
    for (bad, field) in [
        (json!({"type": "separate_rooms"}), "type"),
        (json!({"name": "wolves"}), "name"),
    ] {
        let r =
            f.s.patch("/api/v1/channels/witchers")
                .bearer_auth(&f.admin)
                .json(&bad)
                .call();
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(
            r.json,
            json!({ field: "This field cannot be changed after creation." })
        );
    }
    // Repeating the current type is fine.
    f.s.patch("/api/v1/channels/witchers")
        .bearer_auth(&f.admin)
        .json(&json!({"type": "default"}))
        .call()
        .expect(200);

    // DELETE removes the channel and its history; a new channel of that name starts empty.
    f.publish("witchers", json!({"payload": "before"}))
        .expect(201);
    let r =
        f.s.delete("/api/v1/channels/witchers")
            .bearer_auth(&f.admin)
            .call();
    assert_eq!(r.status, 204, "{}", r.text);
    let gone = f.get("/api/v1/channels/witchers");
    assert_eq!((gone.status, gone.detail()), (404, NOT_FOUND.to_string()));
    let r = f.publish("witchers", json!({"payload": 1}));
    assert_eq!((r.status, r.detail()), (404, NOT_FOUND.to_string()));
    let r =
        f.s.delete("/api/v1/channels/witchers")
            .bearer_auth(&f.admin)
            .call();
    assert_eq!(r.status, 404);
    f.channel(json!({"name": "witchers"}));
    let h = f.get("/api/v1/channels/witchers/history").expect(200);
    assert_eq!(h["objects"], json!([]));
    let m = f
        .publish("witchers", json!({"payload": "after"}))
        .expect(201);
    assert_eq!(m["id"], 1, "ids restart with the new channel: {m}");
}

#[test]
fn channel_names_are_lowercased_and_checked() {
    let f = Fixture::new();
    assert_eq!(
        f.channel(json!({"name": "Chat.Room_1-a/B"}))["name"],
        "chat.room_1-a/b"
    );

    let cases = [
        (
            json!("a b"),
            "Use only letters, digits, '-', '_', '.' and '/'.",
        ),
        (
            json!("emoji😀"),
            "Use only letters, digits, '-', '_', '.' and '/'.",
        ),
        (
            json!("x#y"),
            "Use only letters, digits, '-', '_', '.' and '/'.",
        ),
        (json!(""), "Ensure this field has 1 to 64 characters."),
        (
            json!("x".repeat(65)),
            "Ensure this field has 1 to 64 characters.",
        ),
        (
            json!("chat/publish"),
            "'publish' cannot be the last segment of a channel name.",
        ),
        (
            json!("history"),
            "'history' cannot be the last segment of a channel name.",
        ),
        (
            json!("a/poll"),
            "'poll' cannot be the last segment of a channel name.",
        ),
        (
            json!("a/presence"),
            "'presence' cannot be the last segment of a channel name.",
        ),
        (
            json!("a/Events"),
            "'events' cannot be the last segment of a channel name.",
        ),
        (
            json!("a//b"),
            "Segments separated by '/' must not be empty.",
        ),
        (json!("/a"), "Segments separated by '/' must not be empty."),
        (json!(5), "Not a valid string."),
    ];
    for (name, reason) in cases {
        let r =
            f.s.post("/api/v1/channels")
                .bearer_auth(&f.admin)
                .json(&json!({ "name": name }))
                .call();
        assert_eq!(r.status, 400, "{name}: {}", r.text);
        assert_eq!(r.json, json!({ "name": reason }), "{name}");
    }
    let r =
        f.s.post("/api/v1/channels")
            .bearer_auth(&f.admin)
            .json(&json!({}))
            .call();
    assert_eq!(
        (r.status, r.json),
        (400, json!({"name": "This field is required."}))
    );
    // 64 characters is fine.
    f.channel(json!({"name": "y".repeat(64)}));
}

#[test]
fn channel_settings_reject_wrong_types() {
    let f = Fixture::new();
    let cases = [
        (
            json!({"type": "rooms"}),
            "type",
            "\"rooms\" is not a valid choice (default, separate_rooms).",
        ),
        (
            json!({"type": 1}),
            "type",
            "Must be default or separate_rooms.",
        ),
        (
            json!({"custom_publish": "yes"}),
            "custom_publish",
            "Must be a valid boolean.",
        ),
        (
            json!({"presence": 1}),
            "presence",
            "Must be a valid boolean.",
        ),
        (
            json!({"other_permissions": "all"}),
            "other_permissions",
            "\"all\" is not a valid choice (none, subscribe, publish).",
        ),
        (
            json!({"group_permissions": true}),
            "group_permissions",
            "Must be one of none, subscribe, publish.",
        ),
        (
            json!({"description": 3}),
            "description",
            "Not a valid string.",
        ),
        (
            json!({"history": 3}),
            "history",
            "Must be an object {persist, max_messages, max_age_seconds}.",
        ),
        (
            json!({"history": {"max_messages": 0}}),
            "history",
            "max_messages must be an integer from 1 to 10000000.",
        ),
        (
            json!({"history": {"persist": "no"}}),
            "history",
            "persist must be a boolean.",
        ),
        (
            json!({"history": {"max_age_seconds": -1}}),
            "history",
            "max_age_seconds must be a positive integer or null.",
        ),
        (
            json!({"history": {"ttl": 1}}),
            "history",
            "Unknown key \"ttl\".",
        ),
    ];
    for (extra, field, reason) in cases {
        let mut body = json!({"name": "typed"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r =
            f.s.post("/api/v1/channels")
                .bearer_auth(&f.admin)
                .json(&body)
                .call();
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json, json!({ field: reason }), "{body}");
    }
    // Nothing was created by the refused bodies.
    assert_eq!(f.get("/api/v1/channels").expect(200)["objects"], json!([]));
}

// ---- pattern channels --------------------------------------------------------------------

#[test]
fn pattern_channels_exist_implicitly_with_their_own_history() {
    let f = Fixture::new();
    f.channel(json!({"name": "chat/*"}));
    f.channel(json!({"name": "chat/vip/*", "custom_publish": false}));
    f.channel(json!({"name": "chat/42", "custom_publish": false}));
    f.channel(json!({"name": "chat/vip/7"}));

    // Any name under the prefix exists, with its own ids and history.
    let a1 = f.publish("chat/1", json!({"payload": "a1"})).expect(201);
    let b1 = f.publish("Chat/2", json!({"payload": "b1"})).expect(201);
    let a2 = f.publish("chat/1", json!({"payload": "a2"})).expect(201);
    assert_eq!(
        (a1["id"].clone(), b1["id"].clone(), a2["id"].clone()),
        (json!(1), json!(1), json!(2))
    );
    assert_eq!(a1["channel"], "chat/1");
    assert_eq!(b1["channel"], "chat/2");
    assert_eq!(a1["links"]["self"], "/api/v1/channels/chat/1/history/1/");
    let h = f.get("/api/v1/channels/chat/1/history").expect(200);
    assert_eq!(ids(&h["objects"]), [1, 2]);
    assert_eq!(h["objects"][1]["payload"], "a2");
    let h = f.get("/api/v1/channels/chat%2F2/history").expect(200);
    assert_eq!(ids(&h["objects"]), [1]);

    // The exact name wins over the pattern; the longest pattern wins over shorter ones.
    let refused = "Custom publish not allowed on this channel.";
    let r = f.publish("chat/42", json!({"payload": 1}));
    assert_eq!((r.status, r.detail()), (403, refused.to_string()));
    let r = f.publish("chat/vip/1", json!({"payload": 1}));
    assert_eq!((r.status, r.detail()), (403, refused.to_string()));
    f.publish("chat/vip/7", json!({"payload": 1})).expect(201);

    // The prefix alone, names outside it, and patterns are not concrete channels.
    for name in ["chat", "chatter/1", "other/1"] {
        let r = f.publish(name, json!({"payload": 1}));
        assert_eq!(
            (r.status, r.detail()),
            (404, NOT_FOUND.to_string()),
            "{name}"
        );
    }
    let r = f.get("/api/v1/channels/chat/*/history");
    assert_eq!(r.status, 404, "{}", r.text);

    // The pattern's definition is readable by its own name; deleting it deletes the
    // history of every channel that lived under it, but not of exact channels.
    assert_eq!(
        f.get("/api/v1/channels/chat/*").expect(200)["name"],
        "chat/*"
    );
    let r =
        f.s.delete("/api/v1/channels/chat/*")
            .bearer_auth(&f.admin)
            .call();
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(f.get("/api/v1/channels/chat/1/history").status, 404);
    assert_eq!(
        ids(&f.get("/api/v1/channels/chat/vip/7/history").expect(200)["objects"]),
        [1]
    );
    f.channel(json!({"name": "chat/*"}));
    assert_eq!(
        f.get("/api/v1/channels/chat/1/history").expect(200)["objects"],
        json!([])
    );
}

// ---- publish -----------------------------------------------------------------------------

#[test]
fn publish_answers_the_exact_syncano_message() {
    let f = Fixture::new();
    f.channel(json!({"name": "witchers", "type": "separate_rooms"}));
    let r = f.publish(
        "witchers",
        json!({"payload": {"message": "Hello Witchers!", "type": "welcome"},
               "room": "Secret-Room", "ignored": {"x": 1}, "id": 999, "author": "me"}),
    );
    let m = r.expect(201);
    let created = m["created_at"].as_str().expect("created_at").to_string();
    assert!(created.ends_with('Z') && created.len() >= 20, "{created}");
    assert_eq!(
        m,
        json!({"id": 1, "channel": "witchers", "room": "secret-room",
               "links": {"self": "/api/v1/channels/witchers/history/1/"},
               "author": {"api_key": f.key_id}, "created_at": created,
               "payload": {"message": "Hello Witchers!", "type": "welcome"},
               "action": "custom", "metadata": {"type": "message"}})
    );
    // The stored copy is the same object.
    assert_eq!(f.get("/api/v1/channels/witchers/history/1").expect(200), m);
    assert_eq!(f.get("/api/v1/channels/witchers/history/1/").expect(200), m);

    // Admin users are authors by user id; any JSON value is a payload; none is null.
    f.channel(json!({"name": "plain"}));
    let me =
        f.s.get("/api/v1/me")
            .bearer_auth(&f.admin)
            .call()
            .expect(200);
    let by_admin =
        f.s.post("/api/v1/channels/plain/publish")
            .bearer_auth(&f.admin)
            .json(&json!({"payload": [1, "two", null]}))
            .call()
            .expect(201);
    assert_eq!(by_admin["author"], json!({"admin": me["id"]}));
    assert_eq!(by_admin["payload"], json!([1, "two", null]));
    assert_eq!(by_admin["room"], Value::Null);
    let empty = f.publish("plain", json!({"room": null})).expect(201);
    assert_eq!(empty["payload"], Value::Null);
    assert_eq!(empty["id"], 2);
    // A publish key publishes too.
    let pk = f.s.create_key(&f.admin, "pub", "publish");
    let r =
        f.s.publish_with_key(&pk.key, "plain", json!({"payload": 3}))
            .expect(201);
    assert_eq!(r["author"], json!({"api_key": pk.id}));
}

#[test]
fn custom_publish_off_refuses_publish_but_allows_events() {
    let f = Fixture::new();
    f.channel(json!({"name": "feed", "custom_publish": false, "other_permissions": "publish"}));
    let r = f.publish("feed", json!({"payload": "hi"}));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json,
        json!({"detail": "Custom publish not allowed on this channel."})
    );

    // Events are server-side: custom_publish does not apply.
    let e =
        f.s.post("/api/v1/channels/feed/events")
            .header("X-API-KEY", &f.key)
            .json(&json!({"data": {"kind": "order.paid", "total": 5}, "payload": "ignored"}))
            .call()
            .expect(201);
    assert_eq!(e["metadata"], json!({"type": "event"}));
    assert_eq!(e["action"], "custom");
    assert_eq!(e["payload"], json!({"kind": "order.paid", "total": 5}));
    assert_eq!(e["author"], json!({"api_key": f.key_id}));
    assert_eq!(e["id"], 1);
    let pk = f.s.create_key(&f.admin, "pub", "publish");
    let e =
        f.s.post("/api/v1/channels/feed/events")
            .bearer_auth(&pk.key)
            .json(&json!({}))
            .call()
            .expect(201);
    assert_eq!(
        (e["id"].clone(), e["payload"].clone()),
        (json!(2), Value::Null)
    );
    let h = f.get("/api/v1/channels/feed/history").expect(200);
    assert_eq!(h["objects"][0]["metadata"]["type"], "event");

    // Only admins and publish keys send events (even where anyone may publish).
    let agent = f.s.user_token("agent");
    let r =
        f.s.post("/api/v1/channels/feed/events")
            .bearer_auth(&agent)
            .json(&json!({"data": 1}))
            .call();
    assert_eq!((r.status, r.detail()), (403, NO_PERMISSION.to_string()));
    let r =
        f.s.post("/api/v1/channels/feed/events")
            .json(&json!({"data": 1}))
            .call();
    assert_eq!((r.status, r.detail()), (401, NO_CREDENTIALS.to_string()));
    // Events follow room rules too.
    f.channel(json!({"name": "rooms", "type": "separate_rooms"}));
    let r =
        f.s.post("/api/v1/channels/rooms/events")
            .header("X-API-KEY", &f.key)
            .json(&json!({"data": 1}))
            .call();
    assert_eq!((r.status, r.json), (400, json!({"room": ROOM_REQUIRED})));
    let e =
        f.s.post("/api/v1/channels/rooms/events")
            .header("X-API-KEY", &f.key)
            .json(&json!({"data": 1, "room": "R1"}))
            .call()
            .expect(201);
    assert_eq!(e["room"], "r1");
}

#[test]
fn rooms_are_required_on_separate_rooms_channels_and_refused_elsewhere() {
    let f = Fixture::new();
    f.channel(json!({"name": "game", "type": "separate_rooms"}));
    f.channel(json!({"name": "lobby"}));

    let r = f.publish("game", json!({"payload": 1}));
    assert_eq!((r.status, r.json), (400, json!({"room": ROOM_REQUIRED})));
    let r = f.publish("game", json!({"payload": 1, "room": ""}));
    assert_eq!(
        (r.status, r.json),
        (
            400,
            json!({"room": "Ensure this field has 1 to 128 characters."})
        )
    );
    let r = f.publish("game", json!({"payload": 1, "room": "x".repeat(129)}));
    assert_eq!(
        (r.status, r.json),
        (
            400,
            json!({"room": "Ensure this field has 1 to 128 characters."})
        )
    );
    let r = f.publish("lobby", json!({"payload": 1, "room": "a"}));
    assert_eq!(
        (r.status, r.json),
        (
            400,
            json!({"room": "This field is not allowed for channels of type default."})
        )
    );
    let r = f.get("/api/v1/channels/lobby/history?room=a");
    assert_eq!(r.status, 400, "{}", r.text);

    // Rooms share the channel's id sequence; the room filter picks one room.
    for room in ["a", "B", "a", "b", "a"] {
        f.publish("game", json!({"payload": room, "room": room}))
            .expect(201);
    }
    let all = f.get("/api/v1/channels/game/history").expect(200);
    assert_eq!(ids(&all["objects"]), [1, 2, 3, 4, 5]);
    let a = f.get("/api/v1/channels/game/history?room=A").expect(200);
    assert_eq!(ids(&a["objects"]), [1, 3, 5]);
    let b = f.get("/api/v1/channels/game/history?room=b").expect(200);
    assert_eq!(ids(&b["objects"]), [2, 4]);
    assert!(b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["room"] == "b"));
}

// ---- history -----------------------------------------------------------------------------

#[test]
fn history_pages_orders_and_reads_single_messages() {
    let f = Fixture::new();
    f.channel(json!({"name": "log"}));
    for i in 1..=120 {
        f.publish("log", json!({"payload": i})).expect(201);
    }
    let first = f.get("/api/v1/channels/log/history").expect(200);
    assert_eq!(ids(&first["objects"]), (1..=50).collect::<Vec<_>>());
    assert_eq!(first["prev"], Value::Null);
    assert_eq!(first["objects"][0]["payload"], 1);

    // page_size is clamped to 100; `next` continues after the last id.
    let big = f
        .get("/api/v1/channels/log/history?page_size=1000")
        .expect(200);
    assert_eq!(ids(&big["objects"]), (1..=100).collect::<Vec<_>>());
    let next = big["next"].as_str().expect("next link").to_string();
    assert!(next.starts_with("/api/v1/channels/log/history?"), "{next}");
    let rest = f.get(&next).expect(200);
    assert_eq!(ids(&rest["objects"]), (101..=120).collect::<Vec<_>>());
    assert_eq!(rest["next"], Value::Null);

    // last_id, both orderings, and next links in descending order.
    let after = f
        .get("/api/v1/channels/log/history?last_id=115")
        .expect(200);
    assert_eq!(ids(&after["objects"]), [116, 117, 118, 119, 120]);
    let desc = f
        .get("/api/v1/channels/log/history?ordering=desc&page_size=3")
        .expect(200);
    assert_eq!(ids(&desc["objects"]), [120, 119, 118]);
    let desc2 = f.get(desc["next"].as_str().expect("next")).expect(200);
    assert_eq!(ids(&desc2["objects"]), [117, 116, 115]);
    let below = f
        .get("/api/v1/channels/log/history?ordering=desc&last_id=3")
        .expect(200);
    assert_eq!(ids(&below["objects"]), [2, 1]);
    assert_eq!(below["next"], Value::Null);
    let none = f
        .get("/api/v1/channels/log/history?last_id=120")
        .expect(200);
    assert_eq!(none, json!({"objects": [], "next": null, "prev": null}));

    // Detail of one message; unknown ids are 404.
    let one = f.get("/api/v1/channels/log/history/7").expect(200);
    assert_eq!(
        (one["id"].clone(), one["payload"].clone()),
        (json!(7), json!(7))
    );
    let r = f.get("/api/v1/channels/log/history/999");
    assert_eq!((r.status, r.json), (404, json!({"detail": NOT_FOUND})));

    // Bad parameters.
    let r = f.get("/api/v1/channels/log/history?ordering=sideways");
    assert_eq!(
        (r.status, r.json),
        (400, json!({"ordering": "Must be asc or desc."}))
    );
    for q in ["last_id=abc", "page_size=many"] {
        let r = f.get(&format!("/api/v1/channels/log/history?{q}"));
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(
            r.detail().starts_with("Invalid query parameters"),
            "{q}: {}",
            r.text
        );
    }
    let r = f.get("/api/v1/channels/log/history/abc");
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn long_poll_returns_at_once_waits_or_times_out() {
    let f = Fixture::new();
    f.channel(json!({"name": "news"}));
    f.publish("news", json!({"payload": "one"})).expect(201);
    f.publish("news", json!({"payload": "two"})).expect(201);

    // A newer message exists: answered at once, with X-Last-Id.
    let t = Instant::now();
    let r = f.get("/api/v1/channels/news/poll?last_id=0&timeout=10");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-last-id").as_deref(), Some("1"));
    assert_eq!(
        (r.json["id"].clone(), r.json["payload"].clone()),
        (json!(1), json!("one"))
    );
    assert_eq!(r.json["links"]["self"], "/api/v1/channels/news/history/1/");
    assert!(t.elapsed() < Duration::from_secs(2));

    // Nothing newer: waits, and returns the message published meanwhile.
    let url = f.s.url("/api/v1/channels/news/poll?last_id=2&timeout=10");
    let key = f.key.clone();
    let waiter = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .get(url)
            .header("X-API-KEY", key)
            .call()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiter.is_finished(), "poll must wait for a new message");
    f.publish("news", json!({"payload": "three"})).expect(201);
    let r = waiter.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-last-id").as_deref(), Some("3"));
    assert_eq!(r.json["payload"], "three");

    // Without last_id, only messages newer than the latest count.
    let url = f.s.url("/api/v1/channels/news/poll?timeout=10");
    let key = f.key.clone();
    let waiter = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .get(url)
            .header("X-API-KEY", key)
            .call()
    });
    std::thread::sleep(Duration::from_millis(300));
    f.publish("news", json!({"payload": "four"})).expect(201);
    assert_eq!(waiter.join().unwrap().json["id"], 4);

    // Timeout: 204 and the caller's position.
    let t = Instant::now();
    let r = f.get("/api/v1/channels/news/poll?last_id=4&timeout=1");
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.header("x-last-id").as_deref(), Some("4"));
    assert!(t.elapsed() >= Duration::from_millis(900) && t.elapsed() < Duration::from_secs(4));

    // Separate-rooms channels poll one room.
    f.channel(json!({"name": "game", "type": "separate_rooms"}));
    let r = f.get("/api/v1/channels/game/poll?timeout=1");
    assert_eq!((r.status, r.json), (400, json!({"room": ROOM_REQUIRED})));
    f.publish("game", json!({"payload": "x", "room": "r2"}))
        .expect(201);
    f.publish("game", json!({"payload": "y", "room": "r1"}))
        .expect(201);
    let r = f.get("/api/v1/channels/game/poll?room=r1&last_id=0&timeout=1");
    assert_eq!((r.status, r.json["id"].clone()), (200, json!(2)));
}

#[tokio::test]
async fn presence_lists_who_is_subscribed_now() {
    let f = Fixture::new();
    f.channel(json!({"name": "room", "presence": true, "other_permissions": "subscribe"}));
    let path = "/api/v1/channels/room/presence";
    let http = f.s.async_http();
    let presence = |http: reqwest::Client| {
        let url = f.s.url(path);
        let key = f.key.clone();
        async move {
            http.get(url)
                .header("X-API-KEY", key)
                .call()
                .await
                .expect(200)
        }
    };
    assert_eq!(
        presence(http.clone()).await,
        json!({"objects": [], "count": 0, "next": null, "prev": null})
    );
    let mut ws = ws_connect(&f.s.ws_url("/ws")).await;
    let joined = ws_join(&mut ws, "room", json!({}), json!({})).await;
    let socket_id = joined["payload"]["socketId"].as_str().unwrap().to_string();
    let p = presence(http.clone()).await;
    assert_eq!(p["count"], 1);
    assert_eq!(
        p["objects"][0],
        json!({"socketId": socket_id, "extras": {}, "permissions": {"dbo_id": null, "row_id": null}})
    );
    drop(ws);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if presence(http.clone()).await["count"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "closed socket still present");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = http
        .get(f.s.url("/api/v1/channels/nope/presence"))
        .header("X-API-KEY", &f.key)
        .call()
        .await;
    assert_eq!(r.status, 404);
}

// ---- history policy ----------------------------------------------------------------------

#[test]
fn history_is_pruned_to_max_messages_and_unpersisted_channels_keep_none() {
    let f = Fixture::with(Server::start_with(&["--prune-interval-seconds", "1"], &[]));
    f.channel(json!({"name": "short", "history": {"max_messages": 3}}));
    for i in 1..=10 {
        f.publish("short", json!({"payload": i})).expect(201);
    }
    let pruned = wait_until(Duration::from_secs(5), || {
        ids(&f.get("/api/v1/channels/short/history").expect(200)["objects"]) == [8, 9, 10]
    });
    assert!(pruned, "history not pruned to the last 3 messages");
    // Pruning never frees ids.
    assert_eq!(
        f.publish("short", json!({"payload": 11})).expect(201)["id"],
        11
    );

    // persist=false: delivered live, acked as such, never stored.
    f.channel(json!({"name": "volatile", "history": {"persist": false}}));
    let r = f.publish("volatile", json!({"payload": "gone"}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("x-rtbox-persisted").as_deref(), Some("false"));
    assert_eq!(r.json["id"], 1);
    assert_eq!(r.json["payload"], "gone");
    assert_eq!(
        f.publish("volatile", json!({"payload": 2})).expect(201)["id"],
        2
    );
    let persisted = f.publish("short", json!({"payload": 12}));
    assert_eq!(persisted.header("x-rtbox-persisted"), None);
    assert_eq!(
        f.get("/api/v1/channels/volatile/history").expect(200)["objects"],
        json!([])
    );
    let r = f.get("/api/v1/channels/volatile/history/1");
    assert_eq!(r.status, 404);
}

#[test]
fn pruning_reaches_every_channel_across_several_write_jobs() {
    // The pruner writes a few hundred channels per job; 300 channels take two.
    let f = Fixture::with(Server::start_with(&["--prune-interval-seconds", "1"], &[]));
    f.channel(json!({"name": "many/*", "history": {"max_messages": 1}}));
    for n in 0..300 {
        for i in 1..=2 {
            f.publish(&format!("many/{n}"), json!({"payload": i}))
                .expect(201);
        }
    }
    let pruned = wait_until(Duration::from_secs(10), || {
        (0..300).all(|n| {
            ids(&f
                .get(&format!("/api/v1/channels/many/{n}/history"))
                .expect(200)["objects"])
                == [2]
        })
    });
    assert!(pruned, "some channel kept more than its last message");
    assert_eq!(
        f.publish("many/299", json!({"payload": 3})).expect(201)["id"],
        3,
        "pruning never frees ids"
    );
}

// ---- permissions -------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Anonymous,
    PublishKey,
    AdminKey,
    AdminUser,
    AgentUser,
}

#[test]
fn rest_callers_get_what_channel_permissions_allow() {
    use Who::*;
    let f = Fixture::new();
    let agent = f.s.user_token("agent");
    let publish_key = f.s.create_key(&f.admin, "pub", "publish").key;
    let levels = ["none", "subscribe", "publish"];
    for other in levels {
        for group in levels {
            f.channel(json!({"name": format!("p-{other}-{group}"),
                             "other_permissions": other, "group_permissions": group}));
        }
    }
    let rank = |p: &str| levels.iter().position(|l| *l == p).unwrap();
    for who in [Anonymous, PublishKey, AdminKey, AdminUser, AgentUser] {
        let with = |rb| with_who(&f, who, &agent, &publish_key, rb);
        for other in levels {
            for group in levels {
                let name = format!("p-{other}-{group}");
                let level = match who {
                    Anonymous => rank(other),
                    AgentUser => rank(group),
                    _ => 2,
                };
                let (denied_status, denied_detail) = if who == Anonymous {
                    (401, NO_CREDENTIALS)
                } else {
                    (403, NO_PERMISSION)
                };
                let read = with(f.s.get(&format!("/api/v1/channels/{name}/history"))).call();
                let poll = with(f.s.get(&format!("/api/v1/channels/{name}/poll?timeout=0"))).call();
                let presence = with(f.s.get(&format!("/api/v1/channels/{name}/presence"))).call();
                let publish = with(f.s.post(&format!("/api/v1/channels/{name}/publish")))
                    .json(&json!({"payload": format!("{who:?}")}))
                    .call();
                for (what, r, need, ok) in [
                    ("history", &read, 1, 200),
                    ("poll", &poll, 1, 204),
                    ("presence", &presence, 1, 200),
                    ("publish", &publish, 2, 201),
                ] {
                    if level >= need {
                        assert_eq!(r.status, ok, "{who:?} {what} {name}: {}", r.text);
                    } else {
                        assert_eq!(
                            (r.status, r.detail()),
                            (denied_status, denied_detail.to_string()),
                            "{who:?} {what} {name}"
                        );
                    }
                }
                if publish.status == 201 {
                    let author = &publish.json["author"];
                    match who {
                        Anonymous => assert!(author["anonymous"].is_string(), "{author}"),
                        AgentUser => assert!(author["user"].is_string(), "{author}"),
                        AdminUser => assert!(author["admin"].is_i64(), "{author}"),
                        _ => assert!(author["api_key"].is_i64(), "{author}"),
                    }
                }
            }
        }
        // Channel settings: list/detail for server publishers, changes for admins.
        let list = with(f.s.get("/api/v1/channels")).call();
        let create = with(f.s.post("/api/v1/channels"))
            .json(&json!({"name": format!("made-by-{who:?}")}))
            .call();
        let patch = with(f.s.patch("/api/v1/channels/p-none-none"))
            .json(&json!({"description": "x"}))
            .call();
        let reads = matches!(who, PublishKey | AdminKey | AdminUser);
        let writes = matches!(who, AdminKey | AdminUser);
        for (what, r, allowed, ok) in [
            ("list", &list, reads, 200),
            ("create", &create, writes, 201),
            ("patch", &patch, writes, 200),
        ] {
            if allowed {
                assert_eq!(r.status, ok, "{who:?} {what}: {}", r.text);
            } else if who == Anonymous {
                assert_eq!(
                    (r.status, r.detail()),
                    (401, NO_CREDENTIALS.to_string()),
                    "{what}"
                );
            } else {
                assert_eq!(
                    (r.status, r.detail()),
                    (403, NO_PERMISSION.to_string()),
                    "{who:?} {what}"
                );
            }
        }
    }
}

fn with_who(
    f: &Fixture,
    who: Who,
    agent: &str,
    publish_key: &str,
    rb: reqwest::blocking::RequestBuilder,
) -> reqwest::blocking::RequestBuilder {
    match who {
        Who::Anonymous => rb,
        Who::PublishKey => rb.header("X-API-KEY", publish_key),
        Who::AdminKey => rb.header("X-API-KEY", &f.key),
        Who::AdminUser => rb.bearer_auth(&f.admin),
        Who::AgentUser => rb.bearer_auth(agent),
    }
}

/// Client-token holders act through WebSockets: `group_permissions`, narrowed by the
/// token's `channels` claim; anonymous sockets get `other_permissions`.
#[tokio::test]
async fn websocket_clients_get_what_channel_permissions_allow() {
    let f = Fixture::new();
    let levels = ["none", "subscribe", "publish"];
    for other in levels {
        for group in levels {
            f.channel(json!({"name": format!("p-{other}-{group}"),
                             "other_permissions": other, "group_permissions": group}));
        }
    }
    let jwt = f.s.mint_client_token(&f.key, json!({"sub": "u1"}));
    let narrow =
        f.s.mint_client_token(&f.key, json!({"sub": "u2", "channels": ["p-none-pub*"]}));
    let rank = |p: &str| levels.iter().position(|l| *l == p).unwrap();
    for (who, url) in [
        ("anonymous", f.s.ws_url("/ws")),
        ("client", f.s.ws_url(&format!("/ws?token={jwt}"))),
        ("narrow", f.s.ws_url(&format!("/ws?token={narrow}"))),
    ] {
        let mut ws = ws_connect(&url).await;
        for other in levels {
            for group in levels {
                let name = format!("p-{other}-{group}");
                let level = match who {
                    "anonymous" => rank(other),
                    "client" => rank(group),
                    _ if name.starts_with("p-none-pub") => rank(group),
                    _ => 0,
                };
                let denied = if who == "anonymous" {
                    "unauthorized"
                } else {
                    "forbidden"
                };
                ws_send_json(
                    &mut ws,
                    &json!({"action": "join", "options": {"channel": name}}),
                )
                .await;
                let reply = ws_recv_action_any(&mut ws, &["join", "error"]).await;
                if level >= 1 {
                    assert_eq!(reply["action"], "join", "{who} join {name}: {reply}");
                } else {
                    assert_eq!(reply["action"], "error", "{who} join {name}: {reply}");
                    assert_eq!(reply["payload"]["code"], denied, "{who} join {name}");
                    assert_eq!(reply["options"]["channel"], name.as_str());
                }
                ws_send_json(
                    &mut ws,
                    &json!({"action": "message", "options": {"channel": name, "ref": 7}, "payload": who}),
                )
                .await;
                let reply = ws_recv_action_any(&mut ws, &["ack", "error"]).await;
                if level >= 2 {
                    assert_eq!(reply["action"], "ack", "{who} message {name}: {reply}");
                } else {
                    assert_eq!(reply["action"], "error", "{who} message {name}: {reply}");
                    assert_eq!(reply["payload"]["code"], denied, "{who} message {name}");
                    assert_eq!(reply["options"]["ref"], 7);
                }
            }
        }
    }
}

/// The next frame that is one of `actions` (skips the echo of messages it published).
async fn ws_recv_action_any(ws: &mut Ws, actions: &[&str]) -> Value {
    loop {
        let frame = ws_recv_json(ws, Duration::from_secs(5))
            .await
            .expect("a reply");
        if actions.iter().any(|a| frame["action"] == *a) {
            return frame;
        }
    }
}

// ---- bad input ---------------------------------------------------------------------------

#[test]
fn every_route_answers_bad_input_with_a_clear_error() {
    let f = Fixture::with(Server::start_with(&["--max-payload-bytes", "1024"], &[]));
    f.channel(json!({"name": "c"}));
    let body_routes = [
        (Method::POST, "/api/v1/channels"),
        (Method::PATCH, "/api/v1/channels/c"),
        (Method::PUT, "/api/v1/channels/c"),
        (Method::POST, "/api/v1/channels/c/publish"),
        (Method::POST, "/api/v1/channels/c/events"),
    ];
    for (method, path) in &body_routes {
        // Malformed JSON.
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", &f.key)
                .header("Content-Type", "application/json")
                .body(r#"{"payload": "unterminated"#)
                .call();
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert!(
            r.detail().starts_with("JSON parse error - "),
            "{method} {path}: {}",
            r.text
        );
        // Not an object.
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", &f.key)
                .json(&json!([1]))
                .call();
        assert_eq!(r.status, 400, "{method} {path}: {}", r.text);
        assert!(
            r.detail().starts_with("JSON parse error - "),
            "{method} {path}: {}",
            r.text
        );
        // A body far over any limit.
        let huge = json!({"payload": "x".repeat(40_000), "data": "x".repeat(40_000)});
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", &f.key)
                .json(&huge)
                .call();
        assert_eq!(r.status, 413, "{method} {path}: {}", r.text);
        assert!(r.detail().contains("larger than"), "{}", r.text);
        // Unknown API key.
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", "nope")
                .json(&json!({}))
                .call();
        assert_eq!(
            (r.status, r.json.clone()),
            (403, json!({"detail": NO_SUCH_KEY})),
            "{method} {path}"
        );
    }

    // Wrong types in publish bodies.
    for body in [json!({"room": 5, "payload": 1}), json!({"room": ["a"]})] {
        let r = f.publish("c", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.detail().starts_with("JSON parse error - "), "{}", r.text);
    }
    // A payload over --max-payload-bytes (the body itself is within the JSON limit).
    let r = f.publish("c", json!({"payload": "x".repeat(1100)}));
    assert_eq!(
        (r.status, r.json),
        (413, json!({"detail": "Payload is larger than 1024 bytes."}))
    );
    let r =
        f.s.post("/api/v1/channels/c/events")
            .header("X-API-KEY", &f.key)
            .json(&json!({"data": "x".repeat(1100)}))
            .call();
    assert_eq!(r.status, 413, "{}", r.text);
    f.publish("c", json!({"payload": "x".repeat(1000)}))
        .expect(201);

    // Unknown channels and unknown keys on every channel route.
    let routes = [
        (Method::GET, "/api/v1/channels/zz"),
        (Method::PATCH, "/api/v1/channels/zz"),
        (Method::PUT, "/api/v1/channels/zz"),
        (Method::DELETE, "/api/v1/channels/zz"),
        (Method::POST, "/api/v1/channels/zz/publish"),
        (Method::POST, "/api/v1/channels/zz/events"),
        (Method::GET, "/api/v1/channels/zz/history"),
        (Method::GET, "/api/v1/channels/zz/history/1"),
        (Method::GET, "/api/v1/channels/zz/poll?timeout=0"),
        (Method::GET, "/api/v1/channels/zz/presence"),
    ];
    for (method, path) in &routes {
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", &f.key)
                .json(&json!({}))
                .call();
        assert_eq!(
            (r.status, r.json),
            (404, json!({"detail": NOT_FOUND})),
            "{method} {path}"
        );
        let r =
            f.s.request(method.clone(), path)
                .header("X-API-KEY", "rtbox_k_bogus")
                .json(&json!({}))
                .call();
        assert_eq!(
            (r.status, r.json),
            (403, json!({"detail": NO_SUCH_KEY})),
            "{method} {path}"
        );
        let r =
            f.s.request(method.clone(), path)
                .bearer_auth("not-a-session")
                .json(&json!({}))
                .call();
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
    }
    let r = f.s.get("/api/v1/channels?api_key=nope").call();
    assert_eq!((r.status, r.json), (403, json!({"detail": NO_SUCH_KEY})));

    // No credentials where some are needed.
    for (method, path) in [
        (Method::GET, "/api/v1/channels"),
        (Method::POST, "/api/v1/channels"),
        (Method::GET, "/api/v1/channels/c"),
        (Method::PATCH, "/api/v1/channels/c"),
        (Method::DELETE, "/api/v1/channels/c"),
        (Method::POST, "/api/v1/channels/c/publish"),
        (Method::POST, "/api/v1/channels/c/events"),
        (Method::GET, "/api/v1/channels/c/history"),
        (Method::GET, "/api/v1/channels/c/history/1"),
        (Method::GET, "/api/v1/channels/c/poll?timeout=0"),
        (Method::GET, "/api/v1/channels/c/presence"),
    ] {
        let r =
            f.s.request(method.clone(), path)
                .json(&json!({"payload": 1}))
                .call();
        assert_eq!(
            (r.status, r.json),
            (401, json!({"detail": NO_CREDENTIALS})),
            "{method} {path}"
        );
    }
    // The server is still fine.
    assert_eq!(f.s.get("/healthz").call().status, 200);
}
