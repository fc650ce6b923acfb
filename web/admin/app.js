// The admin app: hash router, the signed-in shell (sidebar nav by role), session
// handling. Pages live in ./pages and are loaded on first visit.

import { h, clear, toast, spinner } from "./lib/h.js";
import { api, setToken, token, onSessionLost } from "./lib/api.js";
import { icon } from "./lib/icons.js";

const ADMIN = ["admin"];
const LIVECHAT_MANAGE = ["admin", "manager"];
const LIVECHAT_AGENT = ["admin", "manager", "agent"];

// path → {page module, roles allowed, nav label, group}
const ROUTES = [
  { path: "/", page: "dashboard", roles: ADMIN, label: "Dashboard", group: "Realtime", icon: "dashboard" },
  { path: "/channels", page: "channels", roles: ADMIN, label: "Channels", group: "Realtime", icon: "channels" },
  { path: "/channels/edit", page: "channel-edit", roles: ADMIN, parent: "/channels" },
  { path: "/channels/new", page: "channel-edit", roles: ADMIN, parent: "/channels" },
  { path: "/channels/history", page: "channel-history", roles: ADMIN, parent: "/channels" },
  { path: "/channels/console", page: "console", roles: ADMIN, parent: "/console" },
  { path: "/console", page: "console", roles: ADMIN, label: "Live console", group: "Realtime", icon: "console" },
  { path: "/triggers", page: "triggers", roles: ADMIN, label: "Triggers", group: "Realtime", icon: "triggers" },
  { path: "/triggers/new", page: "trigger-edit", roles: ADMIN, parent: "/triggers" },
  { path: "/triggers/edit", page: "trigger-edit", roles: ADMIN, parent: "/triggers" },
  { path: "/inbox", page: "inbox", roles: LIVECHAT_AGENT, label: "Inbox", group: "Livechat", icon: "inbox", badge: true },
  { path: "/livechat/triggers", page: "lc-triggers", roles: LIVECHAT_MANAGE, label: "Chat triggers", group: "Livechat", icon: "bolt" },
  { path: "/livechat/triggers/edit", page: "lc-trigger-edit", roles: LIVECHAT_MANAGE, parent: "/livechat/triggers" },
  { path: "/livechat/triggers/new", page: "lc-trigger-edit", roles: LIVECHAT_MANAGE, parent: "/livechat/triggers" },
  { path: "/livechat/appearance", page: "appearance", roles: LIVECHAT_MANAGE, label: "Widget", group: "Livechat", icon: "widget" },
  { path: "/livechat/settings", page: "lc-settings", roles: LIVECHAT_MANAGE, label: "Chat settings", group: "Livechat", icon: "settings" },
  { path: "/users", page: "users", roles: ADMIN, label: "Users & roles", group: "Access", icon: "users" },
  { path: "/keys", page: "keys", roles: ADMIN, label: "API keys", group: "Access", icon: "key" },
];

const state = { user: null, current: null, returnTo: null };
const root = document.getElementById("app");

export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path.replace(/\/+$/, "") || "/", query: new URLSearchParams(query) };
}

export function allowed(r, user = state.user) {
  if (!user) return false;
  const roles = user.roles || [];
  return r.roles.some((x) => roles.includes(x));
}

function homeFor(user) {
  const first = ROUTES.find((r) => r.label && allowed(r, user));
  return first ? `#${first.path}` : "#/no-access";
}

function roleLabel(user) {
  const roles = user.roles || [];
  return roles.length ? roles.join(", ") : "no role";
}

// ---- the shell ----------------------------------------------------------------------------
let shell = null;

function buildShell() {
  const nav = h("nav", { class: "nav", "aria-label": "Main" });
  const groups = new Map();
  for (const r of ROUTES) {
    if (!r.label || !allowed(r)) continue;
    if (!groups.has(r.group)) {
      const list = h("ul", { role: "list" });
      groups.set(r.group, list);
      nav.append(h("div", { class: "nav-group" }, h("p", { class: "nav-title" }, r.group), list));
    }
    const badge = r.badge ? h("span", { class: "nav-badge", hidden: true, "aria-label": "waiting chats" }) : null;
    const link = h("a", { href: `#${r.path}`, dataset: { path: r.path } }, icon(r.icon, "nav-icon"), h("span", r.label), badge);
    groups.get(r.group).append(h("li", link));
  }
  const logout = h("button", { class: "btn ghost small", type: "button" }, "Sign out");
  logout.addEventListener("click", signOut);
  const menu = h("button", { class: "menu-btn", type: "button", "aria-expanded": "false", "aria-controls": "sidebar", "aria-label": "Menu" }, icon("menu"));
  const sidebar = h("aside", { class: "sidebar", id: "sidebar" },
    h("a", { class: "brand", href: homeFor(state.user) }, h("span", { class: "logo", "aria-hidden": "true" }, "rt"), h("span", "rtbox")),
    nav,
    h("div", { class: "me" },
      h("div", { class: "me-text" }, h("p", { class: "me-name" }, state.user.name || state.user.email), h("p", { class: "me-role" }, roleLabel(state.user))),
      logout));
  const main = h("main", { class: "main", id: "main", tabindex: "-1" });
  const scrim = h("div", { class: "scrim", hidden: true });
  const top = h("div", { class: "topbar" }, menu, h("a", { class: "brand small", href: homeFor(state.user) }, h("span", { class: "logo", "aria-hidden": "true" }, "rt"), h("span", "rtbox")));
  const setOpen = (open) => {
    document.body.classList.toggle("nav-open", open);
    menu.setAttribute("aria-expanded", String(open));
    scrim.hidden = !open;
    if (open) nav.querySelector("a")?.focus();
  };
  menu.addEventListener("click", () => setOpen(!document.body.classList.contains("nav-open")));
  scrim.addEventListener("click", () => setOpen(false));
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && document.body.classList.contains("nav-open")) { setOpen(false); menu.focus(); } });
  nav.addEventListener("click", (e) => { if (e.target.closest("a")) setOpen(false); });
  const skip = h("a", { class: "skip", href: "#main" }, "Skip to content");
  skip.addEventListener("click", (e) => { e.preventDefault(); main.focus(); });
  clear(root, skip, top, sidebar, scrim, main);
  shell = { main, nav };
  startQueueWatch();
}

// Outside the inbox (which has its own live view), keep the queue count in the nav and
// the title so a manager on another page still sees a visitor waiting.
let queueTimer = null;
function startQueueWatch() {
  clearInterval(queueTimer);
  const inbox = ROUTES.find((r) => r.path === "/inbox");
  if (!allowed(inbox)) return;
  const tick = async () => {
    if (!state.user || parseHash().path === "/inbox") return;
    try {
      const r = await api.get("/api/v1/livechat/inquiries.list?status=queued&count=1");
      const n = typeof r.total === "number" ? r.total : (r.inquiries || []).length;
      setNavBadge("/inbox", n);
      document.title = `${n ? `(${n}) ` : ""}${document.title.replace(/^\(\d+\) /, "")}`;
    } catch (e) {
      if (e.status === 404) clearInterval(queueTimer);
    }
  };
  tick();
  queueTimer = setInterval(tick, 15000);
}

export function setNavBadge(path, count) {
  const a = shell?.nav.querySelector(`a[data-path="${path}"] .nav-badge`);
  if (!a) return;
  a.hidden = !count;
  a.textContent = count ? String(count) : "";
}

function markNav(r) {
  const active = r.parent || r.path;
  shell.nav.querySelectorAll("a").forEach((a) => {
    if (a.dataset.path === active) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
}

async function signOut() {
  try { await api.post("/api/v1/auth/logout"); } catch { /* already gone */ }
  setToken(null);
  state.user = null;
  shell = null;
  clearInterval(queueTimer);
  toast("Signed out.");
  navigate("#/login");
}

// ---- routing --------------------------------------------------------------------------------
let seq = 0;

async function route() {
  const my = ++seq;
  const { path, query } = parseHash();
  if (state.current && state.current.destroy) { try { state.current.destroy(); } catch { /* ignore */ } }
  state.current = null;

  if (path === "/setup" || path === "/login") {
    shell = null;
    document.body.classList.remove("signed-in");
    const mod = await import("./pages/login.js");
    if (my !== seq) return;
    clear(root, mod.render({ mode: path.slice(1), query, onSignedIn }));
    return;
  }
  if (!token()) { state.returnTo = location.hash; navigate("#/login"); return; }
  if (!state.user) {
    clear(root, spinner("Signing in…"));
    try { state.user = await api.get("/api/v1/me"); } catch (e) {
      if (e.status === 401 || e.status === 403) { setToken(null); navigate("#/login"); return; }
      clear(root, h("div", { class: "center-card" }, h("h1", "rtbox cannot be reached"), h("p", e.message), h("button", { class: "btn primary", type: "button", onclick: () => route() }, "Retry")));
      return;
    }
    if (my !== seq) return;
    shell = null;
  }
  if (!shell) { document.body.classList.add("signed-in"); buildShell(); }
  const r = ROUTES.find((x) => x.path === path);
  if (!r) { clear(shell.main, h("div", { class: "center-card" }, h("h1", "Page not found"), h("p", "There is nothing at this address."), h("a", { class: "btn primary", href: homeFor(state.user) }, "Go home"))); return; }
  if (!allowed(r)) {
    if (path === "/") { navigate(homeFor(state.user)); return; }
    clear(shell.main, h("div", { class: "center-card" }, h("h1", "Not for your role"), h("p", `This page needs the ${r.roles.join(" or ")} role; you are ${roleLabel(state.user)}.`), h("a", { class: "btn primary", href: homeFor(state.user) }, "Go home")));
    markNav(r);
    return;
  }
  markNav(r);
  clear(shell.main, spinner());
  let mod;
  try { mod = await import(`./pages/${r.page}.js`); } catch (e) {
    clear(shell.main, h("div", { class: "center-card" }, h("h1", "This page failed to load"), h("p", String(e.message || e)), h("button", { class: "btn primary", type: "button", onclick: () => route() }, "Retry")));
    return;
  }
  if (my !== seq) return;
  const ctx = { query, path, user: state.user, navigate, setNavBadge, can: (roles) => roles.some((x) => (state.user.roles || []).includes(x)) };
  const page = mod.render(ctx);
  state.current = page;
  clear(shell.main, page.el);
  if (r.path !== "/inbox") document.title = `${r.label || (mod.title || "rtbox")} · rtbox`;
  const heading = shell.main.querySelector("h1");
  if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function onSignedIn(sessionToken, user) {
  setToken(sessionToken);
  state.user = user;
  shell = null;
  const back = state.returnTo;
  state.returnTo = null;
  navigate(back && !back.startsWith("#/login") && !back.startsWith("#/setup") ? back : homeFor(user));
}

onSessionLost((message) => {
  if (!state.user) return;
  state.returnTo = location.hash;
  state.user = null;
  shell = null;
  setToken(null);
  sessionStorage.setItem("rtbox_flash", `Your session ended (${message}). Sign in again to continue.`);
  navigate("#/login");
});

window.addEventListener("hashchange", route);
route();
