// Livechat settings (GET/POST /settings/{id}): routing, message limit, SMTP, rate
// limits; and who the agents and managers are (livechat/users/{agent|manager}).

import { h, clear, field, select, busy, toast, pageHeader, spinner, confirmDialog, badge, emptyState } from "../lib/h.js";
import { api } from "../lib/api.js";

// [id, label, kind, options/hint]
const SECTIONS = [
  ["Conversations", [
    ["Livechat_enabled", "Livechat is on", "boolean"],
    ["Livechat_Routing_Method", "Routing", "select", [["Auto_Selection", "Automatic: the online agent with the fewest open chats"], ["Manual_Selection", "Manual: agents take chats from the queue"]]],
    ["Livechat_enable_message_character_limit", "Limit message length", "boolean"],
    ["Livechat_message_character_limit", "Longest visitor message (characters)", "int"],
  ]],
  ["Email (SMTP)", [
    ["SMTP_Host", "SMTP host", "text", "e.g. smtp.example.com. Needed for transcripts and offline-message mail."],
    ["SMTP_Port", "Port", "int"],
    ["SMTP_Security", "Security", "select", [["none", "None"], ["starttls", "STARTTLS"], ["tls", "TLS"]]],
    ["SMTP_Username", "Username", "text"],
    ["SMTP_Password", "Password", "password", "Write-only: leave empty to keep the stored one."],
    ["From_Email", "From address", "text"],
    ["Livechat_offline_email", "Send offline messages to", "text"],
  ]],
  ["Limits", [
    ["Livechat_rate_limit_token_per_minute", "Requests per visitor per minute", "int"],
    ["Livechat_rate_limit_ip_per_minute", "Requests per IP per minute", "int"],
  ]],
];

function usersPanel(type, title, hint) {
  const list = h("div", {});
  const input = h("input", { type: "text", placeholder: "email of an existing user", "aria-label": `Add ${type} by email` });
  const add = h("button", { class: "btn", type: "submit" }, `Add ${type}`);
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "toolbar" }, input, add);
  const el = h("section", { class: "card" }, h("h2", title), h("p", { class: "sub" }, hint), form, error, list);
  async function load() {
    clear(list, spinner());
    try {
      const r = await api.get(`/api/v1/livechat/users/${type}?count=100`);
      if (!r.users.length) { clear(list, emptyState(`No ${type}s`, `Add a user as ${type} above.`)); return; }
      clear(list, h("table", { class: "table compact" }, h("tbody", r.users.map((u) => {
        const rm = h("button", { class: "btn small danger ghost", type: "button" }, "Remove");
        rm.addEventListener("click", async () => {
          if (!(await confirmDialog(`Remove ${u.username} as ${type}?`, type === "agent" ? "Their open chats go back to the queue." : "They lose livechat management.", { confirm: "Remove" }))) return;
          await busy(rm, async () => { try { await api.del(`/api/v1/livechat/users/${type}/${encodeURIComponent(u._id)}`); toast("Removed."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        return h("tr", {},
          h("td", { "data-label": "User" }, h("span", { class: "strong" }, u.name || u.username), u.name ? h("span", { class: "muted small" }, ` ${u.username}`) : null),
          h("td", { "data-label": "Status" }, type === "agent" ? badge(u.livechatStatus || "offline", u.livechatStatus === "online" ? "ok" : u.livechatStatus === "away" ? "warn" : "") : null,
            type === "agent" && u.openChats !== undefined ? h("span", { class: "muted small" }, ` ${u.openChats} open`) : null),
          h("td", { class: "actions" }, rm));
      }))));
    } catch (e) { clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); }
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (!input.value.trim()) { input.focus(); return; }
    await busy(add, async () => {
      try { await api.post(`/api/v1/livechat/users/${type}`, { username: input.value.trim() }); input.value = ""; toast(`Added as ${type}.`); load(); }
      catch (err) { error.textContent = /invalid-user/.test(err.message) ? "No rtbox user has that email. Create the user first (Users & roles)." : err.message; }
    });
  });
  load();
  return el;
}

export function render() {
  const body = h("div", {}, spinner());
  const el = h("div", { class: "page narrow" }, pageHeader("Chat settings", "Routing, limits, email, and who answers chats."), body);

  async function build() {
    const ids = SECTIONS.flatMap(([, items]) => items.map((x) => x[0]));
    const values = {};
    const missing = [];
    await Promise.all(ids.map(async (id) => {
      try { values[id] = (await api.get(`/api/v1/settings/${id}`)).value; } catch (e) { if (e.status === 400 || e.status === 404) missing.push(id); else throw e; }
    }));
    const inputs = new Map();
    const fieldsets = SECTIONS.map(([title, items]) => h("fieldset", {}, h("legend", title), items.filter(([id]) => !missing.includes(id)).map(([id, label, kind, extra]) => {
      let input;
      const v = values[id];
      if (kind === "boolean") input = h("input", { type: "checkbox", checked: !!v });
      else if (kind === "select") input = select(extra, v);
      else if (kind === "int") input = h("input", { type: "number", step: "1", min: "0", value: v ?? "" });
      else if (kind === "password") input = h("input", { type: "password", autocomplete: "new-password", placeholder: v ? "•••••• (set)" : "not set" });
      else input = h("input", { type: "text", value: v ?? "" });
      const f = field(label, input, { hint: kind !== "select" && typeof extra === "string" ? extra : null });
      inputs.set(id, { f, kind, original: v });
      return f.wrap;
    })));
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, "Save settings");
    const form = h("form", { class: "card form", novalidate: true }, fieldsets, formError, h("div", { class: "form-actions" }, save));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      formError.textContent = "";
      const changes = [];
      for (const [id, x] of inputs) {
        x.f.setError("");
        let v;
        if (x.kind === "boolean") v = x.f.input.checked;
        else if (x.kind === "int") {
          const raw = x.f.input.value.trim();
          if (!/^\d+$/.test(raw)) { x.f.setError("Enter a whole number."); x.f.input.focus(); return; }
          v = Number(raw);
        } else if (x.kind === "password") { if (!x.f.input.value) continue; v = x.f.input.value; } else v = x.f.input.value;
        if (v !== x.original) changes.push([id, v, x]);
      }
      if (!changes.length) { toast("Nothing changed."); return; }
      await busy(save, async () => {
        for (const [id, v, x] of changes) {
          try { await api.post(`/api/v1/settings/${id}`, { value: v }); x.original = x.kind === "password" ? true : v; if (x.kind === "password") { x.f.input.value = ""; x.f.input.placeholder = "•••••• (set)"; } }
          catch (err) { x.f.setError(err.message); x.f.input.focus(); formError.textContent = `Saved until ${id}; that one failed: ${err.message}`; return; }
        }
        toast(`Saved ${changes.length} setting${changes.length === 1 ? "" : "s"}.`);
      });
    });
    clear(body, form,
      usersPanel("agent", "Agents", "People who answer chats in the inbox."),
      usersPanel("manager", "Managers", "People who change these settings, triggers and the widget."));
  }
  build().catch((e) => clear(body, h("p", { class: "form-error", role: "alert" }, e.message)));
  return { el };
}
