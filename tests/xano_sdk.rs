//! The public Xano JavaScript SDK (`@xano/js-sdk` from npm, driven by
//! `tests/js/xano_sdk_test.js` under Node) joins a channel through `/rt/{canonical}` with
//! its token as `Sec-WebSocket-Protocol`, sees presence, receives a message from a Rust
//! client and answers it — rtbox needs no changes to the SDK.
//!
//! Needs `node` and `npm` (see `common::js`): skipped locally without them, fails in CI.

mod common;
use common::*;

use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_xano_js_sdk_joins_sends_and_receives() {
    if !node_ready("@xano/js-sdk") {
        return;
    }
    let s = Server::start();
    let admin = s.admin_token();
    let key = s.create_key(&admin, "backend", "admin").key;
    s.create_channel(
        &admin,
        json!({"name": "sdk-room", "presence": true, "group_permissions": "publish"}),
    );
    let sdk_jwt = s.mint_client_token(&key, json!({"sub": "sdk-user", "info": {"name": "SDK"}}));
    let peer_jwt = s.mint_client_token(&key, json!({"sub": "rust-peer"}));

    // A Rust client is already in the channel.
    let mut peer = ws_connect(&s.ws_url(&format!("/ws?token={peer_jwt}"))).await;
    let peer_id = ws_join(&mut peer, "sdk-room", json!({}), json!({})).await["payload"]["socketId"]
        .as_str()
        .unwrap()
        .to_string();

    // The script exits by itself within 15 s whatever happens.
    let node = Command::new("node")
        .arg(js_dir().join("xano_sdk_test.js"))
        .arg(s.addr.port().to_string())
        .arg(&sdk_jwt)
        .arg("sdk-room")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");

    // The SDK joins: the peer sees it arrive, with the info from its token.
    let update = ws_recv_action(&mut peer, "presence_update", Duration::from_secs(15))
        .await
        .expect("the SDK never joined");
    assert_eq!(update["payload"]["action"], "join");
    let sdk_client = update["payload"]["presence"].clone();
    assert_eq!(sdk_client["extras"], json!({"name": "SDK"}));
    assert_eq!(sdk_client["permissions"]["row_id"], "sdk-user");

    // The peer speaks; the SDK answers through channel.message().
    ws_send_json(
        &mut peer,
        &json!({"action": "message", "options": {"channel": "sdk-room", "ref": 1},
                "payload": {"text": "hello SDK"}}),
    )
    .await;
    let answer = loop {
        let frame = ws_recv_action(&mut peer, "message", Duration::from_secs(15))
            .await
            .expect("no answer from the SDK");
        if frame["client"]["socketId"] == sdk_client["socketId"] {
            break frame;
        }
    };
    assert_eq!(
        answer["payload"],
        json!({"text": "hello from the Xano SDK", "echo": "hello SDK"})
    );
    assert_eq!(answer["options"]["author"], json!({"user": "sdk-user"}));

    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || node.wait_with_output()),
    )
    .await
    .expect("node did not exit")
    .expect("join")
    .expect("node output");
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert!(
        out.status.success(),
        "node failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str(j).expect("RESULT json"))
        .unwrap_or_else(|| panic!("no RESULT line:\n{stdout}\n{stderr}"));

    // The SDK asked for wss://localhost/rt/x; the wrapper only changed scheme and host.
    assert_eq!(result["requestedUrls"], json!(["wss://localhost/rt/x"]));
    assert_eq!(result["socketId"], sdk_client["socketId"]);
    let present: Vec<&str> = result["presenceFull"]
        .as_array()
        .expect("presence_full")
        .iter()
        .map(|c| c["socketId"].as_str().unwrap())
        .collect();
    assert_eq!(
        present,
        [peer_id.as_str(), result["socketId"].as_str().unwrap()]
    );
    assert_eq!(result["fromPeer"]["payload"], json!({"text": "hello SDK"}));
    assert_eq!(result["fromPeer"]["client"]["socketId"], peer_id.as_str());
    assert_eq!(result["own"]["id"], answer["options"]["id"]);
    assert_eq!(result["own"]["id"], 2);
}
