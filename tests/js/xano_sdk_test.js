// Drives the public Xano JavaScript SDK (@xano/js-sdk) against a local rtbox server.
//
//   node tests/js/xano_sdk_test.js PORT JWT [CHANNEL]
//
// The SDK hard-codes `wss://HOST/rt/CANONICAL`, so a `globalThis.WebSocket` wrapper (the
// `ws` package the SDK depends on) points it at ws://127.0.0.1:PORT with the same path,
// keeping the protocol list (the SDK offers its auth token as Sec-WebSocket-Protocol;
// `ws` fails the handshake unless the server echoes it).
//
// The script joins CHANNEL with presence, waits for a message from another client, answers
// it with channel.message(...), and exits 0 once its own message comes back, printing one
// `RESULT {json}` line. Every frame it sees is printed as `FRAME {json}`. Exit 1 on error or
// after 15 s.
"use strict";

const WS = require("ws");
const { XanoClient, XanoObjectStorage } = require("@xano/js-sdk");

const [port, jwt, channelName = "sdk-room"] = process.argv.slice(2);
if (!port || !jwt) {
  console.error("usage: node xano_sdk_test.js PORT JWT [CHANNEL]");
  process.exit(2);
}

const requestedUrls = [];
class RtboxWebSocket extends WS {
  constructor(url, protocols) {
    const u = new URL(url);
    requestedUrls.push(u.href);
    super(`ws://127.0.0.1:${port}${u.pathname}${u.search}`, protocols);
    this.on("error", (e) => fail(`websocket error: ${e.message}`));
  }
}
globalThis.WebSocket = RtboxWebSocket;

function fail(msg) {
  console.error(`FAIL ${msg}`);
  process.exit(1);
}
setTimeout(() => fail("timed out after 15 s"), 15000).unref();

const client = new XanoClient({
  instanceBaseUrl: "https://localhost",
  realtimeConnectionHash: "x",
  realtimeAuthToken: jwt,
  storage: new XanoObjectStorage(),
});
const channel = client.channel(channelName, { presence: true });

const result = { requestedUrls, socketId: null, presenceFull: null, fromPeer: null, own: null };
let answered = false;

channel.on(
  (action) => {
    console.log(`FRAME ${JSON.stringify(action)}`);
    switch (action.action) {
      case "join":
        result.socketId = action.payload.socketId;
        break;
      case "presence_full":
        result.presenceFull = action.payload.presence;
        break;
      case "message": {
        const sender = action.client && action.client.socketId;
        if (sender && sender !== result.socketId && !answered) {
          answered = true;
          result.fromPeer = { payload: action.payload, client: action.client, id: action.options.id };
          channel.message({ text: "hello from the Xano SDK", echo: action.payload.text });
        } else if (sender === result.socketId) {
          result.own = { payload: action.payload, id: action.options.id };
          result.presence = channel.getPresence().map((c) => c.socketId);
          console.log(`RESULT ${JSON.stringify(result)}`);
          process.exit(0);
        }
        break;
      }
    }
  },
  (error) => fail(`error frame: ${JSON.stringify(error)}`),
);
