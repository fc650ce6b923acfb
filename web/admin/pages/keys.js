// API keys (the secret is shown once, at creation) and the client-token secret
// (rotation shows the new secret once; tokens signed with the old one stop verifying).

import { h, clear, pageHeader, badge, spinner, field, select, busy, toast, confirmDialog, emptyState, secretBox, fmtAgo } from "../lib/h.js";
import { api } from "../lib/api.js";

export function render() {
  const list = h("div", { class: "list-wrap" });
  const reveal = h("div", { class: "reveal", "aria-live": "polite" });
  const name = field("Name", h("input", { type: "text", required: true, maxlength: "128", placeholder: "e.g. billing backend" }));
  const role = field("Role", select([["publish", "publish — publish and read history"], ["admin", "admin — everything"]], "publish"));
  const create = h("button", { class: "btn primary", type: "submit" }, "Create key");
  const formError = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "card form", novalidate: true }, h("h2", "New API key"), h("div", { class: "grid2" }, name.wrap, role.wrap), formError, h("div", { class: "form-actions" }, create), reveal);

  const rotate = h("button", { class: "btn danger", type: "button" }, "Rotate secret");
  const secretOut = h("div", { "aria-live": "polite" });
  const secretCard = h("section", { class: "card" },
    h("h2", "Client-token secret"),
    h("p", { class: "sub" }, "Your backend signs end-user JWTs (HS256) with this secret, or asks rtbox to mint them with POST /api/v1/tokens. Rotating it invalidates every client token signed before."),
    h("div", { class: "form-actions" }, rotate), secretOut);

  const el = h("div", { class: "page" }, pageHeader("API keys", "Keys for backends: X-API-KEY or Authorization: Bearer."), form, h("section", { class: "card" }, h("h2", "Keys"), list), secretCard);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    name.setError(""); role.setError(""); formError.textContent = ""; clear(reveal);
    if (!name.input.value.trim()) { name.setError("Give the key a name you will recognise."); name.input.focus(); return; }
    await busy(create, async () => {
      try {
        const k = await api.post("/api/v1/keys", { name: name.input.value.trim(), role: role.input.value });
        name.input.value = "";
        clear(reveal, secretBox(`API key ${k.name}`, k.key, `Copy the key for “${k.name}” now: it is shown only once and cannot be recovered.`));
        reveal.querySelector("button").focus();
        load();
      } catch (err) {
        if (err.fields.name) name.setError(err.fields.name); else if (err.fields.role) role.setError(err.fields.role); else formError.textContent = err.message;
      }
    });
  });

  rotate.addEventListener("click", async () => {
    if (!(await confirmDialog("Rotate the client-token secret?", "Every client token signed with the current secret stops working at once; clients must get new tokens.", { confirm: "Rotate" }))) return;
    await busy(rotate, async () => {
      try {
        const r = await api.post("/api/v1/client-secret/rotate");
        clear(secretOut, secretBox("Client-token secret", r.secret, "The new secret, shown only once. Put it in your backend's configuration now."));
        toast("Secret rotated.");
      } catch (e) { clear(secretOut, h("p", { class: "form-error", role: "alert" }, e.message)); }
    });
  });

  async function load() {
    clear(list, spinner());
    let page;
    try { page = await api.get("/api/v1/keys"); } catch (e) { clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); return; }
    if (!page.objects.length) { clear(list, emptyState("No API keys", "Create one above for each backend that publishes.")); return; }
    clear(list, h("table", { class: "table" },
      h("thead", h("tr", ["Name", "Role", "Key", "Created", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", page.objects.map((k) => {
        const revoke = h("button", { class: "btn small danger ghost", type: "button" }, "Revoke");
        revoke.addEventListener("click", async () => {
          if (!(await confirmDialog(`Revoke ${k.name}?`, "Requests with this key are refused from now on (403 No such API Key.).", { confirm: "Revoke" }))) return;
          await busy(revoke, async () => { try { await api.del(`/api/v1/keys/${k.id}`); toast("Key revoked."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        return h("tr", {},
          h("td", { "data-label": "Name" }, h("span", { class: "strong" }, k.name)),
          h("td", { "data-label": "Role" }, badge(k.role, k.role === "admin" ? "info" : "")),
          h("td", { "data-label": "Key" }, h("code", { class: "small" }, `${k.prefix || "rtk_"}…`)),
          h("td", { "data-label": "Created" }, h("span", { class: "small muted", title: k.created_at }, fmtAgo(k.created_at))),
          h("td", { class: "actions" }, revoke));
      }))));
  }
  load();
  return { el };
}
