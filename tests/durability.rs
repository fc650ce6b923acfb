//! Durability (SPEC §3, §8): a message acknowledged with 201 is committed to SQLite, so it
//! survives `kill -9` of the server mid-stream — no acked loss, no duplicate ids, and ids
//! keep increasing after the restart.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_kill_9() {
    let mut s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "admin").key;
    s.create_channel(&admin, json!({"name": "orders"}));

    // Several publishers, each recording every acknowledged id, until the server dies.
    const PUBLISHERS: usize = 6;
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let url = s.url("/api/v1/channels/orders/publish");
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let (acked, url, key) = (acked.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client");
            for i in 0.. {
                let tag = format!("p{p}-{i}");
                let sent = http
                    .post(&url)
                    .header("X-API-KEY", &key)
                    .json(&json!({"payload": {"tag": tag}}))
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                if resp.status().as_u16() != 201 {
                    return;
                }
                // Only a fully received 201 body counts as an acknowledgement.
                let Ok(body) = resp.json::<Value>().await else {
                    return;
                };
                let id = body["id"].as_i64().expect("id in 201");
                assert_eq!(body["payload"]["tag"], tag.as_str());
                acked.lock().unwrap().push((id, tag));
            }
        }));
    }
    // Let the load build up, then crash the server while requests are in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 1500 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishing too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.kill9();
    for t in tasks {
        t.await.expect("publisher task");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1500);

    tokio::task::block_in_place(|| s.start_again());
    let history = tokio::task::block_in_place(|| s.full_history(&key, "orders"));
    let ids: Vec<i64> = history.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids strictly increasing, no duplicates"
    );
    let stored: std::collections::HashMap<i64, String> = history
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["payload"]["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let tags: BTreeSet<&String> = stored.values().collect();
    assert_eq!(tags.len(), stored.len(), "a message was stored twice");
    for (id, tag) in &acked {
        assert_eq!(
            stored.get(id),
            Some(tag),
            "acknowledged message {id} ({tag}) lost or changed after kill -9"
        );
    }
    let acked_ids: BTreeSet<i64> = acked.iter().map(|(id, _)| *id).collect();
    assert_eq!(acked_ids.len(), acked.len(), "an id was acknowledged twice");

    // New publishes continue above everything stored.
    let max = *ids.last().expect("history is not empty");
    let next = tokio::task::block_in_place(|| {
        s.publish_with_key(&key, "orders", json!({"payload": "after restart"}))
    })
    .expect(201);
    assert!(next["id"].as_i64().unwrap() > max, "{next} after {max}");
}
