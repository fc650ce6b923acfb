// One envelope-protocol WebSocket (/ws) authenticated with the dashboard session (sent
// as the offered subprotocol, which browsers allow where headers are not). Reconnects
// with backoff and re-joins, resuming from the last id seen per topic.

import { token } from "./api.js";

export class Socket {
  constructor({ onFrame, onState } = {}) {
    this.onFrame = onFrame || (() => {});
    this.onState = onState || (() => {});
    this.joins = new Map();
    this.refSeq = 0;
    this.pending = new Map();
    this.closed = false;
    this.retry = 0;
    this.waiters = [];
    this.connect();
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const t = token();
    this.state("connecting");
    try {
      this.ws = t ? new WebSocket(url, [t]) : new WebSocket(url);
    } catch (e) {
      this.state("error", e.message);
      return;
    }
    this.ws.addEventListener("open", () => {
      this.retry = 0;
      this.state("open");
      const waiters = this.waiters;
      this.waiters = [];
      waiters.forEach((w) => w());
      for (const j of this.joins.values()) if (!j.fresh) this.sendJoin(j).catch(() => {});
    });
    this.ws.addEventListener("message", (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      const o = frame.options || {};
      if (o.id && o.channel) {
        const key = topic(o.channel, o.room);
        const j = this.joins.get(key);
        if (j && o.id > (j.lastId || 0)) j.lastId = o.id;
      }
      if (o.ref && this.pending.has(o.ref)) {
        const p = this.pending.get(o.ref);
        this.pending.delete(o.ref);
        if (frame.action === "error") p.reject(frame); else p.resolve(frame);
      }
      this.onFrame(frame, "in");
    });
    this.ws.addEventListener("close", (ev) => {
      for (const p of this.pending.values()) p.reject({ payload: { message: "connection closed" } });
      this.pending.clear();
      if (this.closed) { this.state("closed"); return; }
      if (ev.code === 1008) { this.state("error", ev.reason || "not authorized"); return; }
      this.retry += 1;
      const wait = Math.min(15000, 500 * 2 ** Math.min(this.retry, 5));
      this.state("reconnecting", `reconnecting in ${Math.round(wait / 1000)} s`);
      this.timer = setTimeout(() => this.connect(), wait);
    });
  }

  state(s, detail) { this.current = s; this.onState(s, detail); }

  sendRaw(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("Not connected.");
    this.ws.send(JSON.stringify(frame));
    this.onFrame(frame, "out");
  }

  // Resolves once the socket is open (at most `ms`).
  opened(ms = 8000) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject({ payload: { message: "not connected to the server" } }), ms);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  // Sends a frame with a ref and resolves with the reply (ack/join/error).
  async call(action, options, payload, timeoutMs = 10000) {
    await this.opened();
    this.refSeq += 1;
    const ref = `ui${this.refSeq}`;
    const frame = { action, options: { ...options, ref } };
    if (payload !== undefined) frame.payload = payload;
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { resolve, reject });
      try { this.sendRaw(frame); } catch (e) { this.pending.delete(ref); reject({ payload: { message: e.message } }); return; }
      setTimeout(() => {
        if (this.pending.has(ref)) { this.pending.delete(ref); reject({ payload: { message: "no reply from the server" } }); }
      }, timeoutMs);
    });
  }

  sendJoin(j) {
    const options = { channel: j.channel };
    if (j.room) options.room = j.room;
    if (j.lastId !== undefined && j.lastId !== null) options.last_id = j.lastId;
    return this.call("join", options, { presence: !!j.presence });
  }

  async join(channel, room, { presence = false, lastId } = {}) {
    const j = { channel, room: room || undefined, presence, lastId, fresh: true };
    this.joins.set(topic(channel, room), j);
    try { return await this.sendJoin(j); } catch (e) { this.joins.delete(topic(channel, room)); throw e; } finally { j.fresh = false; }
  }

  leave(channel, room) {
    this.joins.delete(topic(channel, room));
    const options = { channel };
    if (room) options.room = room;
    try { this.sendRaw({ action: "leave", options }); } catch { /* closed */ }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }
}

function topic(channel, room) { return room ? `${channel}\u0000${room}` : channel; }
