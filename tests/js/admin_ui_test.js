// Drives the admin UI (/admin/) in headless Chromium against a real rtbox server.
//
//   node tests/js/admin_ui_test.js BASE_URL SETUP_LINK
//
// Walks a new admin's first hour: setup link → dashboard; a channel created in the form
// (with an inline field error first), a console publish seen live and in history; a
// trigger whose syntax error is marked at its line, fixed, tested, and then listed in
// the run log after a real publish; an API key shown once; hostile names rendered as
// text; role-aware navigation for an agent; session expiry; and with livechat present,
// an agent taking a queued chat, replying and closing it, plus a livechat trigger made
// in the form. Every page is screenshot at 1280 and 375 px and checked for horizontal
// scroll. Prints `PASS step` per step; exits 1 on the first failure (with screenshots).
"use strict";

const browserHelpers = require("./browser");
const { launch, step, deadline } = browserHelpers;

// Screenshots from the top of the page, so the fixed sidebar sits where a person sees it.
async function screenshot(page, name) {
  await page.evaluate(() => window.scrollTo(0, 0)).catch(() => {});
  return browserHelpers.screenshot(page, name);
}

const [base, setupLink] = process.argv.slice(2);
if (!base || !setupLink) {
  console.error("usage: node admin_ui_test.js BASE_URL SETUP_LINK");
  process.exit(2);
}
deadline(Number(process.env.ADMIN_UI_DEADLINE_MS || 240000));

const XSS = "<img src=x onerror=alert(1)>";
const ADMIN = { email: "admin@example.com", password: "correct horse battery" };
const AGENT = { email: "agent@example.com", password: "agent password 1" };

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function apiCall(method, path, body, token, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, json, text };
}

async function waitFor(fn, what, ms = 10000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

const visited = [];
async function go(page, hash) {
  await page.goto(`${base}/admin/#${hash}`);
  await page.waitForFunction(() => !document.querySelector(".main .loading"), null, { timeout: 10000 }).catch(() => {});
  if (!visited.includes(hash)) visited.push(hash);
}

async function noHorizontalScroll(page, label) {
  const [sw, iw] = await page.evaluate(() => [document.scrollingElement.scrollWidth, window.innerWidth]);
  assert(sw <= iw, `${label}: horizontal scroll at ${iw} px (scrollWidth ${sw})`);
}

(async () => {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/i.test(t)) problems.push(`CSP: ${t}`);
    if (m.type() === "error" && !/Failed to load resource/.test(t)) problems.push(`console error: ${t}`);
  });
  page.on("dialog", async (d) => { problems.push(`unexpected dialog: ${d.message()}`); await d.dismiss(); });
  const checkProblems = () => assert(problems.length === 0, problems.join("\n"));
  let adminToken;
  const tokenOf = (p) => p.evaluate(() => localStorage.getItem("rtbox_token"));

  await step(page, "first run: the setup link creates the admin and lands on the dashboard", async () => {
    await page.goto(setupLink);
    await page.getByRole("heading", { name: "Create the first admin" }).waitFor();
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Create admin and sign in" }).click();
    await page.getByRole("heading", { name: "Dashboard" }).waitFor();
    await page.locator(".live-dot.on").waitFor();
    const up = await page.locator(".tile", { hasText: "Uptime" }).locator(".tile-value").textContent();
    assert(/\d+s|\d+m/.test(up), `uptime tile shows a number (${up})`);
    adminToken = await tokenOf(page);
    assert(adminToken && adminToken.startsWith("rts_"), "session token stored");
    await screenshot(page, "dashboard-1280");
    checkProblems();
  });

  await step(page, "create a channel: the API's field error shows inline, then it saves", async () => {
    await go(page, "/channels");
    await page.getByRole("link", { name: "New channel" }).first().click();
    await page.getByLabel("Name").fill("bad name!");
    await page.getByRole("button", { name: "Create channel" }).click();
    const err = page.locator(".field", { has: page.getByLabel("Name") }).locator(".field-error");
    await waitFor(async () => (await err.textContent()).includes("Use only letters"), "inline name error");
    assert(await page.getByLabel("Name").getAttribute("aria-invalid") === "true", "name marked invalid");
    await page.getByLabel("Name").fill("news");
    await page.getByLabel("Description").fill(`Company news ${XSS}`);
    await page.getByLabel("Presence (clients see who is here)").check();
    await page.getByRole("button", { name: "Create channel" }).click();
    await page.getByRole("heading", { name: "news" }).waitFor();
    const ch = await apiCall("GET", "/api/v1/channels/news", undefined, adminToken);
    assert(ch.status === 200 && ch.json.presence === true, `channel stored with presence: ${ch.text}`);
    checkProblems();
  });

  await step(page, "console: publish JSON (validated), see it arrive live, and in history", async () => {
    await go(page, "/channels/console?name=news");
    await page.getByText("Joined news").first().waitFor();
    const payload = page.getByLabel("Payload (JSON)");
    await payload.fill("{not json");
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText("Not valid JSON").waitFor();
    await payload.fill(JSON.stringify({ text: "hello from the console", who: XSS }));
    await page.getByRole("button", { name: "Send" }).click();
    await page.getByText(/Stored as #\d+/).waitFor();
    // A message published elsewhere (REST, as a backend would) arrives live.
    const r = await apiCall("POST", "/api/v1/channels/news/publish", { payload: { text: "from a backend" } }, adminToken);
    assert(r.status === 201, `REST publish: ${r.text}`);
    await page.locator(".frame.in", { hasText: "from a backend" }).waitFor();
    await page.locator(".frame.in", { hasText: "hello from the console" }).first().waitFor();
    await screenshot(page, "console-1280");
    await go(page, "/channels/history?name=news");
    await page.locator(".msg", { hasText: "hello from the console" }).waitFor();
    await page.locator(".msg", { hasText: "from a backend" }).waitFor();
    checkProblems();
  });

  await step(page, "channels: search filters the list; history pages back; delete asks first", async () => {
    for (const name of ["temp-1", "temp-2"]) {
      const r = await apiCall("POST", "/api/v1/channels", { name, description: "scratch" }, adminToken);
      assert(r.status === 201, r.text);
    }
    for (let i = 0; i < 30; i += 1) await apiCall("POST", "/api/v1/channels/temp-1/publish", { payload: { n: i } }, adminToken);
    await go(page, "/channels");
    await page.getByLabel("Search channels").fill("temp");
    await page.locator("td", { hasText: "temp-2" }).waitFor();
    await waitFor(async () => (await page.locator("a.strong", { hasText: "news" }).count()) === 0, "news filtered out");
    await page.getByLabel("Search channels").fill("zzz-nothing");
    await page.getByText("No channel matches").waitFor();
    await go(page, "/channels/history?name=temp-1");
    await page.locator(".msg", { hasText: '"n": 29' }).waitFor();
    assert(await page.locator(".msg").count() === 25, "a page holds 25 messages");
    await page.getByRole("button", { name: "Older →" }).click();
    await page.locator(".msg", { hasText: '"n": 0' }).waitFor();
    assert(await page.locator(".msg").count() === 5, "the second page holds the rest");
    await page.getByRole("button", { name: "← Newer" }).click();
    await page.locator(".msg", { hasText: '"n": 29' }).waitFor();
    await go(page, "/channels?search=temp-2");
    await page.locator("tr", { hasText: "temp-2" }).getByRole("button", { name: "Delete" }).click();
    const dlg = page.locator("dialog");
    await dlg.getByRole("button", { name: "Cancel" }).click();
    assert((await apiCall("GET", "/api/v1/channels/temp-2", undefined, adminToken)).status === 200, "cancel keeps it");
    await page.locator("tr", { hasText: "temp-2" }).getByRole("button", { name: "Delete" }).click();
    await dlg.getByRole("button", { name: "Delete" }).click();
    await page.getByText("Deleted temp-2.").waitFor();
    await waitFor(async () => (await apiCall("GET", "/api/v1/channels/temp-2", undefined, adminToken)).status === 404, "channel deleted");
    checkProblems();
  });

  let triggerId;
  await step(page, "trigger: a syntax error is marked at its line; fixed; the test runner shows the rewritten output", async () => {
    await go(page, "/triggers/new");
    await page.getByLabel("Name").fill("shout");
    await page.getByLabel("Channel").fill("news");
    const script = page.getByLabel("Script (Rhai)");
    await script.fill('// upper-case every text\nlet t = payload.text;\npayload.text = t.to_upper(;\npayload');
    await page.getByRole("button", { name: "Create trigger" }).click();
    await page.locator(".editor-error", { hasText: "Line 3" }).waitFor();
    const bad = await page.locator(".gutter .ln.bad").textContent();
    assert(bad === "3", `gutter marks line 3 (got ${bad})`);
    assert(await page.locator(".err-marker").isVisible(), "column marker visible");
    await screenshot(page, "trigger-error-1280");
    await script.fill('// upper-case every text\nlet t = payload.text;\npayload.text = t.to_upper();\nlog("shouted " + t);\npayload');
    assert(await page.locator(".gutter .ln.bad").count() === 0, "marker cleared on edit");
    await page.getByRole("button", { name: "Create trigger" }).click();
    await page.getByRole("heading", { name: "Test run" }).waitFor();
    triggerId = new URL(page.url().replace("#", "")).searchParams.get("id") || new URLSearchParams(page.url().split("?")[1]).get("id");
    assert(triggerId, "editor shows the saved trigger");
    await page.getByLabel("Sample payload (JSON)").fill('{"text": "quiet please"}');
    await page.getByRole("button", { name: "Run test" }).click();
    await page.locator(".test-output", { hasText: "QUIET PLEASE" }).waitFor();
    await page.locator(".test-out", { hasText: "shouted quiet please" }).waitFor();
    await page.locator(".test-out", { hasText: /\d+\.\d\d ms/ }).waitFor();
    checkProblems();
  });

  await step(page, "trigger: the run log lists a real run after a publish", async () => {
    const r = await apiCall("POST", "/api/v1/channels/news/publish", { payload: { text: "make it loud" } }, adminToken);
    assert(r.status === 201 && r.json.payload.text === "MAKE IT LOUD", `publish went through the trigger: ${r.text}`);
    await page.locator(".runs tr", { hasText: "news" }).first().waitFor({ timeout: 10000 });
    await page.locator(".runs", { hasText: "ok" }).waitFor();
    await screenshot(page, "trigger-editor-1280");
    checkProblems();
  });

  await step(page, "API key: the secret is shown once, then never again", async () => {
    await go(page, "/keys");
    await page.getByLabel("Name").fill("billing backend");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = page.locator(".secret-box input");
    await secret.waitFor();
    const key = await secret.inputValue();
    assert(key.startsWith("rtk_"), `secret shown (${key})`);
    await page.locator(".secret-box").getByRole("button", { name: "Copy" }).click();
    await page.getByText("Copied to the clipboard.").waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
    assert(copied === null || copied === key, `the clipboard holds the key (${copied})`);
    const ok = await apiCall("GET", "/api/v1/channels", undefined, null, { "X-API-KEY": key });
    assert(ok.status === 200, "the shown key works");
    await page.locator("td", { hasText: "billing backend" }).waitFor();
    await page.reload();
    await page.locator("td", { hasText: "billing backend" }).waitFor();
    const html = await page.content();
    assert(!html.includes(key), "the secret is gone after a reload");
    assert(await page.locator(".secret-box").count() === 0, "no secret box after reload");
    checkProblems();
  });

  await step(page, "client-token secret: rotated behind a confirmation, shown once", async () => {
    await go(page, "/keys");
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.locator("dialog").getByRole("button", { name: "Rotate" }).click();
    const box = page.locator(".secret-box", { hasText: "shown only once" }).locator("input");
    await box.waitFor();
    const secret = await box.inputValue();
    assert(secret.length >= 32, `a new secret is shown (${secret.length} chars)`);
    await page.reload();
    await page.getByRole("heading", { name: "API keys" }).waitFor();
    assert(!(await page.content()).includes(secret), "the secret is gone after a reload");
    checkProblems();
  });

  await step(page, "hostile names render as text", async () => {
    const t = await apiCall("POST", "/api/v1/triggers", { name: XSS, channel: "news", script: "payload", description: XSS }, adminToken);
    assert(t.status === 201, `create XSS trigger: ${t.text}`);
    await apiCall("POST", "/api/v1/channels/news/publish", { payload: { text: XSS } }, adminToken);
    for (const hash of ["/triggers", "/channels", `/triggers/edit?id=${t.json.id}`, "/channels/history?name=news", "/"]) {
      await go(page, hash);
      await page.getByText(XSS).first().waitFor();
      const imgs = await page.evaluate(() => document.querySelectorAll('img[src="x"]').length);
      assert(imgs === 0, `${hash}: an <img> was injected`);
    }
    await apiCall("DELETE", `/api/v1/triggers/${t.json.id}`, undefined, adminToken);
    checkProblems();
  });

  await step(page, "users: create an agent in the form", async () => {
    await go(page, "/users");
    await page.getByRole("button", { name: "New user" }).click();
    const dlg = page.locator("dialog");
    await dlg.getByLabel("Email").fill(AGENT.email);
    await dlg.getByLabel("Name").fill(`Agent ${XSS}`);
    await dlg.getByLabel("Password").fill(AGENT.password);
    await dlg.getByRole("button", { name: "Create user" }).click();
    await page.locator("td", { hasText: AGENT.email }).waitFor();
    await page.getByText(`Agent ${XSS}`).waitFor();
    const row = page.locator("tr", { hasText: AGENT.email });
    // Reset the password through the dialog; the new one signs in.
    await row.getByRole("button", { name: "Reset password" }).click();
    await page.locator("dialog").getByLabel("New password").fill("agent password 2");
    await page.locator("dialog").getByRole("button", { name: "Set password" }).click();
    await page.getByText("Password changed").waitFor();
    AGENT.password = "agent password 2";
    const login = await apiCall("POST", "/api/v1/auth/login", AGENT);
    assert(login.status === 200, `the reset password works: ${login.text}`);
    // Deactivate (asks first), then activate again.
    await row.getByRole("button", { name: "Deactivate" }).click();
    // Sign in only once the UI's request has been answered, not when the page looks done.
    const patched = page.waitForResponse((r) => r.request().method() === "PATCH" && r.url().includes("/api/v1/users/"));
    await page.locator("dialog").getByRole("button", { name: "Deactivate" }).click();
    const patch = await patched;
    assert(patch.ok(), `deactivate answered ${patch.status()}`);
    const after = await patch.json();
    assert(after.active === false, `the answer says deactivated: ${JSON.stringify(after)}`);
    await row.getByText("deactivated").waitFor();
    const denied = await apiCall("POST", "/api/v1/auth/login", AGENT);
    assert(denied.status === 401, `a deactivated user cannot sign in: ${denied.status} ${denied.text}`);
    await row.getByRole("button", { name: "Activate" }).click();
    await row.getByText("active", { exact: true }).waitFor();
    // Edit roles: make the agent also a manager, then back.
    await row.getByRole("button", { name: "Edit" }).click();
    await page.locator("dialog").getByLabel(/Livechat manager/).check();
    await page.locator("dialog").getByRole("button", { name: "Save" }).click();
    await row.getByText("manager").waitFor();
    await row.getByRole("button", { name: "Edit" }).click();
    await page.locator("dialog").getByLabel(/Livechat manager/).uncheck();
    await page.locator("dialog").getByRole("button", { name: "Save" }).click();
    await waitFor(async () => (await row.innerText()).includes("agent") && !(await row.innerText()).includes("manager"), "roles back to agent");
    checkProblems();
  });

  // ---- livechat (only when the livechat server is built in) ----------------------------
  const lcProbe = await apiCall("GET", "/api/v1/livechat/config");
  const livechat = lcProbe.status === 200;
  if (livechat) {
    const lc = require("./admin_ui_livechat.js");
    await lc.run({ page, base, apiCall, waitFor, assert, step, go, screenshot, adminToken, AGENT, XSS, checkProblems, context, browser });
  } else {
    console.log("SKIP livechat steps: /api/v1/livechat/config answered", lcProbe.status);
  }

  await step(page, "screenshots at 1280 and 375 px: no horizontal scroll on any page", async () => {
    const pages = ["/", "/channels", "/channels/new", "/channels/edit?name=news", "/channels/history?name=news", "/channels/console?name=news",
      "/triggers", "/triggers/new", `/triggers/edit?id=${triggerId}`, "/users", "/keys"];
    if (livechat) pages.push("/inbox", "/livechat/triggers", "/livechat/triggers/new", "/livechat/appearance", "/livechat/settings");
    for (const width of [1280, 375]) {
      await page.setViewportSize({ width, height: width === 375 ? 760 : 860 });
      for (const hash of pages) {
        await go(page, hash);
        await page.waitForTimeout(300);
        await noHorizontalScroll(page, hash);
        await screenshot(page, `page-${hash.replace(/[?=&]/g, "-")}-${width}`);
      }
    }
    // Dark mode follows the system.
    await page.emulateMedia({ colorScheme: "dark" });
    await go(page, `/triggers/edit?id=${triggerId}`);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert(bg !== "rgb(246, 247, 251)" && /rgb\((\d+), (\d+), (\d+)\)/.test(bg) && Number(/\d+/.exec(bg)[0]) < 60, `dark background (${bg})`);
    await screenshot(page, "dark-trigger-editor-375");
    await page.setViewportSize({ width: 1280, height: 860 });
    await go(page, "/");
    await page.waitForTimeout(2500);
    await screenshot(page, "dark-dashboard-1280");
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 375, height: 760 });
    // The phone navigation: a drawer opened from the menu button, closed with Escape.
    await go(page, "/channels");
    await page.getByRole("button", { name: "Menu" }).click();
    await page.locator("body.nav-open").waitFor();
    await page.waitForTimeout(400);
    await screenshot(page, "nav-drawer-375");
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.body.classList.contains("nav-open"));
    await page.setViewportSize({ width: 1280, height: 860 });
    checkProblems();
  });

  await step(page, "an agent sees the inbox, not keys or users", async () => {
    const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p2 = await ctx2.newPage();
    p2.on("pageerror", (e) => problems.push(`agent page error: ${e.message}`));
    await p2.goto(`${base}/admin/`);
    await p2.getByLabel("Email").fill(AGENT.email);
    await p2.getByLabel("Password").fill(AGENT.password);
    await p2.getByRole("button", { name: "Sign in" }).click();
    await p2.locator(".nav").waitFor();
    const nav = await p2.locator(".nav").innerText();
    assert(nav.includes("Inbox"), `agent nav has the inbox: ${nav}`);
    for (const hidden of ["API keys", "Users", "Channels", "Dashboard", "Triggers"]) assert(!nav.split("\n").includes(hidden), `agent nav hides ${hidden}: ${nav}`);
    await p2.goto(`${base}/admin/#/keys`);
    await p2.getByRole("heading", { name: "Not for your role" }).waitFor();
    await screenshot(p2, "agent-no-access");
    await ctx2.close();
    // A livechat manager: the inbox and the livechat pages, still no keys or users.
    const mgr = await apiCall("POST", "/api/v1/users", { email: "manager@example.com", password: "manager password", roles: ["manager"] }, adminToken);
    assert(mgr.status === 201, mgr.text);
    const ctx3 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p3 = await ctx3.newPage();
    await p3.goto(`${base}/admin/`);
    await p3.getByLabel("Email").fill("manager@example.com");
    await p3.getByLabel("Password").fill("manager password");
    await p3.getByRole("button", { name: "Sign in" }).click();
    await p3.locator(".nav").waitFor();
    const mnav = (await p3.locator(".nav").innerText()).split("\n");
    for (const shown of livechat ? ["Inbox", "Chat triggers", "Widget", "Chat settings"] : ["Inbox"]) assert(mnav.includes(shown), `manager nav has ${shown}: ${mnav}`);
    for (const hidden of ["API keys", "Users & roles", "Channels", "Dashboard", "Triggers"]) assert(!mnav.includes(hidden), `manager nav hides ${hidden}: ${mnav}`);
    await ctx3.close();
    checkProblems();
  });

  await step(page, "keyboard: from the page heading, Shift+Tab reaches the nav; Enter follows a link", async () => {
    await go(page, "/channels");
    await page.locator("h1", { hasText: "Channels" }).focus();
    let found = false;
    for (let i = 0; i < 30 && !found; i += 1) {
      await page.keyboard.press("Shift+Tab");
      found = await page.evaluate(() => document.activeElement && document.activeElement.textContent.trim() === "Triggers");
    }
    assert(found, "the Triggers nav link is reachable by keyboard");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Triggers" }).waitFor();
    await page.getByRole("link", { name: "New trigger" }).first().focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "New trigger" }).waitFor();
    checkProblems();
  });

  await step(page, "an expired session returns to sign-in with a message", async () => {
    const token = await tokenOf(page);
    const r = await apiCall("POST", "/api/v1/auth/logout", {}, token);
    assert(r.status === 204, `server-side logout: ${r.status}`);
    await go(page, "/channels");
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByText("Your session ended").waitFor();
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Channels" }).waitFor();
    await page.locator(".me").getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert(!(await tokenOf(page)), "signed out: no token kept");
    checkProblems();
  });

  await browser.close();
  console.log(`RESULT ${JSON.stringify({ pages: visited.length })}`);
})().catch((e) => {
  console.error(`FAIL ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
