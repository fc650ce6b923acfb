// Live console: join a channel over /ws with the dashboard session, watch every frame
// arrive, and publish JSON (validated before it is sent) over the socket or REST.

import { h, clear, pageHeader, busy, toast, fmtClock, pretty, parseJson, select, field } from "../lib/h.js";
import { api, chanPath } from "../lib/api.js";
import { Socket } from "../lib/ws.js";

const MAX_FRAMES = 300;

export function render({ query }) {
  const initial = query.get("name") || "";
  const nameIn = h("input", { type: "text", class: "mono", spellcheck: "false", autocomplete: "off", value: initial.endsWith("/*") ? initial.slice(0, -1) : initial, placeholder: "channel name", "aria-label": "Channel" });
  const roomIn = h("input", { type: "text", class: "mono", spellcheck: "false", placeholder: "room (optional)", "aria-label": "Room" });
  const joinBtn = h("button", { class: "btn primary", type: "submit" }, "Join");
  const leaveBtn = h("button", { class: "btn", type: "button", disabled: true }, "Leave");
  const state = h("span", { class: "live-dot", role: "status" }, "connecting…");
  const joined = h("p", { class: "muted small status-line", "aria-live": "polite" }, "Not joined.");
  const frames = h("ol", { class: "frames", "aria-label": "Frames", "aria-live": "polite", "aria-relevant": "additions" });
  const count = h("span", { class: "muted small" }, "0 frames");
  const hidePings = h("input", { type: "checkbox", checked: true });
  const clearBtn = h("button", { class: "btn small ghost", type: "button" }, "Clear");

  const payload = h("textarea", { class: "mono", rows: "6", spellcheck: "false", "aria-label": "Payload (JSON)" });
  payload.value = '{\n  "text": "hello"\n}';
  const payloadField = field("Payload (JSON)", payload);
  const mode = select([["ws", "message over WebSocket (as a client)"], ["rest", "publish over REST (as admin)"], ["event", "Realtime Event over REST (server side)"]], "ws");
  const modeField = field("Send as", mode);
  const sendBtn = h("button", { class: "btn primary", type: "submit" }, "Send");
  const sendResult = h("p", { class: "small", role: "status" });

  let current = null; // {channel, room}
  let n = 0;

  function addFrame(frame, dir) {
    if (hidePings.checked && (frame.action === "ping" || frame.action === "pong")) return;
    n += 1;
    count.textContent = `${n} frame${n === 1 ? "" : "s"}`;
    const o = frame.options || {};
    const li = h("li", { class: `frame ${dir} ${frame.action === "error" ? "err" : ""}` },
      h("div", { class: "frame-head" },
        h("span", { class: "dir", "aria-label": dir === "in" ? "received" : "sent" }, dir === "in" ? "↓" : "↑"),
        h("span", { class: "strong" }, frame.action || "?"),
        o.channel ? h("span", { class: "mono small" }, o.channel + (o.room ? ` / ${o.room}` : "")) : null,
        o.id ? h("span", { class: "mono small muted" }, `#${o.id}`) : null,
        h("time", { class: "muted small" }, fmtClock())),
      h("pre", { class: "code small" }, pretty(frame.payload === undefined ? frame.options : frame.payload)));
    const atBottom = frames.scrollHeight - frames.scrollTop - frames.clientHeight < 40;
    frames.append(li);
    while (frames.children.length > MAX_FRAMES) frames.firstChild.remove();
    if (atBottom) frames.scrollTop = frames.scrollHeight;
  }

  const sock = new Socket({
    onFrame: addFrame,
    onState: (s, detail) => {
      state.textContent = detail ? `${s}: ${detail}` : s;
      state.classList.toggle("on", s === "open");
      if (s === "open" && current) joined.textContent = `Joined ${current.channel}${current.room ? ` / ${current.room}` : ""}.`;
    },
  });

  const joinForm = h("form", { class: "toolbar" }, nameIn, roomIn, joinBtn, leaveBtn, state);
  joinForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const channel = nameIn.value.trim().toLowerCase();
    const room = roomIn.value.trim().toLowerCase();
    if (!channel || channel.endsWith("*")) { joined.textContent = "Name a concrete channel (for chat/*, e.g. chat/42)."; nameIn.focus(); return; }
    await busy(joinBtn, async () => {
      if (current) sock.leave(current.channel, current.room);
      try {
        await sock.join(channel, room, { presence: true });
        current = { channel, room };
        joined.textContent = `Joined ${channel}${room ? ` / ${room}` : ""}. New messages appear below.`;
        leaveBtn.disabled = false;
      } catch (f) {
        current = null;
        joined.textContent = `Join refused: ${(f.payload && f.payload.message) || "error"}`;
      }
    });
  });
  leaveBtn.addEventListener("click", () => {
    if (current) sock.leave(current.channel, current.room);
    joined.textContent = "Left.";
    current = null;
    leaveBtn.disabled = true;
  });
  clearBtn.addEventListener("click", () => { frames.replaceChildren(); n = 0; count.textContent = "0 frames"; });

  const validate = () => {
    const r = parseJson(payload.value);
    payloadField.setError(r.ok ? "" : r.message);
    return r;
  };
  payload.addEventListener("input", validate);
  const sendForm = h("form", { class: "card form" }, h("h2", "Publish"), modeField.wrap, payloadField.wrap, h("div", { class: "form-actions" }, sendBtn), sendResult);
  sendForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    sendResult.textContent = "";
    sendResult.className = "small";
    const r = validate();
    if (!r.ok) { payload.focus(); return; }
    const channel = (current && current.channel) || nameIn.value.trim().toLowerCase();
    const room = current ? current.room : roomIn.value.trim().toLowerCase();
    if (!channel) { sendResult.textContent = "Name a channel first."; sendResult.classList.add("error"); nameIn.focus(); return; }
    await busy(sendBtn, async () => {
      try {
        if (mode.value === "ws") {
          const options = { channel };
          if (room) options.room = room;
          const ack = await sock.call("message", options, r.value);
          sendResult.textContent = ack.options && ack.options.id ? `Stored as #${ack.options.id}.` : "Sent.";
        } else {
          const path = `/api/v1/channels/${chanPath(channel)}/${mode.value === "rest" ? "publish" : "events"}`;
          const body = mode.value === "rest" ? { payload: r.value } : { data: r.value };
          if (room) body.room = room;
          const m = await api.post(path, body);
          sendResult.textContent = `Published #${m.id}.`;
        }
        sendResult.classList.add("ok");
      } catch (err) {
        const msg = err instanceof Error ? err.message : (err.payload && err.payload.message) || "failed";
        const code = err.payload && err.payload.code ? ` (${err.payload.code})` : "";
        sendResult.textContent = `Not published: ${msg}${code}`;
        sendResult.classList.add("error");
        toast(`Not published: ${msg}`, "error");
      }
    });
  });

  const el = h("div", { class: "page" },
    pageHeader("Live console", "Join a channel, watch frames arrive, publish JSON."),
    joinForm, joined,
    h("div", { class: "console-grid" },
      h("section", { class: "card" }, h("div", { class: "card-head row" }, h("h2", "Frames"), count, h("span", { class: "spacer" }), h("label", { class: "inline small" }, hidePings, " hide pings"), clearBtn), frames),
      sendForm));

  if (initial && !initial.endsWith("*")) setTimeout(() => joinForm.requestSubmit(), 50);
  return { el, destroy() { sock.close(); } };
}
