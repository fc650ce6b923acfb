// Live numbers from GET /api/v1/stats (polled every 2 s), small charts of the last two
// minutes, and a feed of the newest messages and trigger runs.

import { h, clear, pageHeader, fmtBytes, fmtDuration, fmtNum, fmtClock, badge } from "../lib/h.js";
import { api } from "../lib/api.js";
import { sparkline } from "../lib/chart.js";

const POLL_MS = 2000;

function tile(label, chartLabel) {
  const value = h("p", { class: "tile-value" }, "–");
  const sub = h("p", { class: "tile-sub" });
  const chart = chartLabel ? sparkline(chartLabel) : null;
  const el = h("section", { class: "tile", "aria-label": label }, h("p", { class: "tile-label" }, label), value, sub, chart ? chart.el : null);
  return { el, value, sub, chart };
}

function authorText(a) {
  if (!a || typeof a !== "object") return "";
  const [k, v] = Object.entries(a)[0] || [];
  return k ? `${k.replace("_", " ")} ${v}` : "";
}

export function render() {
  const status = h("span", { class: "live-dot", role: "status" }, "connecting…");
  const t = {
    conns: tile("Connections", "Connections, last 2 minutes"),
    subs: tile("Subscriptions", "Subscriptions, last 2 minutes"),
    in: tile("Messages in / s", "Messages published per second"),
    out: tile("Messages out / s", "Messages delivered per second"),
    runs: tile("Trigger runs / s", "Trigger runs per second"),
    errs: tile("Trigger errors", "Trigger errors per second"),
    chat: tile("Livechat"),
    chans: tile("Channels"),
    db: tile("Database"),
    up: tile("Uptime"),
  };
  const feed = h("ol", { class: "feed", "aria-live": "off" });
  const err = h("p", { class: "form-error", role: "alert" });
  const el = h("div", { class: "page" },
    pageHeader("Dashboard", "Live numbers for this node.", status),
    err,
    h("div", { class: "tiles" }, Object.values(t).map((x) => x.el)),
    h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", "Live feed"), h("p", { class: "sub" }, "The newest messages and trigger runs.")), feed));

  let timer = null;
  let stopped = false;

  function renderFeed(items) {
    if (!items.length) { clear(feed, h("li", { class: "feed-empty" }, "Nothing yet. Publish to a channel and it shows up here.")); return; }
    clear(feed, items.map((it) => {
      const isRun = it.kind === "trigger_run";
      const link = isRun
        ? h("a", { href: `#/triggers/edit?id=${encodeURIComponent(it.author.trigger)}` }, it.trigger_name || `trigger ${it.author.trigger}`)
        : it.channel.startsWith("livechat/")
          ? h("a", { href: `#/inbox?rid=${encodeURIComponent(it.channel.slice("livechat/".length))}` }, "livechat chat")
          : h("a", { href: `#/channels/history?name=${encodeURIComponent(it.channel)}` }, it.channel);
      return h("li", { class: "feed-item" },
        h("time", { datetime: it.time }, fmtClock(it.time)),
        badge(isRun ? "run" : it.kind, isRun ? (it.summary.startsWith("ok") ? "ok" : "warn") : "info"),
        h("span", { class: "feed-where" }, link, isRun ? h("span", { class: "muted" }, ` on ${it.channel}`) : (it.room ? h("span", { class: "muted" }, ` / ${it.room}`) : null), isRun ? null : h("span", { class: "muted" }, ` #${it.id} · ${authorText(it.author)}`)),
        h("code", { class: "feed-text" }, it.summary));
    }));
  }

  async function poll() {
    // A hidden tab does not poll; it catches up (the series cover two minutes) when shown.
    if (document.hidden) { timer = setTimeout(poll, POLL_MS); return; }
    try {
      const s = await api.get("/api/v1/stats?feed=20");
      if (stopped) return;
      err.textContent = "";
      status.textContent = "live";
      status.classList.add("on");
      const series = s.series || {};
      t.conns.value.textContent = fmtNum(s.connections);
      t.conns.chart.update(series.connections || []);
      t.subs.value.textContent = fmtNum(s.subscriptions);
      t.subs.chart.update(series.subscriptions || []);
      t.in.value.textContent = fmtNum(s.messages_in_per_second, 1);
      t.in.sub.textContent = `${fmtNum(s.messages_in_total)} since start`;
      t.in.chart.update(series.messages_in || [], "/s");
      t.out.value.textContent = fmtNum(s.messages_out_per_second, 1);
      t.out.sub.textContent = `${fmtNum(s.messages_out_total)} delivered, ${fmtNum(s.messages_dropped_total)} dropped`;
      t.out.chart.update(series.messages_out || [], "/s");
      t.runs.value.textContent = fmtNum(s.trigger_runs_per_second, 1);
      t.runs.sub.textContent = `${fmtNum(s.trigger_runs_total)} runs since start`;
      t.runs.chart.update(series.trigger_runs || [], "/s");
      t.errs.value.textContent = fmtNum(s.trigger_errors_total);
      t.errs.sub.textContent = `${fmtNum(s.trigger_rejections_total)} rejected by scripts`;
      t.errs.chart.update(series.trigger_errors || [], "/s");
      t.errs.el.classList.toggle("alert", s.trigger_errors_total > 0);
      t.chat.value.textContent = s.livechat_enabled ? `${fmtNum(s.livechat_queue)} waiting` : "–";
      t.chat.sub.textContent = s.livechat_enabled ? `${fmtNum(s.livechat_open_chats)} open conversations` : "Livechat is not set up.";
      t.chans.value.textContent = fmtNum(s.channels);
      t.chans.sub.textContent = "defined (patterns count once)";
      t.db.value.textContent = fmtBytes(s.database_size_bytes);
      t.db.sub.textContent = `file ${fmtBytes(s.database_file_bytes)} + WAL ${fmtBytes(s.database_wal_bytes)}`;
      t.up.value.textContent = fmtDuration(s.uptime_seconds);
      t.up.sub.textContent = `version ${s.version}`;
      renderFeed(s.feed || []);
    } catch (e) {
      if (stopped) return;
      status.textContent = "offline";
      status.classList.remove("on");
      err.textContent = `Live numbers are not updating: ${e.message}`;
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }
  poll();
  return { el, destroy() { stopped = true; clearTimeout(timer); } };
}

