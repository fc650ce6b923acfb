// Trigger editor: fields, the script with its compile error marked at line and column
// on save, a test runner (output, logs, duration, effects) and a refreshing run log.

import { h, clear, field, select, busy, toast, pageHeader, spinner, confirmDialog, pretty, parseJson, badge, fmtTime } from "../lib/h.js";
import { api, qs } from "../lib/api.js";
import { codeEditor, parseScriptError } from "../lib/editor.js";

const TEMPLATE = `// Runs on each message sent to the channel (and on joins if enabled).
// \`payload\` is what the client sent; the script's value replaces it.
// reject("reason") refuses the message; log(x) writes to the run log.
log("message on " + channel);
payload
`;

const RUNS_MS = 3000;

export function render({ query, navigate }) {
  const id = query.get("id");
  const creating = !id;
  const body = h("div", {}, spinner());
  const el = h("div", { class: "page" }, pageHeader(creating ? "New trigger" : "Trigger", creating ? "A Rhai script on a channel." : null), body);
  let stopped = false;
  let runsTimer = null;

  function build(t) {
    const f = {
      name: field("Name", h("input", { type: "text", required: true, maxlength: "128", value: t.name || "" })),
      channel: field("Channel", h("input", { type: "text", class: "mono", required: true, spellcheck: "false", maxlength: "64", value: t.channel || "" }), { hint: "A channel name, a prefix/* pattern, or * for every channel." }),
      description: field("Description", h("input", { type: "text", maxlength: "2000", value: t.description || "" })),
      tag: field("Tags", h("input", { type: "text", value: (t.tag || []).join(", ") }), { hint: "Comma separated." }),
      active: field("Active", h("input", { type: "checkbox", checked: t.active !== false })),
      on_message: field("message", h("input", { type: "checkbox", checked: t.actions ? t.actions.message : true })),
      on_join: field("join", h("input", { type: "checkbox", checked: t.actions ? t.actions.join : false })),
      on_leave: field("leave", h("input", { type: "checkbox", checked: t.actions ? t.actions.leave : false })),
    };
    const editor = codeEditor({ value: t.script || TEMPLATE, label: "Script (Rhai)" });
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, creating ? "Create trigger" : "Save");
    const del = creating ? null : h("button", { class: "btn danger ghost", type: "button" }, "Delete");
    const actionsError = h("p", { class: "field-error", role: "alert" });
    const form = h("form", { class: "card form", novalidate: true },
      h("div", { class: "grid2" }, f.name.wrap, f.channel.wrap),
      h("div", { class: "grid2" }, f.description.wrap, f.tag.wrap),
      h("fieldset", { class: "inline-set" }, h("legend", "Runs on"), f.on_message.wrap, f.on_join.wrap, f.on_leave.wrap, actionsError),
      f.active.wrap,
      h("div", { class: "field" }, h("p", { class: "label", id: "script-label" }, "Script (Rhai)"), editor.el,
        h("p", { class: "hint" }, "Ctrl+S saves. Tab indents; press Esc, then Tab, to leave the editor.")),
      formError,
      h("div", { class: "form-actions" }, save, h("a", { class: "btn ghost", href: "#/triggers" }, "Back"), h("span", { class: "spacer" }), del));

    form.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); form.requestSubmit(); } });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      Object.values(f).forEach((x) => x.setError(""));
      actionsError.textContent = "";
      formError.textContent = "";
      editor.setError(null);
      const payload = {
        name: f.name.input.value.trim(),
        channel: f.channel.input.value.trim(),
        description: f.description.input.value,
        tag: f.tag.input.value.split(",").map((x) => x.trim()).filter(Boolean),
        active: f.active.input.checked,
        actions: { message: f.on_message.input.checked, join: f.on_join.input.checked, leave: f.on_leave.input.checked },
        script: editor.value,
      };
      if (!payload.name) { f.name.setError("A name is required."); f.name.input.focus(); return; }
      if (!payload.channel) { f.channel.setError("A channel is required."); f.channel.input.focus(); return; }
      await busy(save, async () => {
        try {
          const saved = creating ? await api.post("/api/v1/triggers", payload) : await api.patch(`/api/v1/triggers/${id}`, payload);
          toast(creating ? "Trigger created." : "Saved. The new script runs from now on.");
          if (creating) navigate(`#/triggers/edit?id=${saved.id}`);
        } catch (err) {
          let placed = false;
          for (const [k, v] of Object.entries(err.fields)) {
            if (k === "script") { editor.setError(parseScriptError(v)); editor.focusError(); placed = true; }
            else if (k === "actions") { actionsError.textContent = v; placed = true; }
            else if (f[k]) { f[k].setError(v); f[k].input.focus(); placed = true; }
          }
          if (!placed) formError.textContent = err.message;
        }
      });
    });
    if (del) del.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete ${t.name}?`, "The trigger stops running and its run log is deleted."))) return;
      await busy(del, async () => { try { await api.del(`/api/v1/triggers/${id}`); toast("Deleted."); navigate("#/triggers"); } catch (err) { formError.textContent = err.message; } });
    });

    const sections = [form];
    if (!creating) sections.push(testPanel(t), runsPanel());
    else sections.push(h("p", { class: "muted" }, "Save the trigger to test it and see its runs."));
    clear(body, h("div", { class: "trigger-grid" }, sections));
    el.querySelector(".page-head h1").textContent = creating ? "New trigger" : t.name;
  }

  function testPanel(t) {
    const action = select([["message", "message"], ["join", "join"], ["leave", "leave"]], t.actions && !t.actions.message && t.actions.join ? "join" : "message");
    const channel = h("input", { type: "text", class: "mono", placeholder: "default: the trigger's channel", spellcheck: "false" });
    const room = h("input", { type: "text", class: "mono", placeholder: "none" });
    const payload = h("textarea", { class: "mono", rows: "5", spellcheck: "false" });
    payload.value = '{\n  "text": "hello"\n}';
    const authed = h("input", { type: "checkbox" });
    const allowHttp = h("input", { type: "checkbox" });
    const pf = field("Sample payload (JSON)", payload);
    const run = h("button", { class: "btn primary", type: "submit" }, "Run test");
    const out = h("div", { class: "test-out", "aria-live": "polite" });
    const form = h("form", { class: "card form", novalidate: true },
      h("div", { class: "card-head" }, h("h2", "Test run"), h("p", { class: "sub" }, "Runs the saved script once; nothing is published or stored.")),
      h("div", { class: "grid3" }, field("Action", action).wrap, field("Channel", channel).wrap, field("Room", room).wrap),
      pf.wrap,
      h("div", { class: "checks" }, field("Client is authenticated", authed).wrap, field("Really call http()", allowHttp, { hint: "Off: http() calls are not made." }).wrap),
      h("div", { class: "form-actions" }, run), out);
    payload.addEventListener("input", () => { const r = parseJson(payload.value); pf.setError(r.ok ? "" : r.message); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const r = parseJson(payload.value);
      if (!r.ok) { pf.setError(r.message); payload.focus(); return; }
      const input = { action: action.value, payload: r.value, client: { authenticated: authed.checked }, allow_http: allowHttp.checked };
      if (channel.value.trim()) input.channel = channel.value.trim();
      if (room.value.trim()) input.room = room.value.trim();
      await busy(run, async () => {
        try {
          const res = await api.post(`/api/v1/triggers/${id}/test`, input);
          const kind = res.outcome === "ok" ? "ok" : res.outcome === "rejected" ? "warn" : "bad";
          clear(out,
            h("div", { class: "row" }, badge(res.outcome, kind), h("span", { class: "muted small" }, `${Number(res.duration_ms).toFixed(2)} ms · ${res.action} on ${res.channel}`)),
            res.reason ? h("p", { class: "warn-text" }, `Rejected: ${res.reason}`) : null,
            res.error ? h("p", { class: "form-error" }, res.error) : null,
            h("h3", "Output"), h("pre", { class: "code test-output" }, pretty(res.output)),
            h("h3", `Logs (${res.logs.length})`), res.logs.length ? h("ol", { class: "logs" }, res.logs.map((l) => h("li", { class: "mono small" }, typeof l === "string" ? l : pretty(l)))) : h("p", { class: "muted small" }, "No log lines."),
            res.effects.length ? [h("h3", "Effects (not performed)"), h("pre", { class: "code small" }, pretty(res.effects))] : null,
            Object.keys(res.kv_writes || {}).length ? [h("h3", "Key/value writes (not stored)"), h("pre", { class: "code small" }, pretty(res.kv_writes))] : null);
        } catch (err) {
          clear(out, h("p", { class: "form-error", role: "alert" }, `Test failed: ${err.message}`));
        }
      });
    });
    return form;
  }

  function runsPanel() {
    const auto = h("input", { type: "checkbox", checked: true });
    const refresh = h("button", { class: "btn small", type: "button" }, "Refresh");
    const updated = h("span", { class: "muted small" });
    const list = h("div", { class: "runs" });
    const panel = h("section", { class: "card" },
      h("div", { class: "card-head row wrap" }, h("h2", "Run log"), updated, h("span", { class: "spacer" }), h("label", { class: "inline small" }, auto, " refresh every 3 s"), refresh),
      list);
    async function load() {
      clearTimeout(runsTimer);
      try {
        const res = await api.get(`/api/v1/triggers/${id}/runs${qs({ limit: 50 })}`);
        if (stopped) return;
        updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
        if (!res.objects.length) clear(list, h("p", { class: "muted" }, "No runs yet. Runs appear here when clients publish or join."));
        else clear(list, h("table", { class: "table compact" },
          h("thead", h("tr", ["Time", "Action", "Channel", "Duration", "Outcome", "Details"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", res.objects.map((r) => h("tr", {},
            h("td", { "data-label": "Time" }, h("time", { datetime: r.time, class: "small" }, fmtTime(r.time))),
            h("td", { "data-label": "Action" }, r.action),
            h("td", { "data-label": "Channel" }, h("code", r.channel)),
            h("td", { "data-label": "Duration" }, `${Number(r.duration_ms).toFixed(2)} ms`),
            h("td", { "data-label": "Outcome" }, badge(r.outcome, r.outcome === "ok" ? "ok" : r.outcome === "rejected" ? "warn" : "bad")),
            h("td", { "data-label": "Details" }, r.error ? h("p", { class: "small form-error" }, r.error) : null,
              r.logs.length ? h("details", {}, h("summary", `${r.logs.length} log line${r.logs.length === 1 ? "" : "s"}`), h("ol", { class: "logs" }, r.logs.map((l) => h("li", { class: "mono small" }, typeof l === "string" ? l : pretty(l))))) : (r.error ? null : h("span", { class: "muted small" }, "–"))))))));
      } catch (e) {
        if (stopped) return;
        updated.textContent = `not updating: ${e.message}`;
      }
      if (!stopped && auto.checked) runsTimer = setTimeout(load, RUNS_MS);
    }
    auto.addEventListener("change", () => { if (auto.checked) load(); else clearTimeout(runsTimer); });
    refresh.addEventListener("click", () => busy(refresh, load));
    load();
    return panel;
  }

  if (creating) build({});
  else api.get(`/api/v1/triggers/${encodeURIComponent(id)}`).then(build).catch((e) => clear(body, h("p", { class: "form-error", role: "alert" }, e.status === 404 ? "There is no such trigger." : e.message)));
  return { el, destroy() { stopped = true; clearTimeout(runsTimer); } };
}
