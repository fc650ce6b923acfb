// The livechat widget in headless Chromium against a real rtbox server, embedded in host
// pages served from a SECOND origin (a small HTTP server on another loopback port started
// here), so the widget is cross-origin exactly as on a customer's site.
//
//   RTBOX_URL=http://127.0.0.1:PORT RTBOX_ADMIN_TOKEN=… RTBOX_ADMIN_EMAIL=… node tests/js/widget_test.js SCENARIO
//
// The admin (an admin is a livechat manager and can be an agent) plays the agent through
// the agents' REST API and WebSocket. Each scenario prints `PASS <step>` per step; a failing
// step screenshots every page under RTBOX_SCREENSHOT_DIR and exits 1 (see browser.js).
// Driven by tests/widget_browser.rs, one fresh server per scenario.
"use strict";

const http = require("http");
const net = require("net");
const WS = require("ws");
const { launch, step, screenshot, deadline } = require("./browser");

const BASE = process.env.RTBOX_URL;
const ADMIN = process.env.RTBOX_ADMIN_TOKEN;
const ADMIN_EMAIL = process.env.RTBOX_ADMIN_EMAIL;
const scenario = process.argv[2];
if (!BASE || !ADMIN || !scenario) {
  console.error("usage: RTBOX_URL=… RTBOX_ADMIN_TOKEN=… node widget_test.js SCENARIO");
  process.exit(2);
}
deadline(Number(process.env.WIDGET_TEST_TIMEOUT_MS || 120000));

// ---- small utilities ----------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}
function eq(a, b, msg) {
  const sa = JSON.stringify(a), sb = JSON.stringify(b);
  if (sa !== sb) throw new Error(`${msg}: expected ${sb}, got ${sa}`);
}
async function waitFor(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
}

// ---- the agent side: the admin through the agents' API ------------------------------------
async function api(method, path, body, token = ADMIN) {
  const r = await fetch(BASE + "/api/v1" + path, {
    method,
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let j;
  try { j = JSON.parse(text); } catch { j = { raw: text }; }
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status} ${text}`);
  return j;
}
async function agentOnline() {
  await api("POST", "/livechat/users/agent", { username: ADMIN_EMAIL });
  await api("POST", "/livechat/agent.status", { status: "online" });
}
async function setting(id, value) {
  await api("POST", `/settings/${id}`, { value });
}
let triggerCount = 0;
async function addTrigger(conditions, actions, extra = {}) {
  await api("POST", "/livechat/triggers", Object.assign({
    name: "t" + ++triggerCount, description: "widget test", enabled: true, runOnce: false, conditions, actions,
  }, extra));
}
const say = (msg, name = "Bot") => [{ name: "send-message", params: { sender: "custom", name, msg } }];
async function openRooms() {
  return (await api("GET", "/livechat/rooms?open=true")).rooms || [];
}
// The visitor's open room once it holds `msg` (a bubble shows before the server stored it).
async function roomHolding(msg) {
  return waitFor(async () => {
    const room = (await openRooms())[0];
    return room && (await roomMessages(room._id)).some((m) => m.msg === msg) && room;
  }, `the room holding "${msg}"`);
}
async function theRoom() {
  return waitFor(async () => (await openRooms())[0], "the visitor's room");
}
async function agentSay(rid, msg) {
  return api("POST", "/livechat/agent.message", { rid, msg });
}
async function roomMessages(rid) {
  // Agents read a room like any channel; oldest first.
  const j = await api("GET", `/channels/${encodeURIComponent("livechat/" + rid)}/history?ordering=asc&page_size=100`);
  return (j.objects || []).map((m) => m.payload);
}
// The agent's WebSocket (typing both ways).
function agentSocket(rid) {
  return new Promise((resolve, reject) => {
    const ws = new WS(BASE.replace(/^http/, "ws") + "/ws?token=" + encodeURIComponent(ADMIN));
    const frames = [];
    ws.on("message", (d) => { try { frames.push(JSON.parse(String(d))); } catch {} });
    ws.on("error", reject);
    ws.on("open", () => {
      ws.send(JSON.stringify({ action: "join", options: { channel: "livechat/" + rid }, payload: {} }));
      resolve({ ws, frames, send: (f) => ws.send(JSON.stringify(f)) });
    });
  });
}

// A minimal SMTP sink on loopback: accepts every mail and keeps it (transcripts).
function smtpSink() {
  const mails = [];
  const server = net.createServer((sock) => {
    let buf = "", inData = false, cur = null;
    sock.write("220 sink ESMTP\r\n");
    sock.on("error", () => {});
    sock.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === ".") { inData = false; mails.push(cur); sock.write("250 queued\r\n"); }
          else cur.data += line + "\n";
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === "EHLO" || cmd === "HELO") sock.write("250-sink\r\n250 8BITMIME\r\n");
        else if (cmd === "MAIL") { cur = { from: line, rcpt: [], data: "" }; sock.write("250 ok\r\n"); }
        else if (cmd === "RCPT") { cur.rcpt.push(line); sock.write("250 ok\r\n"); }
        else if (cmd === "DATA") { inData = true; sock.write("354 go ahead\r\n"); }
        else if (cmd === "QUIT") { sock.write("221 bye\r\n"); sock.end(); }
        else sock.write("250 ok\r\n");
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, mails, port: server.address().port })));
}

// ---- the customer's site: a second origin ------------------------------------------------
const WS_BASE = BASE.replace(/^http/, "ws");
const HOST_JS = `
window.Rtbox = window.Rtbox || { q: [] };
["open", "close", "setGuest", "setMetadata", "pageVisited", "on"].forEach(function (m) {
  window.Rtbox[m] = window.Rtbox[m] || function () { window.Rtbox.q.push([m, arguments]); };
});
window.__events = [];
["ready", "open", "close", "message", "trigger", "chat-started", "chat-ended"].forEach(function (ev) {
  window.Rtbox.on(ev, function (d) { window.__events.push([ev, d === undefined ? null : d]); });
});
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
var params = new URLSearchParams(location.search);
if (params.get("guest")) window.Rtbox.setGuest({ name: params.get("guest"), email: params.get("email") });
if (params.get("plan")) window.Rtbox.setMetadata({ plan: params.get("plan") });
if (params.get("open")) window.Rtbox.open();
document.addEventListener("DOMContentLoaded", function () {
  var n = 0;
  document.getElementById("page-btn").addEventListener("click", function () {
    document.getElementById("clicks").textContent = String(++n);
  });
});
`;
const HOST_CSS = `body { font-family: Georgia, serif; margin: 40px; background: #fbf8f3; color: #222; }
h1 { font-size: 40px; margin: 0 0 12px; } p { max-width: 36rem; line-height: 1.6; }
#page-btn { font-size: 16px; padding: 10px 16px; } .far { margin-top: 60vh; }`;
// What a hostile stylesheet does to every element it can reach.
const AGGRESSIVE_CSS = `body *, body *::before, body *::after { all: unset !important; }
div, span, button, textarea, input, form { display: none !important; }
body { font-size: 40px !important; color: red !important; line-height: 3 !important; }
#page-btn, #clicks, h1, p { display: block !important; }
[hidden] { display: block !important; }`;

function hostPage(title, { aggressive }) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/host.css">${aggressive ? '\n<link rel="stylesheet" href="/aggressive.css">' : ""}
<script src="/host.js"></script>
<script src="${BASE}/livechat/widget.js" async></script>
</head><body>
<h1>${title}</h1>
<p>A customer's website. The rtbox widget is embedded with one script tag from another origin.</p>
<button id="page-btn" type="button">Page button</button> clicks: <span id="clicks">0</span>
<p class="far">The end of the page.</p>
</body></html>`;
}
// The strict CSP a customer may run: only the rtbox server for scripts and connections,
// no inline anything, Trusted Types on (so no string may become HTML or script).
const STRICT_CSP = [
  "default-src 'none'",
  `script-src 'self' ${BASE}`,
  `connect-src ${BASE} ${WS_BASE}`,
  "style-src 'self'",
  "img-src 'none'",
  "font-src 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

function startHost() {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, "http://host");
    const send = (type, body, headers = {}) => {
      res.writeHead(200, Object.assign({ "Content-Type": type, "Cache-Control": "no-store" }, headers));
      res.end(body);
    };
    if (u.pathname === "/host.js") return send("text/javascript", HOST_JS);
    if (u.pathname === "/host.css") return send("text/css", HOST_CSS);
    if (u.pathname === "/aggressive.css") return send("text/css", AGGRESSIVE_CSS);
    if (u.pathname === "/favicon.ico") { res.writeHead(204); return res.end(); }
    const strict = u.searchParams.has("strict");
    const title = "Host " + u.pathname;
    send("text/html; charset=utf-8", hostPage(title, { aggressive: u.searchParams.has("aggressive") }),
      strict ? { "Content-Security-Policy": STRICT_CSP } : {});
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- driving the widget ------------------------------------------------------------------
const W = (sel) => `rtbox-livechat ${sel}`;
async function newPage(browser, opts = {}) {
  const context = await browser.newContext(Object.assign({ viewport: { width: 1280, height: 800 } }, opts));
  await context.addInitScript(() => {
    // Count generated notification sounds; make WebSocket drops controllable.
    const Ctx = window.AudioContext || window.webkitAudioContext;
    window.__tones = 0;
    if (Ctx) {
      const create = Ctx.prototype.createOscillator;
      Ctx.prototype.createOscillator = function () { window.__tones++; return create.call(this); };
    }
    const Orig = window.WebSocket;
    window.__sockets = [];
    window.__blockWs = false;
    window.WebSocket = class extends Orig {
      constructor(url, protocols) {
        super(window.__blockWs ? String(url).replace(/\/\/[^/]+/, "//127.0.0.1:9") : url, protocols);
        window.__sockets.push(this);
      }
    };
    window.__dialogs = 0;
    window.alert = () => { window.__dialogs++; };
  });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(String(e)));
  page.on("dialog", (d) => { page.errors.push("dialog: " + d.message()); d.dismiss().catch(() => {}); });
  page.requests = [];
  page.on("request", (r) => page.requests.push(r.url()));
  return page;
}
async function load(page, url) {
  await page.goto(url);
  await page.locator(W(".launcher")).waitFor({ state: "visible", timeout: 10000 });
  await page.waitForFunction(() => window.__events.some((e) => e[0] === "ready"));
}
// Waits for the element's animations (the window's opening) to finish.
async function settle(page, sel) {
  await page.locator(W(sel)).evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
}
const isOpen = (page) => page.locator(W(".win")).isVisible();
async function openWidget(page) {
  if (!(await isOpen(page))) await page.locator(W(".launcher")).click();
  await page.locator(W(".win")).waitFor({ state: "visible" });
}
// The chat's texts in order (agent, visitor and trigger messages; not system lines).
async function bubbles(page) {
  return page.locator(W(".msg:not(.sys) .bubble")).allTextContents();
}
async function waitBubble(page, text, ms = 10000) {
  await waitFor(async () => (await bubbles(page)).includes(text), `message "${text}" in the widget`, ms);
}
async function register(page, name, email) {
  await page.locator(W("input[name=name]")).fill(name);
  await page.locator(W("input[name=email]")).fill(email);
  await page.locator(W("form .primary")).click();
  await page.locator(W(".composer textarea")).waitFor({ state: "visible" });
}
async function send(page, text) {
  await page.locator(W(".composer textarea")).fill(text);
  await page.keyboard.press("Enter");
}
const events = (page, name) => page.evaluate((n) => window.__events.filter((e) => e[0] === n).map((e) => e[1]), name);
function noPageErrors(page) {
  eq(page.errors, [], "page errors");
}
function onlyTwoOrigins(page, host) {
  const foreign = page.requests.filter((u) => !u.startsWith(BASE) && !u.startsWith(host) && !u.startsWith("data:"));
  eq(foreign, [], "requests to other hosts");
}

// ---- scenarios -----------------------------------------------------------------------------
const scenarios = {};

scenarios.chat = async (browser, HOST) => {
  await agentOnline();
  const sink = await smtpSink();
  await setting("Livechat_enable_transcript", true);
  await setting("SMTP_Host", "127.0.0.1");
  await setting("SMTP_Port", sink.port);
  await setting("SMTP_Security", "none");
  await setting("From_Email", "support@example.com");
  const page = await newPage(browser);
  let rid, agentWs;
  await step(page, "the launcher appears on a page of another origin", async () => {
    await load(page, HOST + "/shop");
    eq(await page.locator(W(".win")).isVisible(), false, "window closed until the visitor opens it");
    onlyTwoOrigins(page, HOST);
  });
  await step(page, "the pre-chat form registers the visitor", async () => {
    await openWidget(page);
    await page.locator(W("input[name=name]")).waitFor({ state: "visible" });
    // Both fields are required by default: an empty submit does not go through.
    await page.locator(W("form .primary")).click();
    assert(await page.locator(W("input[name=name]")).isVisible(), "still on the form");
    await register(page, "Ana Visitor", "ana@example.com");
    await screenshot(page, "chat-registered");
  });
  await step(page, "the visitor's message reaches the agent", async () => {
    await send(page, "Hello from the widget");
    await waitBubble(page, "Hello from the widget");
    const room = await theRoom();
    rid = room._id;
    await waitFor(async () => (await roomMessages(rid)).some((m) => m.msg === "Hello from the widget"), "message in the room");
    eq((await events(page, "chat-started")).length, 1, "chat-started fired once");
    assert((await page.locator(W(".msg.me.pending")).count()) === 0, "no message left pending");
  });
  await step(page, "the agent's reply appears in real time", async () => {
    await agentSay(rid, "Hi Ana, how can I help?");
    await waitBubble(page, "Hi Ana, how can I help?");
    const m = await events(page, "message");
    assert(m.some((x) => x.text === "Hi Ana, how can I help?" && x.from === "agent"), "message event for the reply");
  });
  await step(page, "typing shows both ways", async () => {
    agentWs = await agentSocket(rid);
    await sleep(300);
    agentWs.send({ action: "typing", options: { channel: "livechat/" + rid }, payload: { typing: true } });
    await page.locator(W(".typing")).waitFor({ state: "visible" });
    assert(/typing/.test(await page.locator(W(".typing")).textContent()), "typing label");
    await page.locator(W(".composer textarea")).type("I am typ", { delay: 20 });
    await waitFor(() => agentWs.frames.some((f) => f.action === "typing" && f.payload && f.payload.typing === true && f.payload.sender === "visitor"), "visitor typing at the agent");
    await screenshot(page, "chat-typing");
    await page.locator(W(".composer textarea")).fill("");
  });
  await step(page, "closed window: unread badge, preview and a generated sound", async () => {
    await page.locator(W(".launcher")).click();
    await page.locator(W(".win")).waitFor({ state: "hidden" });
    const tones = await page.evaluate(() => window.__tones);
    await agentSay(rid, "Are you still there?");
    await page.locator(W(".badge")).waitFor({ state: "visible" });
    eq(await page.locator(W(".badge")).textContent(), "1", "badge count");
    eq(await page.locator(W(".preview .ptext")).textContent(), "Are you still there?", "preview text");
    await waitFor(async () => (await page.evaluate(() => window.__tones)) > tones, "a notification tone");
    await screenshot(page, "chat-unread");
  });
  await step(page, "reload: the conversation and its history are still there", async () => {
    await page.reload();
    // The unread message comes back with the socket's replay after the last read id.
    await page.locator(W(".badge")).waitFor({ state: "visible" });
    eq(await page.locator(W(".badge")).textContent(), "1", "unread survives the reload");
    await openWidget(page);
    const expected = ["Hello from the widget", "Hi Ana, how can I help?", "Are you still there?"];
    await waitFor(async () => JSON.stringify(await bubbles(page)) === JSON.stringify(expected), "the history, in order");
    assert(await page.locator(W(".badge")).isHidden(), "badge cleared when read");
  });
  const tab2 = await page.context().newPage();
  tab2.errors = [];
  tab2.on("pageerror", (e) => tab2.errors.push(String(e)));
  await step(page, "a second tab shares the conversation and its unread state", async () => {
    await page.locator(W("button[aria-label='Minimize chat']")).click();
    await load(tab2, HOST + "/other-page");
    await agentSay(rid, "Both tabs see this");
    await page.locator(W(".badge")).waitFor({ state: "visible" });
    await tab2.locator(W(".badge")).waitFor({ state: "visible" });
    eq(await tab2.locator(W(".preview .ptext")).textContent(), "Both tabs see this", "preview in the new tab");
    // Read in one tab: the other tab's badge and preview go away too.
    await openWidget(tab2);
    await waitBubble(tab2, "Both tabs see this");
    await page.locator(W(".badge")).waitFor({ state: "hidden" });
    await page.locator(W(".preview")).waitFor({ state: "hidden" });
    await send(tab2, "Sent from tab two");
    await waitBubble(page, "Sent from tab two");
    await tab2.close();
    await openWidget(page);
  });
  await step(page, "a dropped connection resumes with no gap and no duplicate", async () => {
    await page.evaluate(() => { window.__blockWs = true; window.__sockets.forEach((s) => s.close()); });
    await sleep(300);
    await agentSay(rid, "missed one");
    await agentSay(rid, "missed two");
    await sleep(600);
    await page.evaluate(() => { window.__blockWs = false; });
    await waitBubble(page, "missed two", 45000);
    const all = await bubbles(page);
    eq(all.slice(-2), ["missed one", "missed two"], "replayed in order");
    eq(all.filter((t) => t === "missed one").length, 1, "no duplicate");
    eq(new Set(all).size, all.length, "no duplicates at all");
  });
  await step(page, "the visitor asks for the transcript by email", async () => {
    await page.locator(W("button[aria-label='Chat options']")).click();
    await page.locator(W(".menu button")).filter({ hasText: "Email transcript" }).click();
    eq(await page.locator(W("input[name=email]")).inputValue(), "ana@example.com", "prefilled with the visitor's email");
    await page.locator(W("form .primary")).click();
    await waitFor(() => sink.mails.length === 1, "the transcript mail", 15000);
    assert(/ana@example\.com/.test(sink.mails[0].rcpt.join(" ")), "mailed to the visitor: " + sink.mails[0].rcpt);
    await page.locator(W(".note")).filter({ hasText: "transcript" }).waitFor({ state: "visible" });
    await page.locator(W(".composer textarea")).waitFor({ state: "visible" });
  });
  await step(page, "ending the chat closes the room", async () => {
    await page.locator(W(".menu")).waitFor({ state: "attached" });
    await page.locator(W("button[aria-label='Chat options']")).click();
    await page.locator(W(".menu button")).filter({ hasText: "End chat" }).click();
    await waitFor(async () => (await openRooms()).length === 0, "room closed");
    await waitFor(async () => (await events(page, "chat-ended")).length === 1, "chat-ended event");
    await screenshot(page, "chat-ended");
    noPageErrors(page);
    agentWs.ws.close();
    sink.server.close();
  });
};

scenarios["time-on-site"] = async (browser, HOST) => {
  await addTrigger([{ name: "time-on-site", value: 5 }], say("Still looking? We can help."));
  const page = await newPage(browser);
  const started = Date.now();
  await step(page, "3 s on the first page: no trigger yet", async () => {
    await load(page, HOST + "/one");
    await sleep(3000);
    eq(await page.locator(W(".preview")).isVisible(), false, "no preview after 3 s");
  });
  await step(page, "the second page load continues the visit: fires at 5 s in total", async () => {
    await load(page, HOST + "/two");
    const loaded = Date.now();
    await page.locator(W(".preview")).waitFor({ state: "visible", timeout: 6000 });
    const at = Date.now();
    eq(await page.locator(W(".preview .ptext")).textContent(), "Still looking? We can help.", "preview text");
    assert(at - started >= 5000, `fired after ${at - started} ms of the visit`);
    assert(at - loaded < 3000 + 1500, `fired ${at - loaded} ms into the second page (the visit, not the page, counts)`);
    eq(await isOpen(page), false, "the trigger does not open the window");
    eq((await events(page, "trigger")).length, 1, "trigger event");
    await screenshot(page, "time-on-site");
  });
  await step(page, "a fresh visitor with one 3 s page sees nothing", async () => {
    const other = await newPage(browser);
    await load(other, HOST + "/one");
    await sleep(3000);
    eq(await other.locator(W(".preview")).isVisible(), false, "no preview for a new visit after 3 s");
    await other.context().close();
  });
};

scenarios["page-url"] = async (browser, HOST) => {
  await addTrigger([{ name: "page-url", value: "/pricing" }], say("Questions about pricing?"));
  await addTrigger([{ name: "chat-opened-by-visitor", value: null }], say("Hi! Ask us anything.", "Greeter"));
  const page = await newPage(browser);
  await step(page, "no trigger on a page that does not match", async () => {
    await load(page, HOST + "/home");
    await sleep(1500);
    eq(await page.locator(W(".preview")).isVisible(), false, "no preview on /home");
  });
  await step(page, "history.pushState to a matching URL fires the page-url trigger", async () => {
    await page.evaluate(() => history.pushState({}, "", "/pricing?plan=team"));
    await page.locator(W(".preview")).waitFor({ state: "visible", timeout: 8000 });
    eq(await page.locator(W(".preview .ptext")).textContent(), "Questions about pricing?", "preview text");
    eq(await page.locator(W(".preview .pwho")).textContent(), "Bot", "sender name");
  });
  await step(page, "opening the chat fires the chat-opened trigger", async () => {
    await openWidget(page);
    await waitBubble(page, "Hi! Ask us anything.");
    eq(await bubbles(page), ["Questions about pricing?", "Hi! Ask us anything."], "both trigger messages, in order");
    await screenshot(page, "chat-opened-trigger");
  });
  await step(page, "answering a trigger asks for the pre-chat fields, then sends the answer", async () => {
    await send(page, "Yes: is there a team discount?");
    await page.locator(W("input[name=name]")).waitFor({ state: "visible" });
    await register(page, "Paula Pricing", "paula@example.com");
    await waitBubble(page, "Yes: is there a team discount?");
    const room = await theRoom();
    await waitFor(async () => {
      const texts = (await roomMessages(room._id)).map((m) => m.msg);
      return ["Questions about pricing?", "Hi! Ask us anything.", "Yes: is there a team discount?"].every((t) => texts.includes(t));
    }, "the triggers and the answer in one room");
    noPageErrors(page);
  });
};

scenarios.external = async (browser, HOST) => {
  const seen = [];
  const service = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body });
      res.writeHead(200, { "Content-Type": "application/json" });
      // Out of order on purpose: the widget must show them by `order`.
      res.end(JSON.stringify({ contents: [
        { msg: "third: our hours are 9-17", order: 3 },
        { msg: "first: hello from the service", order: 1 },
        { msg: "second: <b>not bold</b>", order: 2 },
      ] }));
    });
  });
  await new Promise((r) => service.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${service.address().port}/hook`;
  await addTrigger([{ name: "chat-opened-by-visitor", value: null }], [{
    name: "use-external-service",
    params: { serviceUrl: url, serviceTimeout: 3000, serviceFallbackMessage: "fallback", sender: "custom", name: "Service" },
  }]);
  const page = await newPage(browser);
  await step(page, "the service's contents show in order", async () => {
    await load(page, HOST + "/support");
    await openWidget(page);
    await waitBubble(page, "third: our hours are 9-17");
    eq(await bubbles(page), ["first: hello from the service", "second: <b>not bold</b>", "third: our hours are 9-17"], "contents by order");
    eq(await page.locator(W(".bubble b")).count(), 0, "service text is text");
    eq(seen.length, 1, "one service call");
    const body = JSON.parse(seen[0].body);
    assert(typeof body.visitorToken === "string" && body.visitorToken.length >= 8, "visitorToken sent");
    assert(seen[0].headers["x-rocketchat-livechat-token"], "secret header sent");
    await screenshot(page, "external-service");
  });
  service.close();
};

scenarios["run-once"] = async (browser, HOST) => {
  await setting("Livechat_visit_timeout_seconds", 2);
  await addTrigger([{ name: "chat-opened-by-visitor", value: null }], say("Welcome, first time only"), { runOnce: true });
  await addTrigger([{ name: "chat-opened-by-visitor", value: null }], say("Welcome back, once per visit"), { runOnce: false });
  const page = await newPage(browser);
  await step(page, "the first visit shows both triggers", async () => {
    await load(page, HOST + "/a");
    await openWidget(page);
    await waitBubble(page, "Welcome back, once per visit");
    await waitBubble(page, "Welcome, first time only");
  });
  await step(page, "a second visit shows the per-visit trigger again, the runOnce one not", async () => {
    await page.locator(W(".launcher")).click();
    await sleep(3500); // the visit ends (idle timeout 2 s in this test)
    await load(page, HOST + "/b");
    await openWidget(page);
    await waitFor(async () => (await bubbles(page)).filter((t) => t === "Welcome back, once per visit").length === 2, "per-visit trigger again");
    await sleep(1000);
    eq((await bubbles(page)).filter((t) => t === "Welcome, first time only").length, 1, "runOnce shown once");
  });
};

scenarios.offline = async (browser, HOST) => {
  const page = await newPage(browser);
  await step(page, "no agent online: the offline form", async () => {
    await load(page, HOST + "/contact");
    await openWidget(page);
    await page.locator(W("textarea[name=message]")).waitFor({ state: "visible" });
    await screenshot(page, "offline-form");
  });
  await step(page, "the offline message reaches the agents' API", async () => {
    await page.locator(W("input[name=name]")).fill("Olga Offline");
    await page.locator(W("input[name=email]")).fill("olga@example.com");
    await page.locator(W("textarea[name=message]")).fill("Please call me back about my order.");
    await page.locator(W("form .primary")).click();
    await page.locator(W(".lead.done")).waitFor({ state: "visible" });
    const j = await api("GET", "/livechat/offline.messages");
    const m = (j.messages || []).find((x) => x.email === "olga@example.com");
    assert(m, "offline message stored");
    eq([m.name, m.message], ["Olga Offline", "Please call me back about my order."], "stored fields");
    await screenshot(page, "offline-sent");
    noPageErrors(page);
  });
};

scenarios.xss = async (browser, HOST) => {
  await agentOnline();
  await setting("Livechat_title", "<i>Support</i><script>alert(2)</script>");
  const page = await newPage(browser);
  const evil = "<img src=x onerror=alert(1)>";
  await step(page, "agent HTML renders as text and runs nothing", async () => {
    await load(page, HOST + "/page?guest=Eve&email=eve@example.com");
    await openWidget(page);
    await send(page, "hi <b>there</b>");
    const room = await theRoom();
    await agentSay(room._id, evil);
    await waitBubble(page, evil);
    await sleep(500);
    eq(await page.locator(W(".bubble img")).count(), 0, "no img element");
    eq(await page.locator(W(".bubble b")).count(), 0, "no b element");
    eq(await page.locator(W(".title")).textContent(), "<i>Support</i><script>alert(2)</script>", "title is text");
    eq(await page.locator(W(".title *")).count(), 0, "no elements from the config");
    eq(await page.evaluate(() => window.__dialogs), 0, "no alert ran");
    noPageErrors(page);
    await screenshot(page, "xss-as-text");
  });
};

scenarios.phone = async (browser, HOST) => {
  await addTrigger([{ name: "time-on-site", value: 1 }], say("Need help choosing? Tap to chat with us."));
  const page = await newPage(browser, { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true });
  await step(page, "a trigger on a phone is a small preview bubble", async () => {
    await load(page, HOST + "/mobile");
    await page.locator(W(".preview")).waitFor({ state: "visible", timeout: 8000 });
    eq(await isOpen(page), false, "the window does not open uninvited");
    const box = await page.locator(W(".preview")).boundingBox();
    assert(box.width <= 375 - 32 && box.height <= 140, `small bubble (${JSON.stringify(box)})`);
    assert(box.y > 667 / 2, "in the lower half, near the launcher");
    await screenshot(page, "phone-preview");
  });
  await step(page, "the page stays usable", async () => {
    await page.locator("#page-btn").tap();
    eq(await page.locator("#clicks").textContent(), "1", "page button works");
    await page.locator(W(".pclose")).tap();
    eq(await page.locator(W(".preview")).isVisible(), false, "preview dismissed");
  });
  await step(page, "opened by the visitor, it goes full screen", async () => {
    await page.locator(W(".launcher")).tap();
    await page.locator(W(".win")).waitFor({ state: "visible" });
    await settle(page, ".win");
    const box = await page.locator(W(".win")).boundingBox();
    eq([box.x, box.y, box.width, box.height], [0, 0, 375, 667], "full screen");
    await waitBubble(page, "Need help choosing? Tap to chat with us.");
    await screenshot(page, "phone-open");
    await page.locator(W("button[aria-label='Minimize chat']")).tap();
    await page.locator(W(".win")).waitFor({ state: "hidden" });
    noPageErrors(page);
  });
};

scenarios.strict = async (browser, HOST) => {
  await agentOnline();
  const page = await newPage(browser);
  await step(page, "strict CSP + hostile CSS: the widget still looks and works right", async () => {
    await load(page, HOST + "/strict?strict&aggressive");
    const launcher = await page.locator(W(".launcher")).boundingBox();
    assert(launcher.width === 56 && launcher.height === 56, `launcher size ${JSON.stringify(launcher)}`);
    assert(launcher.x > 1100 && launcher.y > 650, "bottom right");
    const bg = await page.locator(W(".launcher")).evaluate((el) => getComputedStyle(el).backgroundColor);
    // The server's default theme colour #C1272D: set through the CSSOM, which the CSP allows.
    eq(bg, "rgb(193, 39, 45)", "launcher has the configured colour");
    await openWidget(page);
    const width = await page.locator(W(".win")).evaluate((el) => el.offsetWidth);
    eq(width, 370, "window width (layout, not the opening animation)");
    await register(page, "Stella Strict", "stella@example.com");
    await send(page, "works under a strict CSP");
    const room = await theRoom();
    await agentSay(room._id, "Confirmed, it does.");
    await waitBubble(page, "Confirmed, it does.");
    // Bubbles are re-rendered as messages arrive: read the style of one that stays put.
    let font = "";
    for (let i = 0; i < 20 && !font; i++) {
      font = await page.locator(W(".msg:not(.sys) .bubble")).first().evaluate((el) => (el.isConnected ? getComputedStyle(el).fontSize : ""));
      if (!font) await page.waitForTimeout(100);
    }
    eq(font, "14px", "the host's font-size does not leak in");
    eq(await page.evaluate(() => window.__violations), [], "no CSP violations");
    await screenshot(page, "strict-csp-aggressive-css");
    noPageErrors(page);
  });
};

scenarios.api = async (browser, HOST) => {
  await agentOnline();
  const page = await newPage(browser);
  await step(page, "calls queued before the script loaded are replayed", async () => {
    await load(page, HOST + "/api?guest=Queued%20Guest&email=queued@example.com&plan=pro&open=1");
    await page.locator(W(".win")).waitFor({ state: "visible" });
    // Registered by setGuest: no pre-chat form.
    await page.locator(W(".composer textarea")).waitFor({ state: "visible" });
    await send(page, "hello via the API page");
    const room = await theRoom();
    const j = await api("GET", `/livechat/visitors.info?visitorId=${encodeURIComponent(room.v._id)}`);
    eq(j.visitor.name, "Queued Guest", "name from setGuest");
    eq(j.visitor.visitorEmails[0].address, "queued@example.com", "email from setGuest");
    eq(j.visitor.livechatData.plan, "pro", "metadata from setMetadata");
  });
  await step(page, "Rtbox.open/close and on() events", async () => {
    await page.evaluate(() => window.Rtbox.close());
    await page.locator(W(".win")).waitFor({ state: "hidden" });
    await page.evaluate(() => window.Rtbox.open());
    await page.locator(W(".win")).waitFor({ state: "visible" });
    const names = await page.evaluate(() => window.__events.map((e) => e[0]));
    for (const n of ["ready", "open", "close", "chat-started", "message"]) assert(names.includes(n), "event " + n);
    // on() after ready still hears ready; its return value unsubscribes.
    eq(await page.evaluate(() => new Promise((r) => window.Rtbox.on("ready", () => r("late ready")))), "late ready", "late ready");
    const heard = await page.evaluate(() => {
      let n = 0;
      const off = window.Rtbox.on("close", () => n++);
      window.Rtbox.close();
      off();
      window.Rtbox.open();
      window.Rtbox.close();
      return new Promise((r) => setTimeout(() => r(n), 300));
    });
    eq(heard, 1, "an unsubscribed listener hears nothing more");
    await page.evaluate(() => window.Rtbox.open());
  });
  await step(page, "pageVisited() and pushState report navigation to the agent", async () => {
    await page.evaluate(() => history.pushState({}, "", "/api/checkout"));
    await page.evaluate(() => window.Rtbox.pageVisited());
    const room = await theRoom();
    await waitFor(async () => {
      const ctx = await api("GET", `/livechat/room.context?rid=${room._id}`);
      return ctx.visit && ctx.visit.pages.some((p) => /\/api\/checkout/.test(p.href));
    }, "the navigation in the visit");
    await page.evaluate(() => { location.hash = "#shipping"; });
    await waitFor(async () => {
      const ctx = await api("GET", `/livechat/room.context?rid=${room._id}`);
      return ctx.visit.pages.some((p) => /#shipping$/.test(p.href));
    }, "the hash change in the visit");
    const pages = async () => (await api("GET", `/livechat/room.context?rid=${room._id}`)).visit.pages.map((p) => p.href);
    await page.evaluate(() => history.replaceState({}, "", "/api/replaced"));
    await waitFor(async () => (await pages()).some((h) => /\/api\/replaced$/.test(h)), "replaceState in the visit");
    await page.evaluate(() => history.pushState({}, "", "/api/forward"));
    await waitFor(async () => (await pages()).some((h) => /\/api\/forward$/.test(h)), "pushState in the visit");
    const before = (await pages()).length;
    await page.evaluate(() => history.back());
    await waitFor(async () => {
      const now = await pages();
      return now.length > before && /\/api\/replaced$/.test(now[now.length - 1]);
    }, "popstate (back) in the visit");
    noPageErrors(page);
  });
};

scenarios.demo = async (browser) => {
  await agentOnline();
  const page = await newPage(browser);
  const csp = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
  await step(page, "the demo page chats with an agent under its own strict CSP", async () => {
    await page.goto(BASE + "/livechat/demo");
    await page.locator(W(".launcher")).waitFor({ state: "visible" });
    await page.locator("#events li").first().waitFor();
    await page.click("#open-chat");
    await register(page, "Demo Dora", "dora@example.com");
    await send(page, "hello from the demo page");
    const room = await theRoom();
    await agentSay(room._id, "Welcome to the demo!");
    await waitBubble(page, "Welcome to the demo!");
    await page.click("nav a[data-page=pricing]");
    eq(await page.title(), "Pricing — Northwind Coffee", "the demo navigates like a single-page app");
    eq(csp, [], "no CSP violations");
    noPageErrors(page);
    await screenshot(page, "demo");
  });
};

scenarios.config = async (browser, HOST) => {
  await agentOnline();
  await setting("Livechat_title", "Ask Northwind");
  await setting("Livechat_title_color", "#0a7d5a");
  await setting("Livechat_widget_position", "left");
  await setting("Livechat_email_field_registration_form", false);
  await setting("Livechat_message_character_limit", 40);
  const page = await newPage(browser);
  await step(page, "title, colour and position come from the server config", async () => {
    await load(page, HOST + "/configured");
    const box = await page.locator(W(".launcher")).boundingBox();
    assert(box.x < 100, "launcher on the left: " + JSON.stringify(box));
    const bg = await page.locator(W(".launcher")).evaluate((el) => getComputedStyle(el).backgroundColor);
    eq(bg, "rgb(10, 125, 90)", "launcher colour");
    await openWidget(page);
    eq(await page.locator(W(".title")).textContent(), "Ask Northwind", "title");
    const head = await page.locator(W(".head")).evaluate((el) => getComputedStyle(el).backgroundColor);
    eq(head, "rgb(10, 125, 90)", "header colour");
    assert((await page.locator(W(".win")).boundingBox()).x < 100, "window on the left");
  });
  await step(page, "the pre-chat form asks only for the fields the config wants", async () => {
    await page.locator(W("input[name=name]")).waitFor({ state: "visible" });
    eq(await page.locator(W("input[name=email]")).count(), 0, "no email field");
    await page.locator(W("input[name=name]")).fill("Nora Nameonly");
    await page.locator(W("form .primary")).click();
    await page.locator(W(".composer textarea")).waitFor({ state: "visible" });
    await screenshot(page, "config-left-green");
  });
  let first;
  await step(page, "the character limit holds before anything is sent", async () => {
    await send(page, "x".repeat(41));
    await page.locator(W(".note")).filter({ hasText: "at most 40" }).waitFor({ state: "visible" });
    eq(await bubbles(page), [], "nothing sent");
    await send(page, "short question");
    await waitBubble(page, "short question");
    first = await roomHolding("short question");
  });
  await step(page, "the agent closes the chat; the next message opens a new one", async () => {
    await api("POST", "/livechat/room.closeByUser", { rid: first._id, comment: "solved" });
    await waitFor(async () => (await events(page, "chat-ended")).length === 1, "chat-ended");
    await send(page, "one more thing");
    await waitBubble(page, "one more thing");
    const second = await theRoom();
    assert(second._id !== first._id, "a new room");
    await waitFor(async () => (await roomMessages(second._id)).some((m) => m.msg === "one more thing"), "message in the new room");
    await agentSay(second._id, "Sure, go ahead");
    await waitBubble(page, "Sure, go ahead");
  });
  await step(page, "a message the network lost can be sent again", async () => {
    let dropped = 0;
    await page.route("**/api/v1/livechat/message", (route) => (dropped++ ? route.continue() : route.abort()));
    await send(page, "are you there?");
    await page.locator(W(".retry")).waitFor({ state: "visible" });
    await page.locator(W(".retry")).click();
    await waitFor(async () => (await roomMessages((await theRoom())._id)).some((m) => m.msg === "are you there?"), "the retried message in the room");
    await waitFor(async () => (await bubbles(page)).filter((t) => t === "are you there?").length === 1 && !(await page.locator(W(".retry")).count()), "one copy, no retry button");
    noPageErrors(page);
  });
  await step(page, "a room closed while the widget's request for it travelled is not reopened", async () => {
    await api("POST", "/livechat/room.closeByUser", { rid: (await theRoom())._id });
    await waitFor(async () => (await events(page, "chat-ended")).length === 2, "the second chat ended");
    // The next message asks for a room; hold the answer until the agent has closed that room.
    let closed = null;
    await page.route("**/api/v1/livechat/room?**", async (route) => {
      await page.unroute("**/api/v1/livechat/room?**");
      const answer = await route.fetch();
      closed = (await answer.json()).room._id;
      await api("POST", "/livechat/room.closeByUser", { rid: closed });
      await waitFor(async () => (await events(page, "chat-ended")).length === 3, "the widget saw that room close");
      await route.fulfill({ response: answer });
    });
    await send(page, "still there?");
    const room = await roomHolding("still there?");
    assert(closed && room._id !== closed, `a new room, not the closed one (${closed})`);
    await agentSay(room._id, "Yes");
    await waitBubble(page, "Yes");
    eq((await events(page, "chat-ended")).length, 3, "each room ended once");
    assert(!(await page.locator(W(".retry")).count()), "nothing to resend");
    noPageErrors(page);
  });
};

scenarios["no-storage"] = async (browser, HOST) => {
  await agentOnline();
  const page = await newPage(browser);
  // Storage blocked by the browser's privacy settings: every access throws.
  await page.context().addInitScript(() => {
    Object.defineProperty(window, "localStorage", { get() { throw new DOMException("blocked", "SecurityError"); } });
  });
  await step(page, "with storage blocked the chat still works for the page", async () => {
    await load(page, HOST + "/private?guest=Priya&email=priya@example.com");
    await openWidget(page);
    await send(page, "hello without storage");
    await waitBubble(page, "hello without storage");
    const room = await theRoom();
    // The bubble shows before the server stored the message: answer once it has.
    await waitFor(async () => (await roomMessages(room._id)).some((m) => m.msg === "hello without storage"), "the visitor's message in the room");
    await agentSay(room._id, "Got it");
    await waitBubble(page, "Got it");
    eq(await bubbles(page), ["hello without storage", "Got it"], "the conversation");
    noPageErrors(page);
  });
};

scenarios.a11y = async (browser, HOST) => {
  await agentOnline();
  const page = await newPage(browser, { colorScheme: "dark", reducedMotion: "reduce" });
  await step(page, "keyboard: tab to the launcher, Enter opens, focus moves inside", async () => {
    await load(page, HOST + "/keys?guest=Kim&email=kim@example.com");
    await page.locator("#page-btn").focus();
    await page.keyboard.press("Tab");
    const label = await page.evaluate(() => { const r = document.querySelector("rtbox-livechat").shadowRoot; return r.activeElement && r.activeElement.getAttribute("aria-label"); });
    eq(label, "Open chat", "launcher focused after the page's last control");
    await page.keyboard.press("Enter");
    await page.locator(W(".win")).waitFor({ state: "visible" });
    await waitFor(() => page.evaluate(() => { const r = document.querySelector("rtbox-livechat").shadowRoot; return r.activeElement && r.activeElement.tagName === "TEXTAREA"; }), "focus in the composer");
  });
  await step(page, "focus stays inside the open window", async () => {
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press(i % 3 === 2 ? "Shift+Tab" : "Tab");
      const inside = await page.evaluate(() => { const r = document.querySelector("rtbox-livechat").shadowRoot; return !!(r.activeElement && r.activeElement.closest(".win")); });
      assert(inside, "focus left the window at tab " + i);
    }
  });
  await step(page, "ARIA: dialog, log, labelled buttons", async () => {
    eq(await page.locator(W(".win")).getAttribute("role"), "dialog", "dialog role");
    assert((await page.locator(W(".win")).getAttribute("aria-label")).length > 0, "dialog label");
    eq(await page.locator(W(".log")).getAttribute("role"), "log", "log role");
    const unlabeled = await page.evaluate(() => [...document.querySelector("rtbox-livechat").shadowRoot.querySelectorAll("button")].filter((b) => !b.closest("[hidden]") && !b.getAttribute("aria-label") && !b.textContent.trim()).length);
    eq(unlabeled, 0, "every button has a name");
  });
  await step(page, "dark scheme and reduced motion", async () => {
    const bg = await page.locator(W(".win")).evaluate((el) => getComputedStyle(el).backgroundColor);
    eq(bg, "rgb(23, 25, 30)", "dark background");
    const anim = await page.locator(W(".win")).evaluate((el) => getComputedStyle(el).animationName);
    eq(anim, "none", "no animation");
    await screenshot(page, "a11y-dark");
  });
  await step(page, "Escape closes and gives focus back to the launcher", async () => {
    await page.keyboard.press("Escape");
    await page.locator(W(".win")).waitFor({ state: "hidden" });
    const label = await page.evaluate(() => { const r = document.querySelector("rtbox-livechat").shadowRoot; return r.activeElement && r.activeElement.className; });
    eq(label, "launcher", "focus back on the launcher");
    noPageErrors(page);
  });
};

(async () => {
  const run = scenarios[scenario];
  if (!run) {
    console.error("unknown scenario " + scenario + "; known: " + Object.keys(scenarios).join(", "));
    process.exit(2);
  }
  const host = await startHost();
  const HOST = `http://127.0.0.1:${host.address().port}`;
  const browser = await launch();
  await run(browser, HOST);
  await browser.close();
  host.close();
  console.log("DONE " + scenario);
  process.exit(0);
})().catch((e) => {
  console.error("FAIL " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
