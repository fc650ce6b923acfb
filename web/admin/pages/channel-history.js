// History browser: newest first, paged with the API's cursor (last_id); a room filter
// for channels with separate rooms; a concrete name for pattern channels.

import { h, clear, pageHeader, spinner, emptyState, fmtTime, pretty, badge } from "../lib/h.js";
import { api, chanPath, qs } from "../lib/api.js";

const PAGE = 25;

function authorText(a) {
  const [k, v] = Object.entries(a || {})[0] || [];
  return k ? `${k.replace("_", " ")} ${v}` : "unknown";
}

export function messageCard(m) {
  return h("article", { class: "msg" },
    h("header", { class: "msg-head" },
      h("span", { class: "mono strong" }, `#${m.id}`),
      badge(m.metadata && m.metadata.type === "event" ? "event" : "message", m.metadata && m.metadata.type === "event" ? "info" : ""),
      m.room ? h("span", { class: "muted small" }, `room ${m.room}`) : null,
      h("span", { class: "muted small" }, authorText(m.author)),
      h("time", { class: "muted small", datetime: m.created_at }, fmtTime(m.created_at))),
    h("pre", { class: "code" }, pretty(m.payload)));
}

export function render({ query }) {
  const defName = query.get("name") || "";
  const isPattern = defName.endsWith("/*");
  const nameIn = h("input", { type: "text", class: "mono", value: isPattern ? defName.slice(0, -1) : defName, "aria-label": "Channel name", spellcheck: "false" });
  const roomIn = h("input", { type: "text", class: "mono", placeholder: "all rooms", "aria-label": "Room", value: query.get("room") || "" });
  const go = h("button", { class: "btn", type: "submit" }, "Show");
  const list = h("div", { class: "msgs" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const el = h("div", { class: "page" },
    pageHeader("History", isPattern ? `Pattern ${defName}: name one of its channels.` : "Stored messages, newest first.",
      defName ? h("a", { class: "btn", href: `#/channels/console?name=${encodeURIComponent(defName)}` }, "Console") : null),
    h("form", { class: "toolbar" }, h("label", { class: "inline" }, "Channel ", nameIn), h("label", { class: "inline" }, "Room ", roomIn), go),
    list, pager);

  const cursors = [null];
  let index = 0;
  el.querySelector("form").addEventListener("submit", (e) => { e.preventDefault(); cursors.length = 1; index = 0; load(); });

  async function load() {
    const name = nameIn.value.trim();
    if (!name || name.endsWith("*")) { clear(list, emptyState("Name a channel", "Type a concrete channel name (for a pattern like chat/*, e.g. chat/42).")); clear(pager); return; }
    clear(list, spinner());
    let page;
    try {
      page = await api.get(`/api/v1/channels/${chanPath(name)}/history${qs({ ordering: "desc", page_size: PAGE, last_id: cursors[index], room: roomIn.value.trim() })}`);
    } catch (e) {
      clear(list, h("p", { class: "form-error", role: "alert" }, e.status === 404 ? `There is no channel ${name}.` : e.message));
      clear(pager);
      return;
    }
    if (!page.objects.length) { clear(list, emptyState("No messages", index ? "No older messages." : "Nothing stored on this channel yet.")); }
    else clear(list, page.objects.map(messageCard));
    const newer = h("button", { class: "btn small", type: "button", disabled: index === 0 }, "← Newer");
    const older = h("button", { class: "btn small", type: "button", disabled: !page.next }, "Older →");
    newer.addEventListener("click", () => { index -= 1; load(); });
    older.addEventListener("click", () => {
      const last = page.objects[page.objects.length - 1];
      if (!last) return;
      cursors[index + 1] = last.id;
      index += 1;
      load();
    });
    clear(pager, newer, h("span", { class: "muted small" }, `page ${index + 1}`), older);
  }
  load();
  return { el };
}
