// The livechat half of admin_ui_test.js: chat settings and a livechat trigger made in
// the forms, the widget appearance page, and an agent working a chat that a visitor
// started through the visitor API — the visitor's side is checked over /ws and REST.
"use strict";

const http = require("http");
const WS = require("ws");

// A local "external service" for use-external-service triggers (loopback only).
function startService() {
  return new Promise((resolve) => {
    const calls = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => { body += c; });
      req.on("end", () => {
        calls.push({ headers: req.headers, body });
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ contents: [{ msg: "second line", order: 2 }, { msg: "Hello from the service", order: 1 }] }));
      });
    });
    server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}/hook`, calls, close: () => server.close() }));
  });
}

// The visitor's WebSocket: joins its room and collects frames.
function visitorSocket(base, token, rid) {
  return new Promise((resolve, reject) => {
    const ws = new WS(`${base.replace(/^http/, "ws")}/ws?visitor_token=${encodeURIComponent(token)}`);
    const frames = [];
    ws.on("message", (data) => { try { frames.push(JSON.parse(String(data))); } catch { /* ignore */ } });
    ws.on("error", reject);
    ws.on("open", () => {
      ws.send(JSON.stringify({ action: "join", options: { channel: `livechat/${rid}`, ref: "j" } }));
      const t = setInterval(() => {
        const j = frames.find((f) => f.action === "join" || (f.action === "error" && f.options && f.options.ref === "j"));
        if (j) { clearInterval(t); if (j.action === "error") reject(new Error(`visitor join refused: ${JSON.stringify(j)}`)); else resolve({ ws, frames }); }
      }, 50);
    });
  });
}

async function run(t) {
  const { page, base, apiCall, waitFor, assert, step, go, screenshot, adminToken, AGENT, XSS, checkProblems, browser } = t;
  const service = await startService();

  await step(page, "chat settings: manual routing and a message limit saved in the form", async () => {
    await go(page, "/livechat/settings");
    await page.getByLabel("Routing").selectOption("Manual_Selection");
    await page.getByLabel("Longest visitor message (characters)").fill("500");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText(/Saved \d+ setting/).waitFor();
    const r = await apiCall("GET", "/api/v1/settings/Livechat_Routing_Method", undefined, adminToken);
    assert(r.status === 200 && r.json.value === "Manual_Selection", `routing saved: ${r.text}`);
    const l = await apiCall("GET", "/api/v1/settings/Livechat_message_character_limit", undefined, adminToken);
    assert(l.json.value === 500, `limit saved: ${l.text}`);
    await page.locator("section", { hasText: "Agents" }).locator("td", { hasText: AGENT.email }).first().waitFor();
    checkProblems();
  });

  await step(page, "livechat trigger form: every condition and action; the service test; Rocket.Chat's shape back", async () => {
    await go(page, "/livechat/triggers/new");
    await page.getByLabel("Name", { exact: true }).fill("pricing help");
    await page.getByLabel("Description").fill(`Offer help on pricing ${XSS}`);
    await page.getByLabel("Run once per visitor (across visits and devices)").check();
    const conds = page.locator("fieldset", { hasText: "When (all of these)" });
    await conds.getByLabel("Condition", { exact: true }).first().selectOption("page-url");
    await conds.getByLabel("Value", { exact: true }).first().fill("(");
    await page.getByRole("button", { name: "Create trigger" }).click();
    await page.getByText("Not a valid regular expression").waitFor();
    await conds.getByLabel("Value", { exact: true }).first().fill("/pricing");
    await page.getByRole("button", { name: "+ Add condition" }).click();
    await conds.getByLabel("Condition", { exact: true }).nth(1).selectOption("time-on-site");
    await conds.getByLabel("Value", { exact: true }).nth(1).fill("5");
    for (const name of ["chat-opened-by-visitor", "after-guest-registration"]) {
      await page.getByRole("button", { name: "+ Add condition" }).click();
      const last = conds.getByLabel("Condition", { exact: true }).last();
      await last.selectOption(name);
    }
    // Remove the last two again: the trigger keeps page-url AND time-on-site.
    await conds.getByRole("button", { name: "Remove condition" }).last().click();
    await conds.getByRole("button", { name: "Remove condition" }).last().click();
    const acts = page.locator("fieldset", { hasText: "Then" });
    await acts.getByLabel("Speaks as").first().selectOption("custom");
    await acts.getByLabel("Name shown").first().fill("Pricing bot");
    await acts.getByLabel("Message", { exact: true }).first().fill("Questions about plans? Ask away.");
    await page.getByRole("button", { name: "+ Add action" }).click();
    await acts.getByLabel("Action", { exact: true }).last().selectOption("use-external-service");
    await acts.getByLabel("Service URL").last().fill(service.url);
    await acts.getByLabel("Timeout (milliseconds)").last().fill("3000");
    await acts.getByLabel("Fallback message").last().fill("We will be right with you.");
    await acts.getByRole("button", { name: "Test service" }).click();
    await acts.getByText("Hello from the service").waitFor();
    assert(service.calls.length >= 1, "the service was called by the test button");
    await screenshot(page, "livechat-trigger-form-1280");
    await page.getByRole("button", { name: "Create trigger" }).click();
    await page.getByRole("heading", { name: "Chat triggers" }).waitFor();
    await page.getByRole("link", { name: "pricing help" }).waitFor();
    const list = await apiCall("GET", "/api/v1/livechat/triggers", undefined, adminToken);
    assert(list.status === 200 && list.json.success === true, `triggers list: ${list.text}`);
    for (const k of ["triggers", "count", "offset", "total"]) assert(k in list.json, `list has ${k}`);
    const tr = list.json.triggers.find((x) => x.name === "pricing help");
    assert(tr && typeof tr._id === "string", `created trigger listed: ${list.text}`);
    assert(tr.description === `Offer help on pricing ${XSS}` && tr.enabled === true && tr.runOnce === true, `flags: ${JSON.stringify(tr)}`);
    assert(JSON.stringify(tr.conditions) === JSON.stringify([{ name: "page-url", value: "/pricing" }, { name: "time-on-site", value: 5 }]), `conditions: ${JSON.stringify(tr.conditions)}`);
    assert(tr.actions.length === 2 && tr.actions[0].name === "send-message" && tr.actions[1].name === "use-external-service", `actions: ${JSON.stringify(tr.actions)}`);
    const p0 = tr.actions[0].params, p1 = tr.actions[1].params;
    assert(p0.sender === "custom" && p0.name === "Pricing bot" && p0.msg === "Questions about plans? Ask away.", `send-message params: ${JSON.stringify(p0)}`);
    assert(p1.serviceUrl === service.url && Number(p1.serviceTimeout) === 3000 && p1.serviceFallbackMessage === "We will be right with you.", `service params: ${JSON.stringify(p1)}`);
    // Edit round-trip: the form loads it back and saving keeps the same id.
    await page.getByRole("link", { name: "pricing help" }).click();
    await page.getByLabel("Name", { exact: true }).fill("pricing help (edited)");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("link", { name: "pricing help (edited)" }).waitFor();
    const one = await apiCall("GET", `/api/v1/livechat/triggers/${tr._id}`, undefined, adminToken);
    assert(one.json.trigger && one.json.trigger.name === "pricing help (edited)" && one.json.trigger.conditions.length === 2, `edited in place: ${one.text}`);
    await page.getByText(`Offer help on pricing ${XSS}`).waitFor();
    checkProblems();
  });

  await step(page, "widget appearance: the preview follows the form; saved; install snippet", async () => {
    await go(page, "/livechat/appearance");
    await page.locator(".pv-title").waitFor();
    await page.getByLabel("Title", { exact: true }).fill(`Talk to us ${XSS}`);
    await page.locator(".pv-title", { hasText: `Talk to us ${XSS}` }).waitFor();
    await page.getByLabel("Colour", { exact: true }).fill("#0a7f5a");
    const color = await page.locator(".pv-stage").evaluate((el) => getComputedStyle(el).getPropertyValue("--pv-color").trim());
    assert(color === "#0a7f5a", `preview colour follows (${color})`);
    await page.getByRole("button", { name: "Save appearance" }).click();
    await page.getByText("Appearance saved").waitFor();
    const a = await apiCall("GET", "/api/v1/livechat/appearance", undefined, adminToken);
    const title = (a.json.appearance || []).find((x) => x._id === "Livechat_title");
    assert(title && title.value === `Talk to us ${XSS}`, `appearance saved: ${a.text}`);
    const snippet = await page.locator(".secret-box input").first().inputValue();
    assert(snippet === `<script src="${base}/livechat/widget.js" async></script>`, `snippet: ${snippet}`);
    await screenshot(page, "livechat-appearance-1280");
    checkProblems();
  });

  // ---- a visitor starts a chat through the visitor API --------------------------------------
  const vtoken = `visitor-${Date.now()}`;
  let rid;
  let visitorWs;
  await step(page, "a visitor starts a chat through the visitor API (it waits in the queue)", async () => {
    const v = await apiCall("POST", "/api/v1/livechat/visitor", { visitor: { token: vtoken, name: `Ana ${XSS}`, email: "ana@example.com", customFields: [{ key: "plan", value: "pro" }] } });
    assert(v.status === 200 && v.json.success, `visitor: ${v.text}`);
    const ev = await apiCall("POST", "/api/v1/livechat/visitor.event", { token: vtoken, event: "visit", data: { href: "https://shop.example.com/pricing", title: "Pricing", referrer: "https://search.example.com/" } });
    assert(ev.status === 200, `visit event: ${ev.text}`);
    const room = await apiCall("GET", `/api/v1/livechat/room?token=${vtoken}`);
    assert(room.status === 200 && room.json.room, `room: ${room.text}`);
    rid = room.json.room._id;
    const m = await apiCall("POST", "/api/v1/livechat/message", { token: vtoken, rid, msg: "Do you ship to Portugal?" });
    assert(m.status === 200, `visitor message: ${m.text}`);
    visitorWs = await visitorSocket(base, vtoken, rid);
    const off = await apiCall("POST", "/api/v1/livechat/offline.message", { name: `Rui ${XSS}`, email: "rui@example.com", message: "Call me back tomorrow." });
    assert(off.status === 200, `offline message: ${off.text}`);
  });

  const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  // Count the inbox's new-chat chimes (oscillators started) without needing speakers.
  await ctx2.addInitScript(() => {
    window.__chimes = 0;
    const Base = window.AudioContext;
    if (Base) window.AudioContext = class extends Base { createOscillator() { window.__chimes += 1; return super.createOscillator(); } };
  });
  const agent = await ctx2.newPage();
  const agentProblems = [];
  agent.on("pageerror", (e) => agentProblems.push(`agent page error: ${e.message}`));
  agent.on("console", (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) agentProblems.push(`CSP: ${m.text()}`); });
  agent.on("dialog", async (d) => { agentProblems.push(`unexpected dialog: ${d.message()}`); await d.dismiss(); });

  await step(agent, "an agent signs in, goes online, and takes the queued chat", async () => {
    await agent.goto(`${base}/admin/`);
    await agent.getByLabel("Email").fill(AGENT.email);
    await agent.getByLabel("Password").fill(AGENT.password);
    await agent.getByRole("button", { name: "Sign in" }).click();
    await agent.getByRole("heading", { name: "Inbox" }).waitFor();
    await agent.locator(".live-dot.on").waitFor();
    await agent.getByLabel("My status").selectOption("online");
    await agent.getByText("You are online").waitFor();
    const item = agent.locator(".chat-item", { hasText: `Ana ${XSS}` });
    await item.waitFor();
    assert(/\(\d+\) Inbox/.test(await agent.title()), `title badge: ${await agent.title()}`);
    assert(await agent.evaluate(() => document.querySelectorAll('img[src="x"]').length) === 0, "visitor name rendered as text");
    await screenshot(agent, "inbox-queue-1280");
    await item.getByRole("button", { name: "Take" }).click();
    await agent.locator(".cmsg.visitor", { hasText: "Do you ship to Portugal?" }).waitFor();
    await agent.locator(".conv-title", { hasText: `Ana ${XSS}` }).waitFor();
  });

  await step(agent, "visitor context: name, email, metadata, pages visited with times, time on site", async () => {
    const right = agent.locator(".inbox-right");
    await right.getByText("ana@example.com").waitFor();
    await right.getByText("Pricing").first().waitFor();
    await right.getByText("https://shop.example.com/pricing").waitFor();
    await right.getByText("Time on site").waitFor();
    await right.getByText("plan").waitFor();
    await right.getByText("pro", { exact: true }).waitFor();
  });

  await step(agent, "the agent replies; the visitor receives it over /ws and REST; visitor messages and typing arrive live", async () => {
    await agent.getByLabel("Reply").fill("Yes, in 2 to 3 days.");
    await waitFor(() => visitorWs.frames.find((f) => f.action === "typing" && f.payload && f.payload.typing === true && f.payload.sender === "agent"), "the visitor sees the agent typing");
    await agent.getByLabel("Reply").press("Enter");
    await agent.locator(".cmsg.agent", { hasText: "Yes, in 2 to 3 days." }).waitFor();
    await waitFor(() => visitorWs.frames.find((f) => f.action === "message" && f.payload && f.payload.msg === "Yes, in 2 to 3 days." && f.payload.sender === "agent"), "the visitor's socket gets the reply");
    const hist = await apiCall("GET", `/api/v1/livechat/messages.history/${rid}?token=${vtoken}`);
    assert(hist.status === 200 && hist.json.messages.some((m) => m.msg === "Yes, in 2 to 3 days."), `history has the reply: ${hist.text}`);
    visitorWs.ws.send(JSON.stringify({ action: "typing", options: { channel: `livechat/${rid}` }, payload: { typing: true } }));
    await agent.locator(".typing", { hasText: "is typing" }).waitFor();
    const m = await apiCall("POST", "/api/v1/livechat/message", { token: vtoken, rid, msg: `Great, thanks! ${XSS}` });
    assert(m.status === 200, m.text);
    await agent.locator(".cmsg.visitor", { hasText: `Great, thanks! ${XSS}` }).waitFor();
    assert(await agent.evaluate(() => document.querySelectorAll('img[src="x"]').length) === 0, "messages rendered as text");
    await screenshot(agent, "inbox-conversation-1280");
  });

  await step(agent, "offline messages are listed for agents", async () => {
    await agent.getByRole("tab", { name: /Offline/ }).click();
    await agent.locator(".chat-item", { hasText: `Rui ${XSS}` }).waitFor();
    await agent.getByText("Call me back tomorrow.").waitFor();
    await agent.getByRole("tab", { name: /My chats/ }).click();
  });

  await step(agent, "the agent closes the chat with a comment", async () => {
    await agent.getByRole("button", { name: "Close chat" }).click();
    const dlg = agent.locator("dialog");
    await dlg.getByLabel("Closing comment").fill("Shipping question answered.");
    await dlg.getByRole("button", { name: "Close chat" }).click();
    await agent.getByText("Chat closed.").first().waitFor();
    await waitFor(async () => {
      const r = await apiCall("POST", "/api/v1/livechat/message", { token: vtoken, rid, msg: "one more thing" });
      return r.status === 400 && /room-closed/.test(r.text);
    }, "the room is closed for the visitor");
    const info = await apiCall("GET", `/api/v1/livechat/rooms?open=false`, undefined, adminToken);
    const room = (info.json.rooms || []).find((r) => r._id === rid);
    assert(room && room.open === false && room.closingMessage && room.closingMessage.msg === "Shipping question answered.", `closed with the comment: ${JSON.stringify(room)}`);
    await agent.setViewportSize({ width: 375, height: 760 });
    await agent.goto(`${base}/admin/#/inbox`);
    await agent.getByRole("heading", { name: "Inbox" }).waitFor();
    const [sw, iw] = await agent.evaluate(() => [document.scrollingElement.scrollWidth, innerWidth]);
    assert(sw <= iw, `inbox at 375 px scrolls sideways (${sw} > ${iw})`);
    await screenshot(agent, "inbox-375");
    assert(agentProblems.length === 0, agentProblems.join("\n"));
  });

  await step(agent, "a new chat chimes and badges the title; the agent takes it and transfers it to a colleague", async () => {
    const colleague = await apiCall("POST", "/api/v1/users", { email: "agent2@example.com", name: "Bea", password: "agent two password", roles: ["agent"] }, adminToken);
    assert(colleague.status === 201, colleague.text);
    await agent.setViewportSize({ width: 1280, height: 860 });
    await agent.goto(`${base}/admin/#/inbox`);
    await agent.locator(".live-dot.on").waitFor();
    await agent.getByRole("tab", { name: /Queue/ }).click();
    await agent.getByText("Nobody is waiting").waitFor();
    const chimesBefore = await agent.evaluate(() => window.__chimes);
    // A new chat arrives while the inbox is open: sound, title badge, nav badge.
    const token2 = `visitor2-${Date.now()}`;
    await apiCall("POST", "/api/v1/livechat/visitor", { visitor: { token: token2, name: "Carla" } });
    const room = await apiCall("GET", `/api/v1/livechat/room?token=${token2}`);
    const rid2 = room.json.room._id;
    await apiCall("POST", "/api/v1/livechat/message", { token: token2, rid: rid2, msg: "Hello?" });
    const item = agent.locator(".chat-item", { hasText: "Carla" });
    await item.waitFor();
    await waitFor(async () => (await agent.evaluate(() => window.__chimes)) > chimesBefore, "a chime for the new chat");
    await waitFor(async () => /^\(1\) Inbox/.test(await agent.title()), "the title counts the waiting chat");
    assert((await agent.locator('.nav a[data-path="/inbox"] .nav-badge').textContent()) === "1", "the nav badge counts it");
    await item.getByRole("button", { name: "Take" }).click();
    await agent.locator(".cmsg.visitor", { hasText: "Hello?" }).waitFor();
    await agent.getByRole("button", { name: "Transfer" }).click();
    const dlg = agent.locator("dialog");
    const target = dlg.getByLabel("Transfer to");
    await target.locator("option", { hasText: "Bea" }).waitFor({ state: "attached" });
    const bea = (await target.locator("option").allTextContents()).find((o) => o.startsWith("Bea"));
    await target.selectOption({ label: bea });
    await dlg.getByLabel("Note for your colleague").fill("Needs a refund");
    await dlg.getByRole("button", { name: "Transfer" }).click();
    await agent.getByText("Chat transferred.").waitFor();
    await waitFor(async () => {
      const r = await apiCall("GET", "/api/v1/livechat/rooms?open=true", undefined, adminToken);
      const x = (r.json.rooms || []).find((y) => y._id === rid2);
      return x && x.servedBy && x.servedBy.username === "agent2@example.com";
    }, "the room is served by the colleague");
    assert(agentProblems.length === 0, agentProblems.join("\n"));
  });

  visitorWs.ws.close();
  await ctx2.close();
  service.close();
}

module.exports = { run };
