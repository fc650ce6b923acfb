// The livechat inbox: the queue (take), my chats, offline messages; a conversation with
// real-time messages and typing over /ws; visitor context (pages with times, time on
// site, name, email, metadata); reply, close with a comment, transfer; own status.
// A new chat in the queue plays a short sound and shows a count in the title and nav.

import { h, clear, select, busy, toast, dialog, field, spinner, emptyState, badge, fmtAgo, fmtClock, fmtDuration, fmtTime } from "../lib/h.js";
import { api, qs } from "../lib/api.js";
import { Socket } from "../lib/ws.js";

const CONTEXT_MS = 10000;
const TYPING_SEND_MS = 2000;
const TYPING_SHOW_MS = 6000;

function visitorName(x) {
  const v = (x && x.v) || {};
  return (x && x.fname) || v.name || v.username || x.name || "Visitor";
}

let audio = null;
function chime() {
  try {
    audio = audio || new AudioContext();
    const now = audio.currentTime;
    for (const [i, freq] of [[0, 880], [1, 1320]]) {
      const o = audio.createOscillator();
      const g = audio.createGain();
      o.frequency.value = freq;
      g.gain.setValueAtTime(0.0001, now + i * 0.14);
      g.gain.exponentialRampToValueAtTime(0.15, now + i * 0.14 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.14 + 0.22);
      o.connect(g).connect(audio.destination);
      o.start(now + i * 0.14);
      o.stop(now + i * 0.14 + 0.25);
    }
  } catch { /* no audio device: the title badge still shows */ }
}

export function render(ctx) {
  const me = ctx.user;
  const isManager = ctx.can(["admin", "manager"]);
  const state = { tab: "queue", queue: [], mine: [], offline: [], room: null, messages: new Map(), typingTimer: null, lastTypingSent: 0, typingOff: null, contextTimer: null, stopped: false, knownInquiries: null };

  // ---- left: status, tabs, lists -----------------------------------------------------------
  const status = select([["online", "Online — take chats"], ["away", "Away"], ["offline", "Offline"]], "offline");
  status.setAttribute("aria-label", "My status");
  const statusDot = h("span", { class: "status-dot" });
  const tabs = {};
  const tabList = h("div", { class: "tabs", role: "tablist", "aria-label": "Conversations" });
  for (const [key, label] of [["queue", "Queue"], ["mine", "My chats"], ["offline", "Offline"]]) {
    const count = h("span", { class: "tab-count" });
    const b = h("button", { class: "tab", type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(key === state.tab), "aria-controls": "inbox-list" }, label, count);
    b.addEventListener("click", () => selectTab(key));
    b.addEventListener("keydown", (e) => {
      const order = ["queue", "mine", "offline"];
      const i = order.indexOf(key);
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") { e.preventDefault(); const n = order[(i + (e.key === "ArrowRight" ? 1 : 2)) % 3]; selectTab(n); tabs[n].b.focus(); }
    });
    tabs[key] = { b, count };
    tabList.append(b);
  }
  const list = h("div", { class: "inbox-list", id: "inbox-list", role: "tabpanel", "aria-live": "polite" });
  const conn = h("span", { class: "live-dot small", role: "status" }, "connecting…");
  const left = h("section", { class: "inbox-left", "aria-label": "Chats" },
    h("div", { class: "inbox-status" }, statusDot, status, conn), tabList, list);

  // ---- center: the conversation -------------------------------------------------------------
  const convTitle = h("h2", { class: "conv-title" }, "No chat selected");
  const convSub = h("p", { class: "muted small" });
  const back = h("button", { class: "btn small ghost back-btn", type: "button" }, "← Chats");
  const transferBtn = h("button", { class: "btn small", type: "button", hidden: true }, "Transfer");
  const closeBtn = h("button", { class: "btn small danger", type: "button", hidden: true }, "Close chat");
  const messages = h("ol", { class: "conv-messages", role: "log", "aria-label": "Messages", "aria-live": "polite" });
  const typing = h("p", { class: "typing", "aria-live": "polite" });
  const reply = h("textarea", { rows: "2", placeholder: "Write a reply… (Enter sends, Shift+Enter adds a line)", "aria-label": "Reply", disabled: true });
  const send = h("button", { class: "btn primary", type: "submit", disabled: true }, "Send");
  const composeError = h("p", { class: "form-error", role: "alert" });
  const composer = h("form", { class: "composer" }, reply, send);
  const center = h("section", { class: "inbox-center", "aria-label": "Conversation" },
    h("header", { class: "conv-head" }, back, h("div", { class: "conv-titles" }, convTitle, convSub), h("div", { class: "conv-actions" }, transferBtn, closeBtn)),
    messages, typing, composeError, composer);

  // ---- right: visitor context ---------------------------------------------------------------
  const context = h("div", { class: "context-body" }, h("p", { class: "muted small" }, "Visitor details appear here."));
  const right = h("aside", { class: "inbox-right", "aria-label": "Visitor" }, h("h2", "Visitor"), context);

  messages.append(h("li", { class: "conv-empty" }, emptyState("No chat open", "Take a chat from the queue or open one of your chats.")));
  const el = h("div", { class: "page wide" }, h("header", { class: "page-head" }, h("div", { class: "page-titles" }, h("h1", { tabindex: "-1" }, "Inbox"), h("p", { class: "sub" }, "Visitors waiting and the chats you serve."))),
    h("div", { class: "inbox" }, left, center, right));

  back.addEventListener("click", () => { el.querySelector(".inbox").classList.remove("show-conv"); });

  function setBadge() {
    const n = state.queue.length;
    tabs.queue.count.textContent = n ? String(n) : "";
    tabs.mine.count.textContent = state.mine.length ? String(state.mine.length) : "";
    tabs.offline.count.textContent = state.offline.length ? String(state.offline.length) : "";
    ctx.setNavBadge("/inbox", n);
    document.title = `${n ? `(${n}) ` : ""}Inbox · rtbox`;
  }

  function selectTab(key) {
    state.tab = key;
    for (const [k, t] of Object.entries(tabs)) t.b.setAttribute("aria-selected", String(k === key));
    list.setAttribute("aria-labelledby", `tab-${key}`);
    renderList();
  }

  function renderList() {
    if (state.tab === "queue") {
      if (!state.queue.length) { clear(list, emptyState("Nobody is waiting", "New chats appear here with a sound.")); return; }
      clear(list, h("ul", { class: "chat-list" }, state.queue.map((inq) => {
        const take = h("button", { class: "btn small primary", type: "button" }, "Take");
        take.addEventListener("click", () => busy(take, async () => {
          try {
            await api.post("/api/v1/livechat/inquiries.take", { inquiryId: inq._id });
            toast(`You took the chat with ${visitorName(inq)}.`);
            await Promise.all([loadQueue(), loadMine()]);
            selectTab("mine");
            openRoom(inq.rid);
          } catch (e) { toast(/taken/.test(e.message) ? "Someone else took this chat first." : e.message, "error"); loadQueue(); }
        }));
        return h("li", { class: "chat-item" },
          h("div", { class: "chat-main" }, h("p", { class: "strong" }, visitorName(inq)), inq.message ? h("p", { class: "small muted clamp" }, inq.message) : null, h("p", { class: "small muted" }, `waiting ${fmtAgo(inq.queuedAt || inq.ts)}`)),
          take);
      })));
    } else if (state.tab === "mine") {
      if (!state.mine.length) { clear(list, emptyState("No open chats", "Take one from the queue.")); return; }
      clear(list, h("ul", { class: "chat-list" }, state.mine.map((room) => {
        const b = h("button", { class: "chat-open", type: "button", "aria-current": state.room && state.room._id === room._id ? "true" : null },
          h("span", { class: "strong" }, visitorName(room)),
          room.waitingResponse ? badge("waiting for you", "warn") : null,
          h("span", { class: "small muted" }, room.lm ? `last message ${fmtAgo(room.lm)}` : `opened ${fmtAgo(room.ts)}`));
        b.addEventListener("click", () => openRoom(room._id));
        return h("li", { class: "chat-item" }, b);
      })));
    } else {
      if (!state.offline.length) { clear(list, emptyState("No offline messages", "Messages left while nobody was online appear here.")); return; }
      clear(list, h("ul", { class: "chat-list" }, state.offline.map((m) => {
        const done = h("button", { class: "btn small", type: "button" }, "Mark handled");
        done.addEventListener("click", () => busy(done, async () => {
          try { await api.post(`/api/v1/livechat/offline.messages/${encodeURIComponent(m._id)}/handled`, { handled: true }); toast("Marked handled."); loadOffline(); } catch (e) { toast(e.message, "error"); }
        }));
        return h("li", { class: "chat-item offline-item" },
          h("div", { class: "chat-main" }, h("p", { class: "strong" }, m.name || "Visitor"), h("p", { class: "small" }, h("a", { href: `mailto:${m.email || ""}` }, m.email || "")),
            h("p", { class: "small pre" }, m.message), h("p", { class: "small muted" }, fmtTime(m.ts))),
          done);
      })));
    }
  }

  async function loadQueue() {
    try {
      const r = await api.get(`/api/v1/livechat/inquiries.list${qs({ status: "queued", count: 100 })}`);
      const fresh = r.inquiries || [];
      if (state.knownInquiries && fresh.some((i) => !state.knownInquiries.has(i._id))) chime();
      state.knownInquiries = new Set(fresh.map((i) => i._id));
      state.queue = fresh;
      setBadge();
      if (state.tab === "queue") renderList();
    } catch (e) { if (state.tab === "queue") clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); }
  }

  async function loadMine() {
    try {
      const params = { open: "true", count: 100 };
      if (isManager) params["agents[]"] = String(me.id);
      const r = await api.get(`/api/v1/livechat/rooms${qs(params)}`);
      state.mine = (r.rooms || []).filter((room) => room.open !== false && (!room.servedBy || String(room.servedBy._id) === String(me.id)));
      setBadge();
      if (state.tab === "mine") renderList();
    } catch (e) { if (state.tab === "mine") clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); }
  }

  async function loadOffline() {
    try {
      const r = await api.get(`/api/v1/livechat/offline.messages${qs({ handled: "false", count: 50 })}`);
      state.offline = r.messages || [];
      setBadge();
      if (state.tab === "offline") renderList();
    } catch (e) { if (state.tab === "offline") clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); }
  }

  // ---- status ------------------------------------------------------------------------------
  function showStatus(s) {
    status.value = s;
    statusDot.className = `status-dot ${s}`;
  }
  status.addEventListener("change", async () => {
    const want = status.value;
    status.disabled = true;
    try { const r = await api.post("/api/v1/livechat/agent.status", { status: want }); showStatus(r.status || want); toast(`You are ${r.status || want}.`); loadQueue(); loadMine(); }
    catch (e) { toast(`Status not changed: ${e.message}`, "error"); api.get("/api/v1/livechat/agent.status").then((r) => showStatus(r.status)).catch(() => {}); }
    finally { status.disabled = false; }
  });

  // ---- conversation ------------------------------------------------------------------------
  function messageItem(m) {
    const who = m.sender || (m.t ? "system" : "visitor");
    if (who === "system" || m.t) {
      let text = m.msg || "";
      if (m.t === "livechat-close") text = `Chat closed${m.msg ? `: ${m.msg}` : ""}`;
      else if (m.t === "uj") text = `${(m.u && m.u.name) || "An agent"} joined`;
      else if (m.t === "livechat-started") text = "Chat started";
      return h("li", { class: "cmsg system", dataset: { id: m._id } }, h("span", text), h("time", { datetime: m.ts }, fmtClock(m.ts)));
    }
    const mine = who === "agent" && m.u && String(m.u._id) === String(me.id);
    const label = who === "trigger" ? `${(m.u && m.u.name) || "Bot"} (trigger${m.trigger && m.trigger.name ? `: ${m.trigger.name}` : ""})` : (m.u && (m.u.name || m.u.username)) || who;
    return h("li", { class: `cmsg ${who} ${mine ? "mine" : ""}`, dataset: { id: m._id } },
      h("p", { class: "cmsg-meta" }, h("span", label), h("time", { datetime: m.ts }, fmtClock(m.ts))),
      h("p", { class: "cmsg-text" }, m.msg));
  }

  function addMessage(m) {
    if (!m || !m._id || state.messages.has(m._id)) return;
    state.messages.set(m._id, m);
    const item = messageItem(m);
    // Keep time order even when a REST answer and the live frame race.
    const after = [...messages.children].find((li) => { const o = state.messages.get(li.dataset.id); return o && o.ts > m.ts; });
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 60;
    if (after) messages.insertBefore(item, after); else messages.append(item);
    if (atBottom || (m.sender === "agent")) messages.scrollTop = messages.scrollHeight;
    if (m.sender === "visitor") setTyping(false);
  }

  function setTyping(on, who) {
    clearTimeout(state.typingOff);
    typing.textContent = on ? `${who || "The visitor"} is typing…` : "";
    if (on) state.typingOff = setTimeout(() => { typing.textContent = ""; }, TYPING_SHOW_MS);
  }

  async function openRoom(rid) {
    if (state.room && state.room._id === rid) { el.querySelector(".inbox").classList.add("show-conv"); return; }
    if (state.room) sock.leave(`livechat/${state.room._id}`);
    state.room = { _id: rid };
    state.messages.clear();
    clear(messages, h("li", { class: "cmsg system" }, spinner("Loading the conversation…")));
    clear(context, spinner());
    el.querySelector(".inbox").classList.add("show-conv");
    renderList();
    try {
      const info = await api.get(`/api/v1/livechat/room.info${qs({ rid })}`);
      if (!state.room || state.room._id !== rid) return;
      state.room = info.room;
      showRoom();
    } catch (e) { clear(messages, h("li", { class: "cmsg system error" }, `Cannot open this chat: ${e.message}`)); return; }
    try {
      clear(messages);
      await sock.join(`livechat/${rid}`, null, { lastId: 0 });
    } catch (f) { messages.append(h("li", { class: "cmsg system error" }, `Live updates unavailable: ${(f.payload && f.payload.message) || "error"}`)); }
    loadContext();
    reply.focus();
  }

  function showRoom() {
    const r = state.room;
    convTitle.textContent = visitorName(r);
    convSub.textContent = `${r.status || (r.open ? "open" : "closed")}${r.servedBy ? ` · served by ${r.servedBy.name || r.servedBy.username}` : ""} · started ${fmtAgo(r.ts)}`;
    const open = r.open !== false && r.status !== "closed";
    const mineNow = r.servedBy && String(r.servedBy._id) === String(me.id);
    reply.disabled = !open || (!mineNow && !isManager);
    send.disabled = reply.disabled;
    reply.placeholder = open ? "Write a reply… (Enter sends, Shift+Enter adds a line)" : "This chat is closed.";
    closeBtn.hidden = !open;
    transferBtn.hidden = !open;
  }

  async function loadContext() {
    clearTimeout(state.contextTimer);
    const rid = state.room && state.room._id;
    if (!rid) return;
    try {
      const c = await api.get(`/api/v1/livechat/room.context${qs({ rid })}`);
      if (!state.room || state.room._id !== rid) return;
      renderContext(c);
    } catch (e) { clear(context, h("p", { class: "form-error" }, e.message)); }
    if (!state.stopped) state.contextTimer = setTimeout(loadContext, CONTEXT_MS);
  }

  function renderContext(c) {
    const v = c.visitor || {};
    const visit = c.visit || {};
    const emails = (v.visitorEmails || []).map((e) => e.address).filter(Boolean);
    const phones = (v.phone || []).map((p) => p.phoneNumber).filter(Boolean);
    const data = v.livechatData || {};
    const dl = (rows) => h("dl", { class: "facts" }, rows.filter(([, val]) => val !== null && val !== undefined && val !== "").flatMap(([k, val]) => [h("dt", k), h("dd", val)]));
    clear(context,
      dl([["Name", v.name || v.username], ["Email", emails.join(", ")], ["Phone", phones.join(", ")], ["Status", v.status], ["Visits", c.visits]]),
      h("h3", "This visit"),
      dl([["Time on site", visit.timeOnSite !== undefined ? fmtDuration(visit.timeOnSite) : null], ["Started", visit.startedAt ? fmtTime(visit.startedAt) : null],
        ["Now on", visit.current ? (visit.current.title || visit.current.href) : null], ["Came from", visit.referrer]]),
      h("h3", `Pages visited (${(visit.pages || []).length})`),
      (visit.pages || []).length ? h("ol", { class: "pages" }, visit.pages.slice().reverse().map((p) => h("li", {},
        h("p", { class: "small strong clamp" }, p.title || p.href), h("p", { class: "small muted clamp mono" }, p.href),
        h("p", { class: "small muted" }, `${fmtClock(p.at)}${p.seconds !== undefined ? ` · ${fmtDuration(p.seconds)}` : ""}`)))) : h("p", { class: "small muted" }, "No pages reported."),
      Object.keys(data).length ? [h("h3", "Metadata"), dl(Object.entries(data).map(([k, val]) => [k, typeof val === "string" ? val : JSON.stringify(val)]))] : null);
  }

  composer.addEventListener("submit", async (e) => {
    e.preventDefault();
    composeError.textContent = "";
    const text = reply.value.trim();
    if (!text || !state.room) return;
    await busy(send, async () => {
      try {
        const r = await api.post("/api/v1/livechat/agent.message", { rid: state.room._id, msg: text });
        reply.value = "";
        sendTyping(false);
        addMessage(r.message);
      } catch (err) { composeError.textContent = `Not sent: ${err.message}`; }
    });
    reply.focus();
  });
  reply.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); composer.requestSubmit(); } });
  reply.addEventListener("input", () => sendTyping(reply.value.length > 0));

  function sendTyping(on) {
    if (!state.room) return;
    const now = Date.now();
    if (on && now - state.lastTypingSent < TYPING_SEND_MS) return;
    state.lastTypingSent = on ? now : 0;
    try { sock.sendRaw({ action: "typing", options: { channel: `livechat/${state.room._id}` }, payload: { typing: on } }); } catch { /* offline */ }
  }

  closeBtn.addEventListener("click", () => {
    const comment = field("Closing comment", h("textarea", { rows: "3", maxlength: "1000", placeholder: "What was it about, how did it end?" }), { hint: "Stored with the chat; the visitor sees the chat as ended." });
    const err = h("p", { class: "form-error", role: "alert" });
    const ok = h("button", { class: "btn danger", type: "submit" }, "Close chat");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const form = h("form", { class: "form" }, comment.wrap, err, h("div", { class: "dialog-actions" }, cancel, ok));
    const d = dialog(`Close the chat with ${visitorName(state.room)}?`, form);
    cancel.addEventListener("click", () => d.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      await busy(ok, async () => {
        try {
          await api.post("/api/v1/livechat/room.closeByUser", { rid: state.room._id, comment: comment.input.value.trim() });
          d.close();
          toast("Chat closed.");
          state.room.open = false; state.room.status = "closed";
          showRoom();
          loadMine();
        } catch (e2) { err.textContent = e2.message; }
      });
    });
    comment.input.focus();
  });

  transferBtn.addEventListener("click", async () => {
    const err = h("p", { class: "form-error", role: "alert" });
    const ok = h("button", { class: "btn primary", type: "submit" }, "Transfer");
    const cancel = h("button", { class: "btn", type: "button" }, "Cancel");
    const comment = field("Note for your colleague", h("input", { type: "text", maxlength: "500" }));
    let target;
    try {
      const r = await api.get("/api/v1/livechat/agents.available");
      const others = (r.users || []).filter((u) => String(u._id) !== String(me.id));
      if (!others.length) { toast("There is no other agent to transfer to.", "error"); return; }
      target = field("Transfer to", select(others.map((u) => [u._id, `${u.name || u.username} — ${u.livechatStatus || "offline"}${u.openChats !== undefined ? `, ${u.openChats} open` : ""}`]), others[0]._id));
    } catch (e) {
      toast(`Cannot list agents: ${e.message}`, "error");
      return;
    }
    const form = h("form", { class: "form" }, target.wrap, comment.wrap, err, h("div", { class: "dialog-actions" }, cancel, ok));
    const d = dialog(`Transfer ${visitorName(state.room)}`, form);
    cancel.addEventListener("click", () => d.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!target.input.value.trim()) { target.setError("Choose an agent."); return; }
      await busy(ok, async () => {
        try {
          await api.post("/api/v1/livechat/room.forward", { roomId: state.room._id, userId: target.input.value.trim(), comment: comment.input.value.trim() });
          d.close();
          toast("Chat transferred.");
          loadMine();
          const info = await api.get(`/api/v1/livechat/room.info${qs({ rid: state.room._id })}`).catch(() => null);
          if (info) { state.room = info.room; showRoom(); }
        } catch (e2) { err.textContent = e2.message; }
      });
    });
    target.input.focus();
  });

  // ---- live updates --------------------------------------------------------------------------
  function onFrame(frame, dir) {
    if (dir !== "in") return;
    const o = frame.options || {};
    const ch = o.channel || "";
    if (frame.action === "message" && state.room && ch === `livechat/${state.room._id}`) { addMessage(frame.payload); return; }
    if (frame.action === "typing" && state.room && ch === `livechat/${state.room._id}`) {
      const p = frame.payload || {};
      if (p.sender !== "agent" || (p.u && String(p.u._id) !== String(me.id))) setTyping(!!p.typing, p.u && p.u.name);
      return;
    }
    if (frame.action !== "event" && frame.action !== "message") return;
    const p = frame.payload || {};
    if (ch === "livechat-queue") { loadQueue(); return; }
    if (ch === `livechat-agent/${me.id}`) {
      if (p.type === "status" && p.status) showStatus(p.status);
      loadMine();
      if (p.type === "room-assigned") { chime(); toast(`New chat with ${visitorName(p.room)}.`); }
      if (state.room && p.room && p.room._id === state.room._id) {
        state.room = { ...state.room, ...p.room };
        showRoom();
        if (p.type === "room-updated") loadContext();
      }
    }
  }

  const sock = new Socket({
    onFrame,
    onState: (s, detail) => {
      conn.textContent = s === "open" ? "live" : detail ? `${s}: ${detail}` : s;
      conn.classList.toggle("on", s === "open");
      if (s === "open") { loadQueue(); loadMine(); }
    },
  });
  sock.join("livechat-queue").catch((f) => toast(`Queue updates unavailable: ${(f.payload && f.payload.message) || "error"}`, "error"));
  sock.join(`livechat-agent/${me.id}`).catch(() => {});

  api.get("/api/v1/livechat/agent.status").then((r) => showStatus(r.status || "offline")).catch(() => showStatus("offline"));
  clear(list, spinner());
  loadQueue(); loadMine(); loadOffline();
  // A safety net for missed events (sleep, proxies that drop idle sockets).
  const poll = setInterval(() => { loadQueue(); loadMine(); }, 15000);
  const initial = ctx.query.get("rid");
  if (initial) openRoom(initial);

  return {
    el,
    destroy() {
      state.stopped = true;
      clearInterval(poll);
      clearTimeout(state.contextTimer);
      clearTimeout(state.typingOff);
      sock.close();
      document.title = "rtbox";
    },
  };
}
