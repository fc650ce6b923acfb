// Livechat trigger form: every condition and action of Rocket.Chat's schema, several of
// each, and a button that calls the external service once to show what it answers.

import { h, clear, field, select, busy, toast, pageHeader, spinner } from "../lib/h.js";
import { api, ApiError } from "../lib/api.js";
import { CONDITION_LABELS } from "./lc-triggers.js";

const CONDITIONS = Object.entries(CONDITION_LABELS);
const ACTIONS = [["send-message", "Send a message"], ["use-external-service", "Ask an external service what to say"]];

function conditionRow(c, onRemove) {
  const name = select(CONDITIONS, c.name || "time-on-site");
  name.setAttribute("aria-label", "Condition");
  const value = h("input", { type: "text", "aria-label": "Value" });
  value.value = c.value === null || c.value === undefined ? "" : String(c.value);
  const hint = h("p", { class: "hint" });
  const error = h("p", { class: "field-error", role: "alert" });
  const remove = h("button", { class: "btn small ghost", type: "button", "aria-label": "Remove condition" }, "Remove");
  remove.addEventListener("click", onRemove);
  const valueWrap = h("div", { class: "cond-value" }, value);
  const sync = () => {
    const n = name.value;
    valueWrap.hidden = !(n === "time-on-site" || n === "page-url");
    value.type = n === "time-on-site" ? "number" : "text";
    value.min = n === "time-on-site" ? "0" : "";
    value.placeholder = n === "time-on-site" ? "seconds, e.g. 30" : n === "page-url" ? "regular expression, e.g. /pricing" : "";
    value.classList.toggle("mono", n === "page-url");
    hint.textContent = {
      "time-on-site": "Seconds since the visit started, counted across page loads.",
      "page-url": "Tested against the full URL, unanchored; re-tested on single-page navigation.",
      "chat-opened-by-visitor": "Fires when the visitor opens the chat window.",
      "after-guest-registration": "Fires when the visitor gives a name or email.",
    }[n];
    error.textContent = "";
  };
  name.addEventListener("change", sync);
  value.addEventListener("input", () => { error.textContent = ""; });
  sync();
  const el = h("div", { class: "rule-row" }, h("div", { class: "rule-main" }, name, valueWrap, remove), hint, error);
  return {
    el,
    read() {
      const n = name.value;
      if (n === "time-on-site") {
        const v = value.value.trim();
        if (!/^\d+$/.test(v)) { error.textContent = "Enter a whole number of seconds."; value.focus(); return null; }
        return { name: n, value: Number(v) };
      }
      if (n === "page-url") {
        const v = value.value.trim();
        if (!v) { error.textContent = "Enter a pattern the URL must match."; value.focus(); return null; }
        try { new RegExp(v); } catch (e) { error.textContent = `Not a valid regular expression: ${e.message}`; value.focus(); return null; }
        return { name: n, value: v };
      }
      return { name: n, value: null };
    },
  };
}

function actionRow(a, onRemove) {
  const p = a.params || {};
  const kind = select(ACTIONS, a.name || "send-message");
  kind.setAttribute("aria-label", "Action");
  const remove = h("button", { class: "btn small ghost", type: "button", "aria-label": "Remove action" }, "Remove");
  remove.addEventListener("click", onRemove);
  const sender = select([["queue", "the next available agent"], ["custom", "a custom name"]], p.sender || "queue");
  const f = {
    sender: field("Speaks as", sender),
    name: field("Name shown", h("input", { type: "text", maxlength: "100", value: p.name || "" })),
    msg: field("Message", h("textarea", { rows: "3", maxlength: "2000", value: p.msg || "" })),
    serviceUrl: field("Service URL", h("input", { type: "url", class: "mono", placeholder: "https://…", value: p.serviceUrl || "" }), { hint: "rtbox POSTs {metadata, visitorToken} with X-RocketChat-Livechat-Token and shows the answer's contents." }),
    serviceTimeout: field("Timeout (milliseconds)", h("input", { type: "number", min: "1", step: "1", value: p.serviceTimeout ?? 5000 })),
    serviceFallbackMessage: field("Fallback message", h("input", { type: "text", maxlength: "2000", value: p.serviceFallbackMessage || "" }), { hint: "Shown when the service is slow, fails or answers something else." }),
  };
  const testBtn = h("button", { class: "btn", type: "button" }, "Test service");
  const testOut = h("div", { class: "test-out", "aria-live": "polite" });
  const msgGroup = h("div", {}, f.msg.wrap);
  const serviceGroup = h("div", {}, f.serviceUrl.wrap, h("div", { class: "grid2" }, f.serviceTimeout.wrap, f.serviceFallbackMessage.wrap), h("div", { class: "form-actions" }, testBtn), testOut);
  const sync = () => {
    const ext = kind.value === "use-external-service";
    msgGroup.hidden = ext;
    serviceGroup.hidden = !ext;
    f.name.wrap.hidden = sender.value !== "custom";
  };
  kind.addEventListener("change", sync);
  sender.addEventListener("change", sync);
  sync();

  testBtn.addEventListener("click", async () => {
    clear(testOut);
    const url = f.serviceUrl.input.value.trim();
    if (!url) { f.serviceUrl.setError("Enter the service URL first."); f.serviceUrl.input.focus(); return; }
    f.serviceUrl.setError("");
    await busy(testBtn, async () => {
      const body = { webhookUrl: url, timeout: Number(f.serviceTimeout.input.value) || 5000, fallbackMessage: f.serviceFallbackMessage.input.value, extraData: [{ key: "test", value: "true" }] };
      try {
        const r = await api.post("/api/v1/livechat/triggers/external-service/test", body);
        const contents = (r.response && r.response.contents) || [];
        clear(testOut, h("p", { class: "ok" }, `The service answered ${r.response ? r.response.statusCode : 200} with ${contents.length} message${contents.length === 1 ? "" : "s"}:`),
          h("ol", { class: "logs" }, contents.slice().sort((x, y) => (x.order || 0) - (y.order || 0)).map((c) => h("li", c.msg))));
      } catch (e) {
        const b = e instanceof ApiError ? e.body || {} : {};
        clear(testOut, h("p", { class: "form-error", role: "alert" }, `The service test failed: ${b.error || e.message}`),
          b.fallbackMessage !== undefined ? h("p", { class: "small muted" }, `Visitors would see the fallback: “${b.fallbackMessage}”`) : null);
      }
    });
  });

  const el = h("div", { class: "rule-row" }, h("div", { class: "rule-main" }, kind, remove), h("div", { class: "grid2" }, f.sender.wrap, f.name.wrap), msgGroup, serviceGroup);
  return {
    el,
    read() {
      Object.values(f).forEach((x) => x.setError(""));
      const params = { sender: sender.value };
      if (sender.value === "custom") {
        const n = f.name.input.value.trim();
        if (!n) { f.name.setError("Give the name visitors will see."); f.name.input.focus(); return null; }
        params.name = n;
      }
      if (kind.value === "send-message") {
        const m = f.msg.input.value.trim();
        if (!m) { f.msg.setError("Write the message."); f.msg.input.focus(); return null; }
        params.msg = m;
        return { name: "send-message", params };
      }
      const url = f.serviceUrl.input.value.trim();
      if (!/^https?:\/\//i.test(url)) { f.serviceUrl.setError("Enter an http(s) URL."); f.serviceUrl.input.focus(); return null; }
      const t = f.serviceTimeout.input.value.trim();
      if (!/^\d+$/.test(t) || Number(t) < 1) { f.serviceTimeout.setError("Enter a timeout in milliseconds."); f.serviceTimeout.input.focus(); return null; }
      return { name: "use-external-service", params: { ...params, serviceUrl: url, serviceTimeout: Number(t), serviceFallbackMessage: f.serviceFallbackMessage.input.value } };
    },
  };
}

export function render({ query, navigate }) {
  const id = query.get("id");
  const creating = !id;
  const body = h("div", {}, spinner());
  const el = h("div", { class: "page narrow" }, pageHeader(creating ? "New chat trigger" : "Chat trigger", "All conditions must hold; then every action runs in order."), body);

  function build(t) {
    const f = {
      name: field("Name", h("input", { type: "text", required: true, maxlength: "200", value: t.name || "" })),
      description: field("Description", h("input", { type: "text", maxlength: "2000", value: t.description || "" })),
      enabled: field("Enabled", h("input", { type: "checkbox", checked: t.enabled !== false })),
      runOnce: field("Run once per visitor (across visits and devices)", h("input", { type: "checkbox", checked: !!t.runOnce }), { hint: "Off: at most once per visit." }),
    };
    const conds = h("div", { class: "rules" });
    const acts = h("div", { class: "rules" });
    const condRows = [];
    const actRows = [];
    const condError = h("p", { class: "field-error", role: "alert" });
    const actError = h("p", { class: "field-error", role: "alert" });
    const addCond = (c) => { const row = conditionRow(c, () => { condRows.splice(condRows.indexOf(row), 1); row.el.remove(); }); condRows.push(row); conds.append(row.el); };
    const addAct = (a) => { const row = actionRow(a, () => { actRows.splice(actRows.indexOf(row), 1); row.el.remove(); }); actRows.push(row); acts.append(row.el); };
    (t.conditions && t.conditions.length ? t.conditions : [{ name: "time-on-site", value: 30 }]).forEach(addCond);
    (t.actions && t.actions.length ? t.actions : [{ name: "send-message", params: { sender: "queue", msg: "" } }]).forEach(addAct);
    const addCondBtn = h("button", { class: "btn small", type: "button" }, "+ Add condition");
    const addActBtn = h("button", { class: "btn small", type: "button" }, "+ Add action");
    addCondBtn.addEventListener("click", () => { addCond({ name: "page-url", value: "" }); conds.lastChild.querySelector("select").focus(); });
    addActBtn.addEventListener("click", () => { addAct({ name: "send-message", params: { sender: "queue" } }); acts.lastChild.querySelector("select").focus(); });
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, creating ? "Create trigger" : "Save");
    const form = h("form", { class: "form card", novalidate: true },
      f.name.wrap, f.description.wrap, h("div", { class: "checks" }, f.enabled.wrap, f.runOnce.wrap),
      h("fieldset", {}, h("legend", "When (all of these)"), conds, condError, addCondBtn),
      h("fieldset", {}, h("legend", "Then"), acts, actError, addActBtn),
      formError,
      h("div", { class: "form-actions" }, save, h("a", { class: "btn ghost", href: "#/livechat/triggers" }, "Cancel")));

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      Object.values(f).forEach((x) => x.setError(""));
      formError.textContent = ""; condError.textContent = ""; actError.textContent = "";
      const name = f.name.input.value.trim();
      if (!name) { f.name.setError("A name is required."); f.name.input.focus(); return; }
      if (!condRows.length) { condError.textContent = "Add at least one condition."; addCondBtn.focus(); return; }
      if (!actRows.length) { actError.textContent = "Add at least one action."; addActBtn.focus(); return; }
      const conditions = condRows.map((r) => r.read());
      if (conditions.includes(null)) return;
      const actions = actRows.map((r) => r.read());
      if (actions.includes(null)) return;
      const payload = { name, description: f.description.input.value.trim(), enabled: f.enabled.input.checked, runOnce: f.runOnce.input.checked, conditions, actions };
      if (!creating) payload._id = id;
      await busy(save, async () => {
        try {
          await api.post("/api/v1/livechat/triggers", payload);
          toast(creating ? "Chat trigger created." : "Saved.");
          navigate("#/livechat/triggers");
        } catch (err) {
          const m = /property '([A-Za-z]+)'|\/(name|description|conditions|actions)\b/.exec(err.message);
          const key = m && (m[1] || m[2]);
          if (key && f[key]) { f[key].setError(err.message); f[key].input.focus(); }
          else if (key === "conditions") condError.textContent = err.message;
          else if (key === "actions") actError.textContent = err.message;
          else formError.textContent = err.message;
        }
      });
    });
    clear(body, form);
    el.querySelector(".page-head h1").textContent = creating ? "New chat trigger" : t.name;
    if (creating) f.name.input.focus();
  }

  if (creating) build({});
  else api.get(`/api/v1/livechat/triggers/${encodeURIComponent(id)}`).then((r) => {
    if (!r.trigger) { clear(body, h("p", { class: "form-error", role: "alert" }, "There is no such trigger (it may have been deleted).")); return; }
    build(r.trigger);
  }).catch((e) => clear(body, h("p", { class: "form-error", role: "alert" }, e.message)));

  return { el };
}
