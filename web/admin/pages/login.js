// First-run setup (with the one-time token from the printed link) and sign-in.

import { h, field, busy } from "../lib/h.js";
import { api } from "../lib/api.js";

export function render({ mode, query, onSignedIn }) {
  const setupToken = query.get("token") || "";
  const isSetup = mode === "setup";
  const error = h("p", { class: "form-error", role: "alert" });
  const flash = sessionStorage.getItem("rtbox_flash");
  sessionStorage.removeItem("rtbox_flash");
  const note = h("p", { class: "notice", hidden: !flash, role: "status" }, flash || "");

  const email = field("Email", h("input", { type: "email", required: true, autocomplete: "username", name: "email" }));
  const name = field("Your name", h("input", { type: "text", autocomplete: "name", maxlength: "128" }), { hint: "Optional; shown to colleagues." });
  const password = field(isSetup ? "Password" : "Password",
    h("input", { type: "password", required: true, minlength: isSetup ? "8" : null, autocomplete: isSetup ? "new-password" : "current-password", name: "password" }),
    { hint: isSetup ? "At least 8 characters." : null });
  const submit = h("button", { class: "btn primary block", type: "submit" }, isSetup ? "Create admin and sign in" : "Sign in");

  const form = h("form", { class: "auth-form", novalidate: true },
    email.wrap, isSetup ? name.wrap : null, password.wrap, error, submit);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    [email, name, password].forEach((f) => f.setError(""));
    if (!email.input.value.trim()) { email.setError("Enter your email address."); email.input.focus(); return; }
    if (!password.input.value) { password.setError("Enter your password."); password.input.focus(); return; }
    if (isSetup && password.input.value.length < 8) { password.setError("Use at least 8 characters."); password.input.focus(); return; }
    await busy(submit, async () => {
      try {
        const res = isSetup
          ? await api.post("/api/v1/setup", { token: setupToken, email: email.input.value.trim(), password: password.input.value, name: name.input.value.trim() }, { auth: false })
          : await api.post("/api/v1/auth/login", { email: email.input.value.trim(), password: password.input.value }, { auth: false });
        onSignedIn(res.token, res.user);
      } catch (err) {
        const map = { email, password, name };
        let placed = false;
        for (const [k, v] of Object.entries(err.fields || {})) if (map[k]) { map[k].setError(v); placed = true; }
        if (!placed) error.textContent = err.status === 429 ? `${err.message} Wait a moment and try again.` : err.message;
      }
    });
  });

  const card = h("div", { class: "auth-card" },
    h("div", { class: "brand big" }, h("span", { class: "logo", "aria-hidden": "true" }, "rt"), h("span", "rtbox")),
    h("h1", isSetup ? "Create the first admin" : "Sign in"),
    h("p", { class: "sub" }, isSetup ? "This one-time link sets up your rtbox. The account you create here can do everything." : "Channels, triggers and the livechat inbox."),
    note, form);

  if (isSetup) {
    if (!setupToken) { error.textContent = "This setup link has no token. Use the full link the server printed."; submit.disabled = true; }
    api.get("/api/v1/setup", { auth: false }).then((s) => {
      if (s && !s.setup_required) {
        note.hidden = false;
        note.textContent = "Setup is already done: an admin exists.";
        form.replaceChildren(h("a", { class: "btn primary block", href: "#/login" }, "Go to sign-in"));
      }
    }).catch(() => {});
  } else {
    api.get("/api/v1/setup", { auth: false }).then((s) => {
      if (s && s.setup_required) {
        note.hidden = false;
        note.textContent = "No admin exists yet. Open the setup link rtbox printed at start, or run `rtbox admin create EMAIL`.";
      }
    }).catch(() => {});
  }
  setTimeout(() => email.input.focus(), 0);
  return h("div", { class: "auth-page" }, card);
}
