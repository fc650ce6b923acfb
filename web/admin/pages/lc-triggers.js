// Livechat triggers (Rocket.Chat's REST API): list, enable state, delete.

import { h, clear, pageHeader, badge, emptyState, spinner, confirmDialog, busy, toast } from "../lib/h.js";
import { api, qs } from "../lib/api.js";

export const CONDITION_LABELS = {
  "time-on-site": "Visitor time on site",
  "page-url": "Page URL matches",
  "chat-opened-by-visitor": "Visitor opens the chat",
  "after-guest-registration": "Visitor registers",
};

export function describeCondition(c) {
  const label = CONDITION_LABELS[c.name] || c.name;
  if (c.name === "time-on-site") return `${label} ≥ ${c.value} s`;
  if (c.name === "page-url") return `${label} /${c.value}/`;
  return label;
}

export function describeAction(a) {
  const p = a.params || {};
  if (a.name === "send-message") return `Send “${p.msg || ""}” as ${p.sender === "custom" ? (p.name || "custom") : "the next agent"}`;
  if (a.name === "use-external-service") return `Ask ${p.serviceUrl || "a service"} (${p.serviceTimeout || "?"} ms)`;
  return a.name;
}

const PAGE = 25;

export function render() {
  const list = h("div", { class: "list-wrap" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  const el = h("div", { class: "page" },
    pageHeader("Chat triggers", "Proactive messages: time on site, page URL, chat opened, visitor registered.", h("a", { class: "btn primary", href: "#/livechat/triggers/new" }, "New trigger")),
    list, pager);
  let offset = 0;

  async function load() {
    clear(list, spinner());
    let res;
    try { res = await api.get(`/api/v1/livechat/triggers${qs({ count: PAGE, offset, sort: JSON.stringify({ name: 1 }) })}`); } catch (e) {
      clear(list, h("p", { class: "form-error", role: "alert" }, e.message)); clear(pager); return;
    }
    if (!res.triggers.length) {
      clear(list, emptyState("No chat triggers", "Greet visitors who linger, offer help on the pricing page, or ask your own service what to say.", h("a", { class: "btn primary", href: "#/livechat/triggers/new" }, "New trigger")));
      clear(pager);
      return;
    }
    clear(list, h("table", { class: "table" },
      h("thead", h("tr", ["Name", "When", "Then", "State", ""].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", res.triggers.map((t) => {
        const del = h("button", { class: "btn small danger ghost", type: "button" }, "Delete");
        del.addEventListener("click", async () => {
          if (!(await confirmDialog(`Delete ${t.name}?`, "Visitors stop getting this trigger's messages."))) return;
          await busy(del, async () => { try { await api.del(`/api/v1/livechat/triggers/${encodeURIComponent(t._id)}`); toast("Trigger deleted."); load(); } catch (e) { toast(e.message, "error"); } });
        });
        return h("tr", {},
          h("td", { "data-label": "Name" }, h("a", { class: "strong", href: `#/livechat/triggers/edit?id=${encodeURIComponent(t._id)}` }, t.name), t.description ? h("p", { class: "muted small" }, t.description) : null),
          h("td", { "data-label": "When" }, h("ul", { class: "plain" }, (t.conditions || []).map((c) => h("li", { class: "small" }, describeCondition(c))))),
          h("td", { "data-label": "Then" }, h("ul", { class: "plain" }, (t.actions || []).map((a) => h("li", { class: "small" }, describeAction(a))))),
          h("td", { "data-label": "State" }, t.enabled ? badge("enabled", "ok") : badge("disabled"), t.runOnce ? badge("once per visitor", "info") : null),
          h("td", { class: "actions" }, h("a", { class: "btn small", href: `#/livechat/triggers/edit?id=${encodeURIComponent(t._id)}` }, "Edit"), del));
      }))));
    const prev = h("button", { class: "btn small", type: "button", disabled: offset === 0 }, "← Previous");
    const next = h("button", { class: "btn small", type: "button", disabled: offset + res.triggers.length >= res.total }, "Next →");
    prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); load(); });
    next.addEventListener("click", () => { offset += PAGE; load(); });
    clear(pager, prev, h("span", { class: "muted small" }, `${offset + 1}–${offset + res.triggers.length} of ${res.total}`), next);
  }
  load();
  return { el };
}
