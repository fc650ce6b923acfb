// Users and roles: create, edit roles and name, deactivate/activate, reset a password,
// delete. The server refuses removing the last admin; that error is shown as is.

import { h, clear, pageHeader, badge, spinner, dialog, field, busy, toast, confirmDialog, emptyState, fmtAgo } from "../lib/h.js";
import { api, qs } from "../lib/api.js";

const ROLES = [["admin", "Admin — everything"], ["manager", "Livechat manager — settings, triggers, agents"], ["agent", "Agent — the livechat inbox"]];

function roleBoxes(current = []) {
  const boxes = ROLES.map(([r, label]) => {
    const input = h("input", { type: "checkbox", value: r, checked: current.includes(r) });
    return { r, input, wrap: h("label", { class: "check-row" }, input, h("span", label)) };
  });
  const error = h("p", { class: "field-error", role: "alert" });
  return { el: h("fieldset", {}, h("legend", "Roles"), boxes.map((b) => b.wrap), error), values: () => boxes.filter((b) => b.input.checked).map((b) => b.r), error };
}

function placeErrors(err, fields, formError) {
  let placed = false;
  for (const [k, v] of Object.entries(err.fields)) {
    if (fields[k]) { if (fields[k].setError) fields[k].setError(v); else fields[k].error.textContent = v; placed = true; }
  }
  if (!placed) formError.textContent = err.message;
}

export function render({ user: me }) {
  const list = h("div", { class: "list-wrap" });
  const add = h("button", { class: "btn primary", type: "button" }, "New user");
  const el = h("div", { class: "page" }, pageHeader("Users & roles", "People who sign in to this dashboard.", add), list);
  let offset = 0;

  function userDialog(u) {
    const creating = !u;
    const f = {
      email: field("Email", h("input", { type: "email", required: true, autocomplete: "off", value: u ? u.email : "" })),
      name: field("Name", h("input", { type: "text", maxlength: "128", value: u ? u.name : "" })),
      password: field(creating ? "Password" : "New password", h("input", { type: "password", minlength: "8", autocomplete: "new-password" }), { hint: creating ? "At least 8 characters. Share it safely." : "Leave empty to keep it." }),
    };
    const roles = roleBoxes(u ? u.roles : ["agent"]);
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, creating ? "Create user" : "Save");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const form = h("form", { class: "form", novalidate: true }, f.email.wrap, f.name.wrap, creating ? f.password.wrap : null, roles.el, formError, h("div", { class: "dialog-actions" }, cancel, save));
    const d = dialog(creating ? "New user" : `Edit ${u.email}`, form);
    cancel.addEventListener("click", () => d.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      Object.values(f).forEach((x) => x.setError(""));
      roles.error.textContent = ""; formError.textContent = "";
      const body = { email: f.email.input.value.trim(), name: f.name.input.value.trim(), roles: roles.values() };
      if (creating) body.password = f.password.input.value;
      if (!body.email) { f.email.setError("An email is required."); f.email.input.focus(); return; }
      if (creating && body.password.length < 8) { f.password.setError("Use at least 8 characters."); f.password.input.focus(); return; }
      await busy(save, async () => {
        try {
          if (creating) await api.post("/api/v1/users", body); else await api.patch(`/api/v1/users/${u.id}`, body);
          d.close(); toast(creating ? `Created ${body.email}.` : "Saved."); load();
        } catch (err) { placeErrors(err, { ...f, roles }, formError); }
      });
    });
    f.email.input.focus();
  }

  function passwordDialog(u) {
    const pw = field("New password", h("input", { type: "password", minlength: "8", autocomplete: "new-password", required: true }), { hint: "At least 8 characters. Their open sessions end." });
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, "Set password");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const form = h("form", { class: "form", novalidate: true }, pw.wrap, formError, h("div", { class: "dialog-actions" }, cancel, save));
    const d = dialog(`Reset password for ${u.email}`, form);
    cancel.addEventListener("click", () => d.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault(); pw.setError(""); formError.textContent = "";
      if (pw.input.value.length < 8) { pw.setError("Use at least 8 characters."); pw.input.focus(); return; }
      await busy(save, async () => {
        try { await api.patch(`/api/v1/users/${u.id}`, { password: pw.input.value }); d.close(); toast("Password changed; their sessions were signed out."); } catch (err) { placeErrors(err, { password: pw }, formError); }
      });
    });
    pw.input.focus();
  }

  async function load() {
    clear(list, spinner());
    let page;
    try { page = await api.get(`/api/v1/users${qs({ offset, page_size: 50 })}`); } catch (e) { clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); return; }
    if (!page.objects.length) { clear(list, emptyState("No users", "Create one.")); return; }
    clear(list, h("table", { class: "table" },
      h("thead", h("tr", ["User", "Roles", "Status", "Created", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", page.objects.map((u) => {
        const edit = h("button", { class: "btn small", type: "button" }, "Edit");
        const pw = h("button", { class: "btn small", type: "button" }, "Reset password");
        const toggle = h("button", { class: "btn small", type: "button" }, u.active ? "Deactivate" : "Activate");
        const del = h("button", { class: "btn small danger ghost", type: "button" }, "Delete");
        edit.addEventListener("click", () => userDialog(u));
        pw.addEventListener("click", () => passwordDialog(u));
        toggle.addEventListener("click", async () => {
          if (u.active && !(await confirmDialog(`Deactivate ${u.email}?`, "They are signed out at once and cannot sign in until activated again.", { confirm: "Deactivate" }))) return;
          await busy(toggle, async () => { try { await api.patch(`/api/v1/users/${u.id}`, { active: !u.active }); toast(u.active ? "Deactivated." : "Activated."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        del.addEventListener("click", async () => {
          if (!(await confirmDialog(`Delete ${u.email}?`, "The account is removed for good."))) return;
          await busy(del, async () => { try { await api.del(`/api/v1/users/${u.id}`); toast("Deleted."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        return h("tr", {},
          h("td", { "data-label": "User" }, h("p", { class: "strong" }, u.name || u.email, u.id === me.id ? h("span", { class: "muted small" }, " (you)") : null), u.name ? h("p", { class: "muted small" }, u.email) : null),
          h("td", { "data-label": "Roles" }, u.roles.length ? u.roles.map((r) => badge(r, r === "admin" ? "info" : "")) : h("span", { class: "muted small" }, "none")),
          h("td", { "data-label": "Status" }, u.active ? badge("active", "ok") : badge("deactivated", "bad")),
          h("td", { "data-label": "Created" }, h("span", { class: "small muted", title: u.created_at }, fmtAgo(u.created_at))),
          h("td", { class: "actions" }, edit, pw, toggle, del));
      }))));
  }
  add.addEventListener("click", () => userDialog(null));
  load();
  return { el };
}
