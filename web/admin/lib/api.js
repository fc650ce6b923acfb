// The REST client: bearer session from localStorage, JSON in and out, one error type
// that knows the API's error dialects ({detail}, {field: reason}, Rocket.Chat's
// {success:false, error}). A 401 on a signed-in session means it expired or was revoked.

const TOKEN_KEY = "rtbox_token";
const listeners = new Set();

export function token() { return localStorage.getItem(TOKEN_KEY); }
export function setToken(t) { if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY); }
export function onSessionLost(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(describe(status, body, fallback));
    this.status = status;
    this.body = body;
    this.fields = fieldErrors(body);
  }
}

function fieldErrors(body) {
  if (!body || typeof body !== "object" || Array.isArray(body)) return {};
  if ("detail" in body || "success" in body || "error" in body) return {};
  const out = {};
  for (const [k, v] of Object.entries(body)) out[k] = Array.isArray(v) ? v.join(" ") : String(v);
  return out;
}

function describe(status, body, fallback) {
  if (body && typeof body === "object") {
    if (typeof body.detail === "string") return body.detail;
    if (typeof body.error === "string") return body.error.replace(/\s*\[[a-z-]+\]$/, "");
    if (typeof body.message === "string") return body.message;
    const keys = Object.keys(body);
    if (keys.length) return `${keys[0]}: ${body[keys[0]]}`;
  }
  if (status === 0) return "The server cannot be reached. Check your connection.";
  if (status >= 500) return `The server failed (${status}). Try again; the log has details.`;
  return fallback || `Request failed (${status}).`;
}

export async function request(method, path, body, { auth = true, headers = {}, signal } = {}) {
  const h = { Accept: "application/json", ...headers };
  let payload;
  if (body !== undefined) {
    if (typeof body === "string") payload = body;
    else { payload = JSON.stringify(body); h["Content-Type"] = "application/json"; }
  }
  const t = token();
  if (auth && t) h.Authorization = `Bearer ${t}`;
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, signal, cache: "no-store" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, null);
  }
  const text = await res.text();
  let json = null;
  if (text) { try { json = JSON.parse(text); } catch { json = null; } }
  if (!res.ok) {
    if (res.status === 401 && auth && t) listeners.forEach((fn) => fn(describe(401, json)));
    throw new ApiError(res.status, json, text && !json ? text.slice(0, 200) : undefined);
  }
  return json;
}

export const api = {
  get: (p, o) => request("GET", p, undefined, o),
  post: (p, b, o) => request("POST", p, b === undefined ? {} : b, o),
  patch: (p, b, o) => request("PATCH", p, b, o),
  put: (p, b, o) => request("PUT", p, b, o),
  del: (p, o) => request("DELETE", p, undefined, o),
};

// Path segment for a channel name: `/` stays a separator, everything else is encoded.
export function chanPath(name) {
  return String(name).split("/").map(encodeURIComponent).join("/");
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : "";
}
