// Channels: searchable, paged list with links to edit, history and the live console.

import { h, clear, pageHeader, badge, emptyState, spinner, confirmDialog, busy, toast, fmtAgo } from "../lib/h.js";
import { api, chanPath, qs } from "../lib/api.js";

const PAGE = 20;

export function render({ query }) {
  let offset = Number(query.get("offset") || 0) || 0;
  const search = h("input", { type: "search", placeholder: "Search name or description", "aria-label": "Search channels", value: query.get("search") || "" });
  const list = h("div", { class: "list-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const el = h("div", { class: "page" },
    pageHeader("Channels", "Named pub/sub channels with durable history.", h("a", { class: "btn primary", href: "#/channels/new" }, "New channel")),
    h("div", { class: "toolbar" }, search),
    list, pager);

  let debounce;
  search.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(() => { offset = 0; load(); }, 250); });

  async function remove(c, button) {
    const ok = await confirmDialog(`Delete ${c.name}?`, "The channel and all of its stored history are deleted. Connected clients stop receiving messages. This cannot be undone.");
    if (!ok) return;
    await busy(button, async () => {
      try { await api.del(`/api/v1/channels/${chanPath(c.name)}`); toast(`Deleted ${c.name}.`); load(); } catch (e) { toast(e.message, "error"); }
    });
  }

  async function load() {
    const term = search.value.trim();
    const hash = `#/channels${qs({ search: term, offset: offset || "" })}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    clear(list, spinner());
    let page;
    try { page = await api.get(`/api/v1/channels${qs({ search: term, offset, page_size: PAGE })}`); } catch (e) {
      clear(list, h("p", { class: "form-error", role: "alert" }, `Could not load channels: ${e.message}`));
      return;
    }
    if (!page.objects.length) {
      clear(list, term ? emptyState("No channel matches", `Nothing named or described like “${term}”.`)
        : emptyState("No channels yet", "Create one, then publish to it from the console or the REST API.", h("a", { class: "btn primary", href: "#/channels/new" }, "New channel")));
      clear(pager);
      return;
    }
    const rows = page.objects.map((c) => {
      // Livechat's own channels (rooms, queue and agent feeds): deleting them breaks livechat.
      const managed = /^livechat[-/]/.test(c.name);
      const del = managed ? null : h("button", { class: "btn small danger ghost", type: "button" }, "Delete");
      if (del) del.addEventListener("click", () => remove(c, del));
      const enc = encodeURIComponent(c.name);
      return h("tr", {},
        h("td", { "data-label": "Name" }, h("a", { class: "strong", href: `#/channels/edit?name=${enc}` }, c.name), c.description ? h("p", { class: "muted small" }, c.description) : null),
        h("td", { "data-label": "Type" }, badge(c.name.endsWith("/*") ? "pattern" : c.type === "separate_rooms" ? "rooms" : "default"), managed ? badge("livechat", "info") : null),
        h("td", { "data-label": "Access" }, h("span", { class: "small" }, `anonymous: ${c.other_permissions} · tokens: ${c.group_permissions}`)),
        h("td", { "data-label": "History" }, h("span", { class: "small" }, c.history.persist ? `${c.history.max_messages.toLocaleString()} msgs` : "memory only")),
        h("td", { "data-label": "Updated" }, h("span", { class: "small muted", title: c.updated_at }, fmtAgo(c.updated_at))),
        h("td", { class: "actions" },
          h("a", { class: "btn small", href: `#/channels/console?name=${enc}` }, "Console"),
          h("a", { class: "btn small", href: `#/channels/history?name=${enc}` }, "History"),
          del));
    });
    clear(list, h("table", { class: "table" },
      h("thead", h("tr", ["Name", "Type", "Access", "History", "Updated", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", rows)));
    const prev = h("button", { class: "btn small", type: "button", disabled: !page.prev }, "← Previous");
    const next = h("button", { class: "btn small", type: "button", disabled: !page.next }, "Next →");
    prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
    next.addEventListener("click", () => { offset += PAGE; load(); });
    clear(pager, prev, h("span", { class: "muted small" }, `${offset + 1}–${offset + page.objects.length}`), next);
  }
  load();
  return { el };
}
