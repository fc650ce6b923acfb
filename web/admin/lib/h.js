// DOM helpers. Everything user-provided goes in as text: h() appends strings as text
// nodes and never parses markup, so a name like <img onerror> stays a name.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(el, c)); return; }
  el.append(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" || k === "checked" || k === "selected" || k === "disabled" || k === "hidden") el[k] = v;
    else if (k === "style") throw new Error("use classes or CSSOM, not style attributes");
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

// h("button", {class: "btn", onclick}, "Save") — children may be strings, nodes, arrays.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs && (attrs instanceof Node || typeof attrs !== "object" || Array.isArray(attrs))) {
    children.unshift(attrs);
  } else setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  children.forEach((c) => c && el.append(c));
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;
export function uid(prefix = "f") { idSeq += 1; return `${prefix}-${idSeq}`; }

// A labelled form field with an error slot: {wrap, input, error, setError(msg)}.
export function field(label, input, { hint, name } = {}) {
  const id = input.id || uid("in");
  input.id = id;
  if (name) input.name = name;
  const error = h("p", { class: "field-error", id: `${id}-err`, role: "alert" });
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  input.setAttribute("aria-describedby", [hintEl && hintEl.id, error.id].filter(Boolean).join(" "));
  const isCheck = input.type === "checkbox" || input.type === "radio";
  const wrap = isCheck
    ? h("div", { class: "field check" }, h("label", { for: id }, input, h("span", label)), hintEl, error)
    : h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl, error);
  const f = {
    wrap, input, error,
    setError(msg) {
      error.textContent = msg || "";
      if (msg) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    },
  };
  return f;
}

export function select(options, value) {
  return h("select", {}, options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

// Runs an async action with the button showing progress; returns its result.
export async function busy(button, fn) {
  const buttons = Array.isArray(button) ? button : [button];
  buttons.forEach((b) => { if (b) { b.disabled = true; b.setAttribute("aria-busy", "true"); } });
  try { return await fn(); } finally {
    buttons.forEach((b) => { if (b) { b.disabled = false; b.removeAttribute("aria-busy"); } });
  }
}

// ---- toasts ---------------------------------------------------------------------------
let toastRegion;
export function toast(message, kind = "ok") {
  if (!toastRegion) {
    toastRegion = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastRegion);
  }
  const t = h("div", { class: `toast ${kind}` }, message);
  toastRegion.append(t);
  // Three at most: older ones make room.
  while (toastRegion.children.length > 3) toastRegion.firstChild.remove();
  setTimeout(() => t.classList.add("leaving"), kind === "error" ? 6000 : 3200);
  setTimeout(() => t.remove(), kind === "error" ? 6400 : 3600);
}

// ---- dialogs (native <dialog>: focus stays inside, Esc closes) ---------------------------
export function dialog(title, body, actions = []) {
  const d = h("dialog", { class: "dialog", "aria-labelledby": uid("dlg") });
  const heading = h("h2", { id: d.getAttribute("aria-labelledby") }, title);
  d.append(heading, h("div", { class: "dialog-body" }, body), h("div", { class: "dialog-actions" }, actions));
  d.addEventListener("close", () => d.remove());
  document.body.append(d);
  d.showModal();
  return d;
}

export function confirmDialog(title, message, { confirm = "Delete", danger = true } = {}) {
  return new Promise((resolve) => {
    let result = false;
    const ok = h("button", { class: danger ? "btn danger" : "btn primary", type: "button" }, confirm);
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const d = dialog(title, h("p", message), [cancel, ok]);
    ok.addEventListener("click", () => { result = true; d.close(); });
    cancel.addEventListener("click", () => d.close());
    d.addEventListener("close", () => resolve(result));
    cancel.focus();
  });
}

// ---- clipboard --------------------------------------------------------------------------
export async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Plain-http deployments have no async clipboard: fall back to a selected input.
    if (input) { input.focus(); input.select(); }
    if (!document.execCommand || !document.execCommand("copy")) throw new Error("Copy failed; select the text and copy it by hand.");
  }
}

export function secretBox(label, secret, note, { neutral = false } = {}) {
  const input = h("input", { class: "mono secret", readonly: true, value: secret, "aria-label": label });
  const btn = h("button", { class: "btn", type: "button" }, "Copy");
  btn.addEventListener("click", async () => {
    try { await copyText(secret, input); btn.textContent = "Copied"; setTimeout(() => { btn.textContent = "Copy"; }, 1500); toast("Copied to the clipboard."); }
    catch (e) { toast(e.message, "error"); }
  });
  return h("div", { class: neutral ? "secret-box neutral" : "secret-box", role: "group", "aria-label": label },
    h("p", { class: "secret-note" }, note),
    h("div", { class: "row" }, input, btn));
}

// ---- formatting -------------------------------------------------------------------------
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function fmtClock(iso) {
  const d = iso ? new Date(iso) : new Date();
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtAgo(iso) {
  const t = new Date(iso).getTime();
  if (!t) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

export function fmtDuration(sec) {
  sec = Math.floor(sec || 0);
  const d = Math.floor(sec / 86400), hh = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

export function pretty(value) {
  try { return JSON.stringify(value, null, 2); } catch { return String(value); }
}

// Parses JSON and says where it is wrong: {ok, value} or {ok:false, message}.
export function parseJson(text) {
  try { return { ok: true, value: JSON.parse(text) }; } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    let where = "";
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split("\n").length;
      const col = pos - before.lastIndexOf("\n");
      where = ` (line ${line}, column ${col})`;
    }
    return { ok: false, message: `Not valid JSON${where}: ${e.message.replace(/^JSON\.parse: /, "")}` };
  }
}

export function emptyState(title, text, action) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), text ? h("p", text) : null, action || null);
}

export function badge(text, kind = "") { return h("span", { class: `badge ${kind}` }, text); }

export function pageHeader(title, subtitle, ...actions) {
  return h("header", { class: "page-head" },
    h("div", { class: "page-titles" }, h("h1", { tabindex: "-1" }, title), subtitle ? h("p", { class: "sub" }, subtitle) : null),
    actions.length ? h("div", { class: "page-actions" }, actions) : null);
}

export function spinner(label = "Loading…") {
  return h("div", { class: "loading", role: "status" }, h("span", { class: "spin", "aria-hidden": "true" }), label);
}
