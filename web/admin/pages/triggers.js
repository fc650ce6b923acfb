// Realtime triggers: list with channel filter, links to the editor.

import { h, clear, pageHeader, badge, emptyState, spinner, confirmDialog, busy, toast, fmtAgo } from "../lib/h.js";
import { api, qs } from "../lib/api.js";

export function render() {
  const filter = h("input", { type: "search", class: "mono", placeholder: "Filter by channel", "aria-label": "Filter by channel" });
  const list = h("div", { class: "list-wrap" });
  const el = h("div", { class: "page" },
    pageHeader("Triggers", "Scripts that filter, rewrite, reject or fan out messages.", h("a", { class: "btn primary", href: "#/triggers/new" }, "New trigger")),
    h("div", { class: "toolbar" }, filter), list);
  let t;
  filter.addEventListener("input", () => { clearTimeout(t); t = setTimeout(load, 250); });

  async function load() {
    clear(list, spinner());
    let page;
    try { page = await api.get(`/api/v1/triggers${qs({ channel: filter.value.trim(), page_size: 100 })}`); } catch (e) {
      clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); return;
    }
    if (!page.objects.length) {
      clear(list, emptyState("No triggers", filter.value ? "None runs on that channel." : "A trigger runs a Rhai script on every message or join of a channel.", h("a", { class: "btn primary", href: "#/triggers/new" }, "New trigger")));
      return;
    }
    clear(list, h("table", { class: "table" },
      h("thead", h("tr", ["Name", "Channel", "On", "State", "Updated", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", page.objects.map((tr) => {
        const del = h("button", { class: "btn small danger ghost", type: "button" }, "Delete");
        del.addEventListener("click", async () => {
          if (!(await confirmDialog(`Delete ${tr.name}?`, "The trigger stops running at once and its run log is deleted."))) return;
          await busy(del, async () => { try { await api.del(`/api/v1/triggers/${tr.id}`); toast("Trigger deleted."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        const on = Object.entries(tr.actions).filter(([, v]) => v).map(([k]) => k).join(", ") || "nothing";
        return h("tr", {},
          h("td", { "data-label": "Name" }, h("a", { class: "strong", href: `#/triggers/edit?id=${tr.id}` }, tr.name), tr.description ? h("p", { class: "muted small" }, tr.description) : null),
          h("td", { "data-label": "Channel" }, h("code", tr.channel)),
          h("td", { "data-label": "On" }, on),
          h("td", { "data-label": "State" }, tr.active ? badge("active", "ok") : badge("paused")),
          h("td", { "data-label": "Updated" }, h("span", { class: "small muted", title: tr.updated_at }, fmtAgo(tr.updated_at))),
          h("td", { class: "actions" }, h("a", { class: "btn small", href: `#/triggers/edit?id=${tr.id}` }, "Edit"), del));
      }))));
  }
  load();
  return { el };
}
