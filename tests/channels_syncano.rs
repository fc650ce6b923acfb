//! A Syncano client against rtbox: the `/v1.1/instances/{instance}/channels/…` aliases
//! driven the way the Syncano Python library does (`Channel.please.get`,
//! `channel.publish`, history, `poll` and `poll/?transport=websocket`), with the shapes of
//! the Syncano seed.

mod common;
use common::*;

use std::time::{Duration, Instant};

const V11: &str = "/v1.1/instances/rivia";

struct Syncano {
    s: Server,
    key: String,
    key_id: i64,
}

impl Syncano {
    fn connect() -> Syncano {
        let s = Server::start();
        let admin = s.admin_token();
        let k = s.create_key(&admin, "syncano", "admin");
        Syncano {
            s,
            key: k.key,
            key_id: k.id,
        }
    }

    /// Like the library: `X-API-KEY` header, JSON bodies.
    fn post(&self, path: &str, body: Value) -> Resp {
        self.s
            .post(&format!("{V11}{path}"))
            .header("X-API-KEY", &self.key)
            .json(&body)
            .call()
    }

    fn get(&self, path: &str) -> Resp {
        self.s
            .get(&format!("{V11}{path}"))
            .header("X-API-KEY", &self.key)
            .call()
    }
}

#[test]
fn the_syncano_library_flow_works_on_the_alias_paths() {
    let c = Syncano::connect();
    let created = c
        .post(
            "/channels/",
            json!({"name": "witchers", "type": "separate_rooms", "custom_publish": true}),
        )
        .expect(201);
    assert_eq!(
        created["links"],
        json!({
            "self": "/v1.1/instances/rivia/channels/witchers/",
            "publish": "/v1.1/instances/rivia/channels/witchers/publish/",
            "history": "/v1.1/instances/rivia/channels/witchers/history/",
            "poll": "/v1.1/instances/rivia/channels/witchers/poll/",
        })
    );
    // Channel.please.get(name=...)
    let got = c.get("/channels/witchers/").expect(200);
    assert_eq!(got, created);
    let list = c.get("/channels/").expect(200);
    assert_eq!(list["objects"], json!([created]));

    // channel.publish(payload=..., room=...) — the seed's example, answer for answer.
    let m = c
        .post(
            "/channels/witchers/publish/",
            json!({"payload": {"message": "Hello Witchers!", "type": "welcome"},
                   "room": "secret-room"}),
        )
        .expect(201);
    assert_eq!(
        m,
        json!({"id": 1, "channel": "witchers", "room": "secret-room",
               "links": {"self": "/v1.1/instances/rivia/channels/witchers/history/1/"},
               "author": {"api_key": c.key_id}, "created_at": m["created_at"],
               "payload": {"message": "Hello Witchers!", "type": "welcome"},
               "action": "custom", "metadata": {"type": "message"}})
    );
    // Without the trailing slash, key in the query string, another instance name.
    let m2 =
        c.s.post(&format!(
            "/v1.1/instances/kaer-morhen/channels/witchers/publish?api_key={}",
            c.key
        ))
        .json(&json!({"payload": {"n": 2}, "room": "secret-room"}))
        .call()
        .expect(201);
    assert_eq!(m2["id"], 2);
    assert_eq!(
        m2["links"]["self"],
        "/v1.1/instances/kaer-morhen/channels/witchers/history/2/"
    );
    c.post(
        "/channels/witchers/publish/",
        json!({"payload": 3, "room": "other"}),
    )
    .expect(201);

    // The seed's error answers.
    let r =
        c.s.post(&format!("{V11}/channels/witchers/publish/"))
            .header("X-API-KEY", &c.key)
            .header("Content-Type", "application/json")
            .body(r#"{"payload":{"message"#)
            .call();
    assert_eq!(r.status, 400);
    assert!(r.detail().starts_with("JSON parse error - "), "{}", r.text);
    let r =
        c.s.post(&format!("{V11}/channels/witchers/publish/"))
            .header("X-API-KEY", "wrong")
            .json(&json!({"payload": 1, "room": "r"}))
            .call();
    assert_eq!(
        (r.status, r.json),
        (403, json!({"detail": "No such API Key."}))
    );
    let r = c.post("/channels/nope/publish/", json!({"payload": 1}));
    assert_eq!((r.status, r.json), (404, json!({"detail": "Not found."})));
    let r = c.post("/channels/witchers/publish/", json!({"payload": 1}));
    assert_eq!(
        (r.status, r.json),
        (
            400,
            json!({"room": "This field is required for channels with separate rooms."})
        )
    );

    // History, with last_id and room, links under the alias prefix.
    let h = c
        .get("/channels/witchers/history/?room=secret-room")
        .expect(200);
    assert_eq!(h["objects"].as_array().unwrap().len(), 2);
    assert_eq!(h["objects"][0], m);
    let h = c
        .get("/channels/witchers/history/?last_id=1&room=secret-room")
        .expect(200);
    let mut m2_here = m2.clone();
    m2_here["links"]["self"] = json!("/v1.1/instances/rivia/channels/witchers/history/2/");
    assert_eq!(
        h["objects"],
        json!([m2_here]),
        "links follow the instance asked for"
    );
    assert_eq!(h["next"], Value::Null);
    let h = c.get("/channels/witchers/history/?last_id=1").expect(200);
    let ids: Vec<i64> = h["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 3]);
    let paged = c.get("/channels/witchers/history/?page_size=1").expect(200);
    let next = paged["next"].as_str().expect("next link");
    assert!(
        next.starts_with("/v1.1/instances/rivia/channels/witchers/history"),
        "{next}"
    );
    assert_eq!(
        c.s.get(next).header("X-API-KEY", &c.key).call().expect(200)["objects"][0]["id"],
        2
    );
    assert_eq!(c.get("/channels/witchers/history/1/").expect(200), m);

    // Long poll: at once when a newer message exists, 204 when nothing comes.
    let r = c.get("/channels/witchers/poll/?last_id=0&room=secret-room&timeout=5");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-last-id").as_deref(), Some("1"));
    assert_eq!(r.json, m);
    let t = Instant::now();
    let r = c.get("/channels/witchers/poll/?last_id=2&room=secret-room&timeout=1");
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(t.elapsed() >= Duration::from_millis(900));
    // A waiting poll gets the next publish.
    let url = c.s.url(&format!(
        "{V11}/channels/witchers/poll/?last_id=2&room=secret-room&api_key={}",
        c.key
    ));
    let waiter = std::thread::spawn(move || reqwest::blocking::Client::new().get(url).call());
    std::thread::sleep(Duration::from_millis(200));
    let m4 = c
        .post(
            "/channels/witchers/publish/",
            json!({"payload": 4, "room": "secret-room"}),
        )
        .expect(201);
    let r = waiter.join().unwrap();
    assert_eq!((r.status, r.json["id"].clone()), (200, m4["id"].clone()));
    assert_eq!(
        r.json["links"]["self"],
        "/v1.1/instances/rivia/channels/witchers/history/4/"
    );
}

#[tokio::test]
async fn poll_over_websocket_replays_then_pushes_bare_syncano_messages() {
    let c = Syncano::connect();
    let http = c.s.async_http();
    c.s.create_channel(&c.s.admin_token(), json!({"name": "feed"}));
    let publish = |n: i64| {
        let (http, url, key) = (
            http.clone(),
            c.s.url(&format!("{V11}/channels/feed/publish/")),
            c.key.clone(),
        );
        async move {
            http.post(url)
                .header("X-API-KEY", key)
                .json(&json!({"payload": {"n": n}}))
                .call()
                .await
                .expect(201)
        }
    };
    for n in 1..=3 {
        publish(n).await;
    }
    let mut ws = ws_connect(&c.s.ws_url(&format!(
        "{V11}/channels/feed/poll/?transport=websocket&last_id=1&api_key={}",
        c.key
    )))
    .await;
    // Replay: messages 2 and 3, one bare Syncano object per text frame.
    for n in 2..=3 {
        let m = ws_recv_json(&mut ws, Duration::from_secs(5))
            .await
            .expect("replayed message");
        assert_eq!(m["id"], n, "{m}");
        assert_eq!(m["payload"], json!({"n": n}));
        assert_eq!(m["action"], "custom");
        assert_eq!(m["metadata"], json!({"type": "message"}));
        assert_eq!(m["author"], json!({"api_key": c.key_id}));
        assert!(m.get("options").is_none(), "not an envelope: {m}");
        assert_eq!(
            m["links"]["self"],
            format!("{V11}/channels/feed/history/{n}/"),
            "links follow the alias route: {m}"
        );
    }
    // Then live.
    let sent = publish(4).await;
    let m = ws_recv_json(&mut ws, Duration::from_secs(5))
        .await
        .expect("live message");
    assert_eq!(m["id"], 4);
    assert_eq!(m["payload"], sent["payload"]);
    assert_eq!(m["created_at"], sent["created_at"]);
    assert_eq!(
        m["links"]["self"],
        format!("{V11}/channels/feed/history/4/")
    );

    // Without credentials where the channel needs them, no socket is opened.
    let refused =
        ws_try_connect(&c.s.ws_url(&format!("{V11}/channels/feed/poll/?transport=websocket")))
            .await;
    assert!(
        refused.is_err(),
        "anonymous poll on a private channel must be refused"
    );
}
