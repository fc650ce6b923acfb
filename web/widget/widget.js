/*! rtbox livechat widget. One tag: <script src="https://HOST/livechat/widget.js" async></script>
 * Plain JavaScript, no dependencies, nothing loaded from other hosts. Lives in a Shadow DOM
 * with a constructed stylesheet (no inline styles, so a strict host CSP needs only
 * script-src and connect-src for HOST). Every text is inserted as text, never as HTML. */
(() => {
  "use strict";
  const W = window, D = document;
  if (W.__rtboxWidget) return;
  W.__rtboxWidget = 1;

  // ---- where the server is, and what this browser remembers about it -------------------
  const tag = D.currentScript || [...D.scripts].find((s) => /\/livechat\/widget\.js/.test(s.src));
  const BASE = (tag ? tag.src : location.href).replace(/\/livechat\/widget\.js.*$/, "");
  const KEY = "rtbox:" + BASE;
  // With storage blocked or full, the conversation still works for this page (in memory).
  let mem = {}, noStorage = false;
  const store = {
    get() {
      if (!noStorage) try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch { noStorage = true; }
      return Object.assign({}, mem);
    },
    set(patch) {
      const v = Object.assign(store.get(), patch);
      mem = v;
      try { localStorage.setItem(KEY, JSON.stringify(v)); } catch { noStorage = true; }
      return v;
    },
  };
  const rand = (n) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => (b % 36).toString(36)).join("");
  let S = store.get();
  if (!S.token) S = store.set({ token: rand(24) });

  // ---- tiny helpers -------------------------------------------------------------------
  const listeners = {};
  const emit = (ev, data) => (listeners[ev] || []).slice().forEach((fn) => { try { fn(data); } catch (e) { console.error(e); } });
  const h = (tagName, attrs, ...kids) => {
    const el = D.createElement(tagName);
    for (const k in attrs || {}) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...kids.flat().filter((c) => c != null && c !== false));
    return el;
  };
  const NS = "http://www.w3.org/2000/svg";
  const icon = (d, size = 20) => {
    const s = D.createElementNS(NS, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("width", size);
    s.setAttribute("height", size);
    s.setAttribute("aria-hidden", "true");
    const p = D.createElementNS(NS, "path");
    p.setAttribute("d", d);
    s.append(p);
    return s;
  };
  const I = {
    chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
    close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z",
    down: "M7.4 8.6 12 13.2l4.6-4.6L18 10l-6 6-6-6z",
    send: "M3 20.5v-7l9-1.5-9-1.5v-7L22 12z",
    ok: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
    more: "M12 8a2 2 0 1 0 0-4 2 2 0 0 0 0 4zm0 6a2 2 0 1 0 0-4 2 2 0 0 0 0 4zm0 6a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
  };
  const req = async (method, path, body) => {
    const r = await fetch(BASE + path, {
      method,
      credentials: "omit",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let j = {};
    try { j = await r.json(); } catch {}
    if (!r.ok || j.success === false) {
      const e = new Error(j.errorType || j.error || j.message || j.detail || "HTTP " + r.status);
      e.status = r.status;
      throw e;
    }
    return j;
  };
  const q = encodeURIComponent;
  // Server error codes in words a visitor understands.
  const friendly = (e) => /too-many/.test(e.message) ? "Too many attempts. Please wait a moment."
    : /smtp/.test(e.message) ? "Sorry, we cannot send emails right now."
    : /email/i.test(e.message) ? "Please check the email address."
    : e.status ? "Something went wrong. Please try again." : "You seem to be offline. Please try again.";

  // ---- state -------------------------------------------------------------------------
  let cfg = null, online = false, isOpen = false, view = "chat", agent = null;
  const msgs = new Map(); // key -> message; key is the channel id, or the client _id while pending
  const endedRooms = new Set(); // rooms seen closed on this page: never reopened by a late answer
  let maxId = 0, visMax = 0, historyLoaded = false, typingTimer = 0, sentTyping = 0, typingOff = 0, pendingText = "";
  let readyResolve, seenBase = {};
  const ready = new Promise((r) => (readyResolve = r));

  // ---- DOM ----------------------------------------------------------------------------
  const host = D.createElement("rtbox-livechat");
  const root = host.attachShadow({ mode: "open" });
  const css = `:host{all:initial!important;display:block!important;position:static!important;visibility:visible!important;opacity:1!important;contain:none!important}
.wrap{--rb-c:#2d5bd7;--rb-on:#fff;--bg:#fff;--fg:#1d2330;--muted:#667085;--line:#e4e7ec;--in:#f2f4f7;--sh:0 12px 40px rgba(16,24,40,.18),0 2px 8px rgba(16,24,40,.08);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);-webkit-font-smoothing:antialiased}
@media (prefers-color-scheme:dark){.wrap{--bg:#17191e;--fg:#e7e9ee;--muted:#9aa2b1;--line:#2b2f38;--in:#252932;--sh:0 12px 40px rgba(0,0,0,.5)}}
*{box-sizing:border-box}
[hidden]{display:none!important}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer;background:none;border:0;padding:0}
:focus-visible{outline:2px solid var(--rb-c);outline-offset:2px}
svg{fill:currentColor;display:block;flex:none}
.launcher{position:fixed;z-index:2147483000;bottom:20px;right:20px;width:56px;height:56px;border-radius:50%;background:var(--rb-c);color:var(--rb-on);box-shadow:var(--sh);display:grid;place-items:center;transition:transform .15s}
.launcher:hover{transform:scale(1.06)}
.ic{display:grid;place-items:center;grid-area:1/1;transition:transform .2s,opacity .2s}
.ic.down,.open .ic.chat{opacity:0;transform:rotate(-60deg) scale(.6)}
.open .ic.down{opacity:1;transform:none}
.left .launcher,.left .preview,.left .win{right:auto;left:20px}
.badge{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#e5484d;color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;box-shadow:0 0 0 2px var(--bg)}
.preview{position:fixed;z-index:2147483000;bottom:86px;right:20px;width:max-content;max-width:min(300px,calc(100vw - 40px));background:var(--bg);border-radius:14px;box-shadow:var(--sh);border:1px solid var(--line)}
.preview.in{animation:pop .22s ease-out}
.pbody{display:block;text-align:left;padding:11px 30px 12px 14px;width:100%}
.pwho{font-size:12px;color:var(--muted);font-weight:600;margin-bottom:2px}
.ptext{display:-webkit-box;-webkit-line-clamp:3;-webkit-box-orient:vertical;overflow:hidden;white-space:pre-wrap;overflow-wrap:anywhere}
.pclose{position:absolute;top:6px;right:6px;width:22px;height:22px;border-radius:50%;display:grid;place-items:center;color:var(--muted)}
.pclose:hover{background:var(--in)}
.win{position:fixed;z-index:2147483001;bottom:86px;right:20px;width:370px;height:min(600px,calc(100vh - 106px));max-width:calc(100vw - 40px);background:var(--bg);border-radius:16px;box-shadow:var(--sh);display:flex;flex-direction:column;overflow:hidden;animation:pop .2s ease-out;border:1px solid var(--line)}
.head{position:relative;display:flex;align-items:center;gap:10px;padding:14px 10px 14px 16px;background:var(--rb-c);color:var(--rb-on)}
.avatar{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.22);display:grid;place-items:center;font-weight:700;font-size:15px;position:relative;flex:none}
.avatar.on:after{content:"";position:absolute;right:-1px;bottom:-1px;width:10px;height:10px;border-radius:50%;background:#31c48d;box-shadow:0 0 0 2px var(--rb-c)}
.htext{flex:1;min-width:0}
.title{font-weight:700;font-size:15px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sub{font-size:12.5px;opacity:.85;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.hbtn{width:34px;height:34px;border-radius:8px;display:grid;place-items:center;color:inherit}
.hbtn:hover{background:rgba(255,255,255,.16)}
.menu{position:absolute;top:54px;right:44px;min-width:170px;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:10px;box-shadow:var(--sh);padding:4px;z-index:2}
.menu button{display:block;width:100%;text-align:left;padding:8px 12px;border-radius:6px}
.menu button:hover,.menu button:focus{background:var(--in)}
.panel{flex:1;min-height:0;display:flex;flex-direction:column}
.chat{flex:1;min-height:0;display:flex;flex-direction:column}
.log{flex:1;overflow-y:auto;padding:14px 14px 6px;display:flex;flex-direction:column;gap:2px;overscroll-behavior:contain}
.log:focus-visible{outline-offset:-2px}
.empty{margin:auto;color:var(--muted);text-align:center;max-width:250px}
.msg{display:flex;flex-direction:column;align-items:flex-start;max-width:82%}
.msg.first{margin-top:8px}
.msg.me{align-self:flex-end;align-items:flex-end}
.msg.sys{align-self:center;max-width:100%;color:var(--muted);font-size:12.5px}
.who{font-size:12px;color:var(--muted);margin:0 0 3px 4px}
.bubble{padding:8px 12px;border-radius:16px;background:var(--in);white-space:pre-wrap;overflow-wrap:anywhere}
.agent .bubble{border-bottom-left-radius:5px}
.me .bubble{background:var(--rb-c);color:var(--rb-on);border-bottom-right-radius:5px}
.sys .bubble{background:none;padding:2px 8px}
.bubble a{color:inherit;text-decoration:underline}
.pending .bubble{opacity:.6}
.failed .bubble{opacity:.5}
.retry{color:#e5484d;font-size:12px}
.time{font-size:11px;color:var(--muted);margin:3px 6px 4px}
.typing{display:flex;align-items:center;gap:8px;padding:2px 16px 6px;color:var(--muted);font-size:12.5px}
.dots{display:flex;gap:3px;background:var(--in);padding:8px 10px;border-radius:12px}
.dots i{width:6px;height:6px;border-radius:50%;background:var(--muted);animation:blink 1.2s infinite}
.dots i:nth-child(2){animation-delay:.2s}
.dots i:nth-child(3){animation-delay:.4s}
.note{font-size:12.5px;color:var(--muted);padding:0 16px;text-align:center}
.note:empty{display:none}
.composer{display:flex;align-items:flex-end;gap:8px;margin:8px 12px 4px;padding:6px 6px 6px 14px;border:1px solid var(--line);border-radius:22px;background:var(--bg)}
.composer:focus-within{border-color:var(--rb-c)}
.composer textarea{flex:1;border:0;outline:0;background:none;resize:none;max-height:120px;padding:5px 0;line-height:1.4}
.send{width:32px;height:32px;border-radius:50%;background:var(--rb-c);color:var(--rb-on);display:grid;place-items:center}
.send svg{width:18px;height:18px}
.form{flex:1;overflow-y:auto;padding:18px 18px 12px;display:flex;flex-direction:column;gap:12px}
.lead{margin:0;color:var(--fg)}
.lead.done{margin:auto 0;text-align:center;font-size:15px}
.okic{display:grid;place-items:center;width:52px;height:52px;margin:0 auto 12px;border-radius:50%;background:var(--in);color:var(--rb-c)}
.field{display:flex;flex-direction:column;gap:5px;font-size:13px;color:var(--muted);font-weight:600}
.field input,.field textarea{font-weight:400;font-size:14px;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:9px 11px;outline:0;resize:vertical;width:100%}
.field input:focus,.field textarea:focus{border-color:var(--rb-c);box-shadow:0 0 0 3px color-mix(in srgb,var(--rb-c) 22%,transparent)}
.primary{background:var(--rb-c);color:var(--rb-on);border-radius:10px;padding:10px 14px;font-weight:600}
.primary:disabled{opacity:.6;cursor:default}
.link{color:var(--muted);text-decoration:underline;font-size:13px;align-self:center}
.err{color:#e5484d;font-size:13px}
.err:empty{display:none}
.foot{text-align:center;font-size:11px;color:var(--muted);padding:2px 0 8px;opacity:.8}
@keyframes pop{from{opacity:0;transform:translateY(10px) scale(.98)}}
@keyframes blink{0%,80%,100%{opacity:.3}40%{opacity:1}}
@media (max-width:480px){
.launcher{bottom:16px;right:16px;width:52px;height:52px}
.left .launcher{left:16px}
.preview{bottom:78px;right:16px;max-width:min(280px,calc(100vw - 32px))}
.ptext{-webkit-line-clamp:2}
.left .preview{left:16px}
.open .win{inset:0;width:auto;height:auto;max-width:none;border-radius:0;border:0}
.open .launcher{display:none}
}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}`;
  if (W.CSSStyleSheet && "adoptedStyleSheets" in root) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else root.append(h("style", { text: css }));

  const badge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
  const launcher = h("button", { class: "launcher", type: "button", "aria-label": "Open chat", "aria-expanded": "false", onclick: () => (isOpen ? close() : open()) },
    h("span", { class: "ic chat" }, icon(I.chat, 26)), h("span", { class: "ic down" }, icon(I.down, 30)), badge);
  const previewText = h("div", { class: "ptext" });
  const previewWho = h("div", { class: "pwho" });
  const preview = h("div", { class: "preview", hidden: true, role: "status", "aria-live": "polite" },
    h("button", { class: "pbody", type: "button", onclick: () => open() }, previewWho, previewText),
    h("button", { class: "pclose", type: "button", "aria-label": "Dismiss message", onclick: () => hidePreview(true) }, icon(I.close, 14)));
  const titleEl = h("div", { class: "title" });
  const statusEl = h("div", { class: "sub" });
  const avatar = h("div", { class: "avatar", "aria-hidden": "true" });
  const menu = h("div", { class: "menu", role: "menu", hidden: true });
  const menuBtn = h("button", { class: "hbtn", type: "button", "aria-label": "Chat options", "aria-haspopup": "menu", "aria-expanded": "false", onclick: () => toggleMenu() }, icon(I.more));
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" });
  const typingEl = h("div", { class: "typing", hidden: true, "aria-live": "polite" }, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), h("span", { class: "tlabel" }));
  const note = h("div", { class: "note", role: "status" });
  const input = h("textarea", { rows: "1", placeholder: "Write a message…", "aria-label": "Message", oninput: onInput, onkeydown: (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendFromComposer(); }
  } });
  const sendBtn = h("button", { class: "send", type: "submit", "aria-label": "Send message" }, icon(I.send));
  const composer = h("form", { class: "composer", onsubmit: (e) => { e.preventDefault(); sendFromComposer(); } }, input, sendBtn);
  const panel = h("div", { class: "panel" });
  const win = h("div", { class: "win", role: "dialog", "aria-modal": "false", hidden: true, onkeydown: trapKeys },
    h("div", { class: "head" }, avatar, h("div", { class: "htext" }, titleEl, statusEl), menuBtn,
      h("button", { class: "hbtn", type: "button", "aria-label": "Minimize chat", onclick: () => close() }, icon(I.down, 24)), menu),
    panel,
    h("div", { class: "foot" }, "Powered by rtbox"));
  const chatView = h("div", { class: "chat" }, log, typingEl, note, composer);
  const wrap = h("div", { class: "wrap" }, win, preview, launcher);
  root.append(wrap);

  // ---- appearance from the server config ---------------------------------------------
  const T = (k, d) => (cfg && cfg.messages && cfg.messages[k]) || d;
  const setting = (k, d) => (cfg && cfg.settings && cfg.settings[k] != null ? cfg.settings[k] : d);
  function applyTheme() {
    const th = (cfg && cfg.theme) || {};
    const color = (!online && th.offlineColor) || th.color;
    if (color && CSS.supports("color", color)) {
      wrap.style.setProperty("--rb-c", color);
      wrap.style.setProperty("--rb-on", contrast(color));
    }
    const pos = th.position || setting("position", "right");
    wrap.classList.toggle("left", /left/.test(pos));
    titleEl.textContent = (!online && th.offlineTitle) || th.title || (online ? "Chat with us" : "Leave a message");
    const an = setting("showAgentInfo", true) && agent && (agent.name || agent.username);
    statusEl.textContent = an ? an : online ? "We are online" : "We are away right now";
    avatar.textContent = (an || titleEl.textContent || "?").trim().charAt(0).toUpperCase();
    avatar.classList.toggle("on", online);
    win.setAttribute("aria-label", titleEl.textContent);
  }
  // Black or white text, whichever reads better on the brand colour.
  function contrast(color) {
    const c = h("i");
    c.style.color = color;
    wrap.append(c);
    const m = getComputedStyle(c).color.match(/\d+(\.\d+)?/g) || [0, 0, 0];
    c.remove();
    const [r, g, b] = m.map(Number).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.4 ? "#111" : "#fff";
  }

  // ---- views --------------------------------------------------------------------------
  function field(name, label, type, mode, value) {
    const id = "rb-" + name;
    return h("label", { class: "field", for: id }, h("span", { text: label + (mode === "required" ? "" : " (optional)") }),
      type === "textarea"
        ? h("textarea", { id, name, rows: "4", required: mode === "required", maxlength: "5000" })
        : h("input", { id, name, type, required: mode === "required", value: value || "", autocomplete: name, maxlength: "200" }));
  }
  // Rocket.Chat's settings: a field on the registration form is shown and required, or absent.
  const fieldMode = (name) => (setting(name + "FieldRegistrationForm", true) ? "required" : "off");
  const needsPrechat = () => setting("registrationForm", true) && !(S.name || S.email) && (fieldMode("name") !== "off" || fieldMode("email") !== "off");
  function formValues(form) {
    const o = {};
    for (const el of form.elements) if (el.name) o[el.name] = el.value.trim();
    return o;
  }
  function show(v) {
    view = v;
    panel.replaceChildren(v === "chat" ? chatView : v === "prechat" ? prechatForm() : v === "offline" ? offlineForm() : v === "transcript" ? transcriptForm() : offlineDone());
    updateMenu();
    if (v === "chat") render();
    if (isOpen) focusFirst();
  }
  function prechatForm() {
    const err = h("div", { class: "err", role: "alert" });
    const form = h("form", { class: "form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      const v = formValues(form);
      btn.disabled = true;
      try {
        await register(v);
        show("chat");
        if (pendingText) { sendMessage(pendingText); pendingText = ""; }
      } catch (x) { err.textContent = friendly(x); btn.disabled = false; }
    } },
    h("p", { class: "lead", text: T("registrationFormMessage", "Tell us who you are and we will be right with you.") }),
    fieldMode("name") !== "off" && field("name", "Name", "text", fieldMode("name"), S.name),
    fieldMode("email") !== "off" && field("email", "Email", "email", fieldMode("email"), S.email),
    err);
    const btn = h("button", { class: "primary", type: "submit", text: "Start chat" });
    form.append(btn);
    return form;
  }
  function offlineForm() {
    if (setting("displayOfflineForm", true) === false)
      return h("div", { class: "form" }, h("p", { class: "lead", text: T("offlineUnavailableMessage", "We are away right now. Please come back later.") }));
    const err = h("div", { class: "err", role: "alert" });
    const form = h("form", { class: "form", onsubmit: async (e) => {
      e.preventDefault();
      const v = formValues(form);
      btn.disabled = true;
      try {
        await req("POST", "/api/v1/livechat/offline.message", { name: v.name, email: v.email, message: v.message, host: location.href });
        store.set({ name: v.name, email: v.email });
        show("offline-done");
      } catch (x) { err.textContent = friendly(x); btn.disabled = false; }
    } },
    h("p", { class: "lead", text: T("offlineMessage", "We are not online right now. Leave a message and we will email you back.") }),
    field("name", "Name", "text", "required", S.name), field("email", "Email", "email", "required", S.email),
    field("message", "Message", "textarea", "required"), err);
    const btn = h("button", { class: "primary", type: "submit", text: "Send" });
    form.append(btn);
    return form;
  }
  function offlineDone() {
    return h("div", { class: "form" }, h("div", { class: "lead done" }, h("span", { class: "okic" }, icon(I.ok, 28)), T("offlineSuccessMessage", "Thanks! We received your message and will be in touch.")));
  }
  function transcriptForm() {
    const err = h("div", { class: "err", role: "alert" });
    const form = h("form", { class: "form", onsubmit: async (e) => {
      e.preventDefault();
      btn.disabled = true;
      try {
        await req("POST", "/api/v1/livechat/transcript", { token: S.token, rid: S.rid || S.lastRid, email: formValues(form).email });
        show("chat");
        say("The transcript is on its way to your inbox.");
      } catch (x) { err.textContent = friendly(x); btn.disabled = false; }
    } },
    h("p", { class: "lead", text: T("transcriptMessage", "Where should we send the transcript of this conversation?") }),
    field("email", "Email", "email", "required", S.email), err);
    const btn = h("button", { class: "primary", type: "submit", text: "Send transcript" });
    form.append(btn, h("button", { class: "link", type: "button", text: "Back to chat", onclick: () => show("chat") }));
    return form;
  }
  function pickView() {
    if (S.rid || msgs.size) return show("chat");
    if (!online) return show("offline");
    show(needsPrechat() ? "prechat" : "chat");
  }
  function say(text) { note.textContent = text; clearTimeout(say.t); say.t = setTimeout(() => (note.textContent = ""), 6000); }

  // ---- menu -----------------------------------------------------------------------------
  function updateMenu() {
    const items = [];
    if ((S.rid || S.lastRid) && setting("transcript", false)) items.push(["Email transcript", () => show("transcript")]);
    if (S.rid) items.push(["End chat", endChat]);
    menu.replaceChildren(...items.map(([label, fn]) => h("button", { type: "button", role: "menuitem", text: label, onclick: () => { toggleMenu(false); fn(); } })));
    menuBtn.hidden = !items.length;
  }
  function toggleMenu(force) {
    const on = force != null ? force : menu.hidden;
    menu.hidden = !on;
    menuBtn.setAttribute("aria-expanded", String(on));
    if (on) menu.firstChild && menu.firstChild.focus();
  }

  // ---- messages --------------------------------------------------------------------------
  const URLRE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  function textWithLinks(text) {
    const out = [];
    let last = 0;
    for (const m of text.matchAll(URLRE)) {
      out.push(text.slice(last, m.index), h("a", { href: m[0], target: "_blank", rel: "noopener noreferrer nofollow", text: m[0] }));
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out.filter((x) => x !== "");
  }
  function fmtTime(ts) {
    const d = new Date(ts);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function render() {
    const list = [...msgs.values()].sort((a, b) => (a.id || 1e15) - (b.id || 1e15) || a.seq - b.seq);
    const nodes = [];
    const same = (a, b) => a && b && a.kind === b.kind && a.name === b.name;
    list.forEach((m, i) => {
      const prev = list[i - 1], next = list[i + 1];
      const who = m.kind === "visitor" ? "me" : m.kind;
      const first = !same(prev, m);
      const bubble = h("div", { class: "bubble", title: fmtTime(m.ts) }, ...textWithLinks(m.text));
      nodes.push(h("div", { class: "msg " + who + (first ? " first" : "") + (m.pending ? " pending" : "") + (m.failed ? " failed" : "") },
        first && who === "agent" && h("div", { class: "who", text: m.name || "Agent" }),
        bubble,
        m.failed && h("button", { class: "link retry", type: "button", text: "Not sent — retry", onclick: () => { msgs.delete(m.key); sendMessage(m.text); } }),
        // The time under the last bubble of a group, as chat apps do.
        !same(m, next) && who !== "sys" && !m.failed && h("div", { class: "time", text: m.pending ? "Sending…" : fmtTime(m.ts) })));
    });
    if (!nodes.length && view === "chat") nodes.push(h("div", { class: "empty" }, h("span", { class: "okic" }, icon(I.chat, 26)), h("div", { text: T("welcome", online ? "Ask us anything — we usually answer within minutes." : "We are away right now, but leave a message and we will get back to you.") })));
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
    log.replaceChildren(...nodes);
    if (atBottom || isOpen) log.scrollTop = log.scrollHeight;
  }
  let seq = 0;
  // A room message (a `message` frame on livechat/{rid}, or a REST history item) in widget terms.
  function normalize(m) {
    const p = m.payload && typeof m.payload === "object" ? m.payload : m;
    const u = p.u || {};
    const id = Number((m.options && m.options.id) || m.seq || 0) || 0;
    const sender = p.sender || (p.t ? "system" : "agent");
    const kind = sender === "visitor" ? "visitor" : sender === "system" ? "sys" : "agent";
    let text = p.msg == null ? "" : String(p.msg);
    if (kind === "sys") {
      const hidden = setting("hiddenSystemMessages", []);
      if (p.t === "livechat-started" || (Array.isArray(hidden) && hidden.includes(p.t))) text = "";
      else if (p.t === "uj") text = (u.name || u.username || "An agent") + " joined the chat";
      else if (p.t === "livechat-close") text = T("conversationFinishedMessage", "The chat has ended.") + (text && text !== "Closed by visitor" ? " " + text : "");
      else if (p.t === "livechat_transfer_history") text = "The chat was transferred";
    }
    return { id, _id: p._id, key: id || p._id, text, kind, name: u.name || u.username || "", ts: p.ts || (m.options && m.options.created_at), trigger: sender === "trigger", t: p.t, u, seq: seq++ };
  }
  // `fromSocket`: a frame (live, or replayed after `last_id`); else a history item.
  // A message is new to this page when no page of this browser had it before this one
  // loaded: only new ones fire `message`/`trigger`, beep (once across tabs) and preview.
  function addMessage(raw, fromSocket) {
    const m = normalize(raw);
    if (!m.key) return;
    if (m.id > maxId) maxId = m.id;
    if (m.id && msgs.has(m.id)) return;
    if (m._id) for (const [k, x] of msgs) if (x._id === m._id) msgs.delete(k);
    if (m.text) msgs.set(m.key, m);
    if (m.t === "livechat-close" && fromSocket) chatEnded(null, true);
    if (!m.text) return render();
    const isNew = fromSocket && m.id > (seenBase.rid === S.rid ? seenBase.id : 0);
    if (isNew) {
      const st = store.get();
      if (st.seenRid !== S.rid || m.id > (st.seen || 0)) store.set({ seen: m.id, seenRid: S.rid });
      if (m.kind !== "sys") emit("message", publicMsg(m));
      if (m.trigger) emit("trigger", publicMsg(m));
    }
    if (m.kind === "agent") {
      // Someone speaks to the visitor (an agent, or a trigger while nobody is online):
      // show the conversation instead of a form; the pre-chat form still comes on send.
      if (view === "offline" || view === "prechat") show("chat");
      if (!m.trigger && m.u.name && !agent) { agent = m.u; applyTheme(); }
      setTyping(false);
      if (m.id > readSeq() && (!isOpen || D.hidden)) {
        if (!isOpen) showPreview(m);
        const b = store.get();
        if (isNew && (b.beepRid !== S.rid || m.id > (b.beeped || 0))) { store.set({ beeped: m.id, beepRid: S.rid }); beep(); }
      }
    }
    if (isOpen && !D.hidden) markRead();
    updateBadge();
    if (view === "chat") render();
  }
  const publicMsg = (m) => ({ id: m.id, text: m.text, from: m.kind, name: m.name, ts: m.ts, trigger: m.trigger });
  // Read marks are per room: a new room's message ids start again at 1.
  const readSeq = () => (S.readRid === S.rid ? S.read || 0 : 0);
  function unread() {
    let n = 0;
    const read = readSeq();
    for (const m of msgs.values()) if (m.kind === "agent" && m.id > read) n++;
    return n;
  }
  function updateBadge() {
    const n = isOpen ? 0 : unread();
    badge.hidden = !n;
    badge.textContent = n > 9 ? "9+" : String(n);
    launcher.setAttribute("aria-label", n ? `Open chat, ${n} unread message${n > 1 ? "s" : ""}` : "Open chat");
  }
  function markRead() {
    if (S.rid && maxId > readSeq()) S = store.set({ read: maxId, readRid: S.rid });
    updateBadge();
  }
  function showPreview(m) {
    previewWho.textContent = m.name || (cfg && cfg.theme && cfg.theme.title) || "New message";
    previewText.textContent = m.text;
    preview.hidden = false;
    preview.classList.remove("in");
    void preview.offsetWidth;
    preview.classList.add("in");
  }
  function hidePreview(dismissed) {
    preview.hidden = true;
    if (dismissed) markRead();
  }

  // ---- notification sound: two soft generated tones, no audio file -----------------------
  let audio;
  function beep() {
    if (setting("sound", true) === false) return;
    try {
      audio = audio || new (W.AudioContext || W.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      const t = audio.currentTime;
      [[660, 0], [880, 0.12]].forEach(([f, d]) => {
        const o = audio.createOscillator(), g = audio.createGain();
        o.type = "sine";
        o.frequency.value = f;
        g.gain.setValueAtTime(0.0001, t + d);
        g.gain.exponentialRampToValueAtTime(0.12, t + d + 0.02);
        g.gain.exponentialRampToValueAtTime(0.0001, t + d + 0.3);
        o.connect(g).connect(audio.destination);
        o.start(t + d);
        o.stop(t + d + 0.32);
      });
    } catch {}
  }
  // Browsers allow audio only after a user gesture: unlock it on the first one.
  const unlock = () => { try { audio = audio || new (W.AudioContext || W.webkitAudioContext)(); audio.resume(); } catch {} };
  W.addEventListener("pointerdown", unlock, { once: true, capture: true });
  W.addEventListener("keydown", unlock, { once: true, capture: true });

  // ---- typing ----------------------------------------------------------------------------
  function setTyping(on, name) {
    clearTimeout(typingOff);
    typingEl.hidden = !on;
    typingEl.lastChild.textContent = on ? `${name || "Agent"} is typing…` : "";
    if (on) typingOff = setTimeout(() => setTyping(false), 6000);
  }
  function onInput() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
    if (!S.rid) return;
    const now = Date.now();
    if (input.value && now - sentTyping > 2500) { sentTyping = now; sendTyping(true); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { if (sentTyping) { sentTyping = 0; sendTyping(false); } }, 3000);
  }

  // ---- the conversation ------------------------------------------------------------------
  // Every visitor is known to the server from its first page load (the WebSocket and the
  // triggers need it); name and email come later, from the pre-chat form or setGuest().
  let visitorReq = null;
  function ensureVisitor() {
    if (S.vid) return Promise.resolve(S.vid);
    return (visitorReq = visitorReq || register({}).finally(() => (visitorReq = null)));
  }
  async function register(v) {
    const visitor = { token: S.token };
    if (v.name) visitor.name = v.name;
    if (v.email) visitor.email = v.email;
    if (S.meta) visitor.customFields = Object.entries(S.meta).map(([key, value]) => ({ key, value: String(value), overwrite: true }));
    const r = await req("POST", "/api/v1/livechat/visitor", { visitor });
    const first = !S.vid;
    S = store.set({ name: v.name || S.name, email: v.email || S.email, vid: r.visitor && r.visitor._id });
    if (first) joinVisitor();
    if (v.name || v.email) sendEvent("registered", { name: v.name, email: v.email });
    return r.visitor;
  }
  async function ensureRoom() {
    if (S.rid) return S.rid;
    await ensureVisitor();
    // An answer can name a room that was closed while it travelled (its `room-closed`
    // came first on the socket): that room is over, so ask once more for a new one.
    for (let tries = 0; tries < 2 && !S.rid; tries++) {
      const r = await req("GET", `/api/v1/livechat/room?token=${q(S.token)}`);
      setRoom(r.room._id);
    }
    if (!S.rid) throw new Error("invalid-room");
    return S.rid;
  }
  function setRoom(rid) {
    if (!rid || rid === S.rid || endedRooms.has(rid)) return;
    // A new conversation: keep only what is still being sent.
    for (const [k, m] of msgs) if (m.id) msgs.delete(k);
    maxId = 0;
    historyLoaded = true;
    S = store.set({ rid, lastRid: rid });
    joinRoom();
    updateMenu();
    emit("chat-started", { rid });
  }
  function sendFromComposer() {
    const text = input.value.trim();
    if (!text) return;
    const limit = setting("limitTextLength", false);
    if (limit && text.length > limit) return say(`Messages can be at most ${limit} characters.`);
    input.value = "";
    onInput();
    if (sentTyping) { sentTyping = 0; sendTyping(false); }
    if (needsPrechat()) { pendingText = text; return show("prechat"); }
    sendMessage(text);
  }
  async function sendMessage(text) {
    const _id = rand(17);
    const m = { key: _id, _id, id: 0, text, kind: "visitor", ts: new Date().toISOString(), pending: true, u: {}, seq: seq++ };
    msgs.set(_id, m);
    render();
    try {
      let rid = await ensureRoom();
      let r;
      try {
        r = await req("POST", "/api/v1/livechat/message", { token: S.token, rid, msg: text, _id });
      } catch (e) {
        // The room was closed meanwhile (by the agent): start a new one and send there.
        if (!/room-closed|invalid-room/.test(e.message)) throw e;
        S = store.set({ rid: null });
        leaveRoom();
        rid = await ensureRoom();
        r = await req("POST", "/api/v1/livechat/message", { token: S.token, rid, msg: text, _id });
      }
      m.pending = false;
      // The echo on the socket may come before or after this answer; match it either way.
      const sid = r.message && r.message._id;
      if (sid && sid !== _id) {
        if ([...msgs.values()].some((x) => x.id && x._id === sid)) msgs.delete(_id);
        else m._id = sid;
      }
    } catch (e) {
      m.failed = true;
      m.pending = false;
      say(/limit/.test(e.message) ? "This message is too long." : "Your message was not sent.");
    }
    render();
  }
  async function endChat() {
    const rid = S.rid;
    if (!rid) return;
    try { await req("POST", "/api/v1/livechat/room.close", { rid, token: S.token }); } catch (e) { if (!/room-closed/.test(e.message)) return say(friendly(e)); }
    chatEnded();
  }
  function chatEnded(_, quiet) {
    if (!S.rid) return;
    const rid = S.rid;
    endedRooms.add(rid);
    leaveRoom();
    S = store.set({ rid: null });
    agent = null;
    applyTheme();
    if (!quiet) say(T("conversationFinishedMessage", "The chat has ended. Write again any time."));
    updateMenu();
    emit("chat-ended", { rid });
  }
  async function loadHistory() {
    if (historyLoaded || !S.rid) return;
    historyLoaded = true;
    try {
      const r = await req("GET", `/api/v1/livechat/messages.history/${q(S.rid)}?token=${q(S.token)}&limit=100`);
      (r.messages || []).slice().reverse().forEach((m) => addMessage(m, false));
      render();
    } catch { historyLoaded = false; }
  }

  // ---- the WebSocket: room messages, typing, notifications, visitor events --------------
  // Reconnects with capped, jittered backoff; rejoins with `last_id`, so the server replays
  // exactly what was missed (no gap), and message ids make a replayed one a no-op (no dup).
  let ws = null, wsOpen = false, attempt = 0, joined = {}, outbox = [], ref = 0;
  function connect() {
    if (!S.vid) return ensureVisitor().then(connect, retry);
    try { ws = new WebSocket(BASE.replace(/^http/, "ws") + "/ws"); } catch { return retry(); }
    ws.onopen = () => {
      wsOpen = true;
      joined = {};
      // The token goes in the first frame, not the URL, so it stays out of access logs.
      ws.send(JSON.stringify({ action: "auth", payload: { visitor_token: S.token } }));
      joinVisitor();
      joinRoom();
      outbox.splice(0).forEach(wsSend);
    };
    ws.onmessage = (e) => {
      attempt = 0;
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      onFrame(f);
    };
    ws.onclose = (e) => {
      wsOpen = false;
      ws = null;
      // 1008: the server does not know this token (erased): register again, then retry.
      if (e.code === 1008) S = store.set({ vid: null });
      retry();
    };
  }
  function retry() {
    const delay = Math.min(30000, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2);
    setTimeout(connect, delay);
  }
  function wsSend(f) {
    if (wsOpen) ws.send(JSON.stringify(f));
    else if (outbox.length < 50) outbox.push(f);
  }
  function join(channel, lastId) {
    if (!wsOpen || joined[channel]) return;
    joined[channel] = 1;
    ws.send(JSON.stringify({ action: "join", options: { channel, last_id: lastId }, payload: {} }));
  }
  function joinVisitor() { if (S.vid) join("livechat-visitor/" + S.vid, visMax || undefined); }
  function joinRoom() { if (S.rid) join("livechat/" + S.rid, maxId || readSeq() || 0); }
  function leaveRoom() {
    for (const c in joined) if (c.startsWith("livechat/")) {
      delete joined[c];
      if (wsOpen) ws.send(JSON.stringify({ action: "leave", options: { channel: c } }));
    }
  }
  function sendEvent(event, data) {
    wsSend({ action: "visitor_event", options: { ref: ++ref }, payload: { event, data: data || {} } });
  }
  function sendTyping(on) {
    if (S.rid && wsOpen) ws.send(JSON.stringify({ action: "typing", options: { channel: "livechat/" + S.rid }, payload: { typing: on } }));
  }
  function onFrame(f) {
    const o = f.options || {}, p = f.payload || {}, ch = o.channel || "";
    if (f.action === "message" && S.rid && ch === "livechat/" + S.rid) return addMessage(f, true);
    if (f.action === "typing" && p.sender !== "visitor") return setTyping(!!p.typing, p.u && (p.u.name || p.u.username));
    if (f.action === "event" && ch.startsWith("livechat-visitor/")) {
      if (o.id > visMax) visMax = o.id;
      const room = p.room || {};
      if (p.type === "room-opened") setRoom(room._id);
      else if (p.type === "room-closed" && room._id === S.rid) chatEnded(null, true);
      else if ((p.type === "agent-assigned" || p.type === "room-transferred") && room._id === S.rid) { agent = p.agent || null; applyTheme(); }
      return;
    }
    if (f.action === "error" && ch && ch === "livechat/" + S.rid && /forbidden|not_found/.test(p.code)) {
      // Not our room any more (erased or closed long ago): forget it.
      S = store.set({ rid: null });
      updateMenu();
    }
  }

  // ---- visitor events: page loads and single-page-app navigation --------------------------
  let lastHref = location.href;
  function pageInfo() { return { href: location.href, title: D.title }; }
  function navigated() {
    if (location.href === lastHref) return;
    lastHref = location.href;
    sendEvent("navigate", pageInfo());
  }
  for (const k of ["pushState", "replaceState"]) {
    const orig = history[k];
    history[k] = function () { const r = orig.apply(this, arguments); setTimeout(navigated); return r; };
  }
  W.addEventListener("popstate", navigated);
  W.addEventListener("hashchange", navigated);

  // ---- open / close, focus, keyboard --------------------------------------------------------
  function focusables() {
    return [...win.querySelectorAll("button,input,textarea,a[href],[tabindex]")].filter((el) => !el.disabled && !el.closest("[hidden]") && el.getClientRects().length);
  }
  function focusFirst() {
    const el = view === "chat" ? input : panel.querySelector("input,textarea,button");
    if (el) setTimeout(() => el.focus({ preventScroll: true }), 30);
  }
  function trapKeys(e) {
    if (e.key === "Escape") {
      e.stopPropagation();
      if (!menu.hidden) { toggleMenu(false); menuBtn.focus(); } else close();
      return;
    }
    if (e.key !== "Tab") return;
    const f = focusables();
    if (!f.length) return;
    const cur = root.activeElement, first = f[0], last = f[f.length - 1];
    if (e.shiftKey && (cur === first || !win.contains(cur))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (cur === last || !win.contains(cur))) { e.preventDefault(); first.focus(); }
  }
  async function open() {
    if (!cfg) await ready;
    if (isOpen || !cfg) return;
    isOpen = true;
    hidePreview();
    wrap.classList.add("open");
    win.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close chat");
    S = store.set({ open: true });
    pickView();
    render();
    markRead();
    sendEvent("chat-opened", pageInfo());
    emit("open");
    loadHistory();
    // Agents come and go: ask again before offering the chat or the offline form.
    if (!S.rid) req("GET", `/api/v1/livechat/config?token=${q(S.token)}`).then((r) => {
      const was = online;
      online = !!(r.config && r.config.online);
      if (was !== online) { applyTheme(); if (isOpen && !S.rid && !msgs.size) pickView(); }
    }, () => {});
  }
  function close() {
    if (!isOpen) return;
    isOpen = false;
    toggleMenu(false);
    wrap.classList.remove("open");
    win.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    S = store.set({ open: false });
    updateBadge();
    if (root.activeElement) launcher.focus({ preventScroll: true });
    emit("close");
  }
  D.addEventListener("visibilitychange", () => { if (!D.hidden && isOpen) markRead(); });

  // ---- other tabs of the same site share the conversation through localStorage -------------
  W.addEventListener("storage", (e) => {
    if (e.key !== KEY) return;
    const prev = S;
    S = store.get();
    if (S.rid !== prev.rid) {
      // Another tab started or ended the conversation: make the same transition here.
      const rid = S.rid;
      S.rid = prev.rid;
      if (rid) setRoom(rid); else chatEnded(null, true);
    }
    if (S.vid && !prev.vid) joinVisitor();
    if (!preview.hidden && maxId <= readSeq()) hidePreview();
    updateBadge();
  });

  // ---- the public API: window.Rtbox, replaying calls queued by the snippet's stub ----------
  const API = {
    open: () => { open(); },
    close: () => { if (cfg) close(); else ready.then(close); },
    toggle: () => (isOpen ? close() : open()),
    isOpen: () => isOpen,
    setGuest: (g) => {
      const v = { name: (g && g.name) || undefined, email: (g && g.email) || undefined };
      // Known at once, so a window opened right after does not ask again.
      S = store.set({ name: v.name || S.name, email: v.email || S.email });
      return ready.then(() => register(v)).then(() => { if (view === "prechat") show("chat"); });
    },
    setMetadata: (meta) => {
      S = store.set({ meta: Object.assign(S.meta || {}, meta) });
      return ready.then(() => register({}));
    },
    pageVisited: (info) => ready.then(() => { lastHref = location.href; sendEvent("navigate", Object.assign(pageInfo(), info)); }),
    on: (ev, fn) => {
      (listeners[ev] = listeners[ev] || []).push(fn);
      if (ev === "ready" && cfg) fn({ token: S.token });
      return () => { listeners[ev] = listeners[ev].filter((x) => x !== fn); };
    },
  };
  const queued = W.Rtbox && W.Rtbox.q ? W.Rtbox.q : [];
  W.Rtbox = API;
  for (const c of queued) {
    const [name, args] = typeof c[0] === "string" && c.length === 2 && typeof c[1] === "object" && c[1] && "length" in c[1] ? [c[0], [...c[1]]] : [c[0], [...c].slice(1)];
    if (API[name]) API[name](...args);
  }

  // ---- start --------------------------------------------------------------------------------
  async function start(tries = 0) {
    try {
      const r = await req("GET", `/api/v1/livechat/config?token=${q(S.token)}`);
      cfg = r.config || r;
    } catch (e) {
      // Down or restarting: try again a few times, then stay out of the page's way.
      if (!e.status || e.status >= 500) if (tries < 4) return setTimeout(() => start(tries + 1), 3000 * 2 ** tries);
      console.warn("rtbox: livechat unavailable:", e.message);
      return;
    }
    if (cfg.enabled === false) return;
    online = !!cfg.online;
    agent = cfg.agent || null;
    const g = cfg.guest;
    // The server is the truth: a visitor it does not know (erased) registers again.
    S = store.set(g ? { vid: g._id, name: g.name || S.name, email: (g.visitorEmails && g.visitorEmails[0] && g.visitorEmails[0].address) || S.email } : { vid: null });
    const room = cfg.room && cfg.room._id && cfg.room.status !== "closed" ? cfg.room._id : null;
    if (room !== S.rid) { S = store.set({ rid: room, lastRid: room || S.lastRid }); maxId = 0; }
    seenBase = { rid: S.seenRid, id: S.seen || 0 };
    applyTheme();
    (D.body || D.documentElement).append(host);
    connect();
    sendEvent("visit", { href: location.href, title: D.title, referrer: D.referrer });
    updateMenu();
    render();
    readyResolve();
    emit("ready", { token: S.token });
    if (S.open && !matchMedia("(max-width: 480px)").matches) open();
  }
  if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", () => start());
  else start();
})();
