// Create or edit a channel. Field errors from the API ({field: reason}) show under
// their field; anything else shows above the buttons.

import { h, field, select, busy, toast, pageHeader, spinner, clear, confirmDialog } from "../lib/h.js";
import { api, chanPath } from "../lib/api.js";

const PERMS = [["none", "none"], ["subscribe", "subscribe"], ["publish", "subscribe and publish"]];

export function render({ query, navigate }) {
  const name = query.get("name");
  const creating = !name;
  const body = h("div", {}, spinner());
  const el = h("div", { class: "page narrow" },
    pageHeader(creating ? "New channel" : name, creating ? "Clients join it over /ws; backends publish over REST." : "Channel settings.",
      creating ? null : h("a", { class: "btn", href: `#/channels/console?name=${encodeURIComponent(name)}` }, "Console"),
      creating ? null : h("a", { class: "btn", href: `#/channels/history?name=${encodeURIComponent(name)}` }, "History")),
    body);

  function build(c) {
    const f = {
      name: field("Name", h("input", { type: "text", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false", value: c.name || "", class: "mono" }),
        { hint: "Letters, digits, - _ . and /. End with /* for a pattern (chat/* covers chat/42)." }),
      description: field("Description", h("textarea", { rows: "2", maxlength: "2000", value: c.description || "" })),
      type: field("Type", select([["default", "Default: one stream"], ["separate_rooms", "Separate rooms: each message goes to a room"]], c.type || "default"), { hint: creating ? "Cannot be changed later." : "Fixed after creation." }),
      other_permissions: field("Anonymous clients may", select(PERMS, c.other_permissions || "none")),
      group_permissions: field("Client-token holders may", select(PERMS, c.group_permissions || "subscribe")),
      custom_publish: field("Clients may publish custom messages", h("input", { type: "checkbox", checked: c.custom_publish !== false }), { hint: "Off: only server-side events and triggers publish." }),
      presence: field("Presence (clients see who is here)", h("input", { type: "checkbox", checked: !!c.presence })),
      private_messaging: field("Private messages between clients", h("input", { type: "checkbox", checked: !!c.private_messaging })),
      persist: field("Store history", h("input", { type: "checkbox", checked: c.history ? c.history.persist : true }), { hint: "Off: messages live in memory only." }),
      max_messages: field("Keep at most (messages)", h("input", { type: "number", min: "0", step: "1", value: c.history ? c.history.max_messages : 10000 })),
      max_age_seconds: field("Keep for at most (seconds)", h("input", { type: "number", min: "1", step: "1", placeholder: "no limit", value: c.history && c.history.max_age_seconds ? c.history.max_age_seconds : "" })),
    };
    if (!creating) { f.name.input.disabled = true; f.type.input.disabled = true; }
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, creating ? "Create channel" : "Save changes");
    const del = creating ? null : h("button", { class: "btn danger ghost", type: "button" }, "Delete channel");
    const form = h("form", { class: "form card", novalidate: true },
      h("fieldset", {}, h("legend", "Channel"), f.name.wrap, f.description.wrap, f.type.wrap),
      h("fieldset", {}, h("legend", "Permissions"), h("div", { class: "grid2" }, f.other_permissions.wrap, f.group_permissions.wrap), f.custom_publish.wrap, f.presence.wrap, f.private_messaging.wrap),
      h("fieldset", {}, h("legend", "History"), f.persist.wrap, h("div", { class: "grid2" }, f.max_messages.wrap, f.max_age_seconds.wrap)),
      formError,
      h("div", { class: "form-actions" }, save, h("a", { class: "btn ghost", href: "#/channels" }, "Cancel"), h("span", { class: "spacer" }), del));

    const togglePersist = () => { f.max_messages.input.disabled = !f.persist.input.checked; f.max_age_seconds.input.disabled = !f.persist.input.checked; };
    f.persist.input.addEventListener("change", togglePersist);
    togglePersist();

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      Object.values(f).forEach((x) => x.setError(""));
      formError.textContent = "";
      const maxMsgs = f.max_messages.input.value.trim();
      const maxAge = f.max_age_seconds.input.value.trim();
      if (creating && !f.name.input.value.trim()) { f.name.setError("A name is required."); f.name.input.focus(); return; }
      if (maxMsgs && !/^\d+$/.test(maxMsgs)) { f.max_messages.setError("Enter a whole number."); f.max_messages.input.focus(); return; }
      if (maxAge && !/^\d+$/.test(maxAge)) { f.max_age_seconds.setError("Enter a whole number of seconds, or leave empty."); f.max_age_seconds.input.focus(); return; }
      const payload = {
        description: f.description.input.value,
        other_permissions: f.other_permissions.input.value,
        group_permissions: f.group_permissions.input.value,
        custom_publish: f.custom_publish.input.checked,
        presence: f.presence.input.checked,
        private_messaging: f.private_messaging.input.checked,
        history: { persist: f.persist.input.checked, max_messages: maxMsgs ? Number(maxMsgs) : 10000, max_age_seconds: maxAge ? Number(maxAge) : null },
      };
      if (creating) { payload.name = f.name.input.value.trim(); payload.type = f.type.input.value; }
      await busy(save, async () => {
        try {
          const saved = creating ? await api.post("/api/v1/channels", payload) : await api.patch(`/api/v1/channels/${chanPath(name)}`, payload);
          toast(creating ? `Created ${saved.name}.` : "Saved.");
          if (creating) navigate(`#/channels/edit?name=${encodeURIComponent(saved.name)}`);
        } catch (err) {
          let placed = false;
          for (const [k, v] of Object.entries(err.fields)) {
            const key = k.replace(/^history\.?/, "") || "persist";
            const target = f[k] || f[key] || (k === "history" ? f.max_messages : null);
            if (target) { target.setError(v); if (!placed) target.input.focus(); placed = true; }
          }
          if (!placed) formError.textContent = err.message;
        }
      });
    });
    if (del) del.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete ${name}?`, "The channel and all of its stored history are deleted. This cannot be undone."))) return;
      await busy(del, async () => {
        try { await api.del(`/api/v1/channels/${chanPath(name)}`); toast(`Deleted ${name}.`); navigate("#/channels"); } catch (err) { formError.textContent = err.message; }
      });
    });
    clear(body, form);
    if (creating) f.name.input.focus();
  }

  if (creating) build({});
  else api.get(`/api/v1/channels/${chanPath(name)}`).then(build).catch((e) => clear(body, h("p", { class: "form-error", role: "alert" }, e.status === 404 ? `There is no channel named ${name}.` : e.message)));
  return { el };
}
