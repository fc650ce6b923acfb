// Widget appearance (GET/POST /livechat/appearance) with a live preview drawn from the
// form as it is typed, and the one-line install snippet with a copy button.

import { h, clear, field, select, busy, toast, pageHeader, spinner, secretBox } from "../lib/h.js";
import { api } from "../lib/api.js";
import { icon } from "../lib/icons.js";

// Known settings, in the order shown; anything else the server returns is listed after.
const KNOWN = {
  Livechat_title: ["Title", "Window", "text"],
  Livechat_title_color: ["Colour", "Window", "color"],
  Livechat_widget_position: ["Position on the page", "Window", "position"],
  Livechat_background: ["Message area background", "Window", "text"],
  Livechat_show_agent_info: ["Show the agent's name", "Window", "boolean"],
  Livechat_show_agent_email: ["Show the agent's email", "Window", "boolean"],
  Livechat_registration_form: ["Ask for name and email before chatting", "Pre-chat form", "boolean"],
  Livechat_name_field_registration_form: ["Name field", "Pre-chat form", "boolean"],
  Livechat_email_field_registration_form: ["Email field", "Pre-chat form", "boolean"],
  Livechat_registration_form_message: ["Form message", "Pre-chat form", "textarea"],
  Livechat_display_offline_form: ["Show the offline form when nobody is online", "Offline", "boolean"],
  Livechat_offline_title: ["Offline title", "Offline", "text"],
  Livechat_offline_title_color: ["Offline colour", "Offline", "color"],
  Livechat_offline_message: ["Offline message", "Offline", "textarea"],
  Livechat_offline_form_unavailable: ["Message when the offline form is off", "Offline", "textarea"],
  Livechat_offline_success_message: ["After an offline message is sent", "Offline", "textarea"],
  Livechat_conversation_finished_message: ["When a conversation ends", "Conversation end", "textarea"],
  Livechat_conversation_finished_text: ["Text after the end", "Conversation end", "textarea"],
  Livechat_enable_transcript: ["Offer a transcript by email", "Conversation end", "boolean"],
  Livechat_transcript_message: ["Transcript prompt", "Conversation end", "textarea"],
  Livechat_enable_message_character_limit: ["Limit message length", "Messages", "boolean"],
  Livechat_message_character_limit: ["Longest visitor message (characters)", "Messages", "text"],
  Livechat_offline_email: ["Send offline messages to (email)", "Offline", "text"],
  Livechat_hide_watermark: ["Hide the “powered by” line", "Window", "boolean"],
};

function isColor(v) { return /^#[0-9a-f]{3}([0-9a-f]{3})?$/i.test(String(v || "").trim()); }

function preview() {
  const title = h("span", { class: "pv-title" });
  const header = h("div", { class: "pv-header" }, title, h("span", { class: "pv-x", "aria-hidden": "true" }, "×"));
  const agent = h("p", { class: "pv-agent" });
  const body = h("div", { class: "pv-body" });
  const win = h("div", { class: "pv-window" }, header, agent, body, h("div", { class: "pv-compose" }, h("span", "Type your message…"), h("span", { class: "pv-send", "aria-hidden": "true" }, "Send")));
  const bubble = h("div", { class: "pv-bubble", "aria-hidden": "true" }, icon("inbox"));
  const stage = h("div", { class: "pv-stage", role: "img", "aria-label": "Preview of the chat widget" }, h("div", { class: "pv-page" }, h("div", { class: "pv-line" }), h("div", { class: "pv-line short" }), h("div", { class: "pv-line" })), win, bubble);
  const offline = h("input", { type: "checkbox" });
  const el = h("section", { class: "card preview-card" }, h("div", { class: "card-head row" }, h("h2", "Preview"), h("span", { class: "spacer" }), h("label", { class: "inline small" }, offline, " as offline")), stage);
  return {
    el, offline,
    update(v) {
      const off = offline.checked;
      const color = isColor(off ? v.Livechat_offline_title_color : v.Livechat_title_color) ? (off ? v.Livechat_offline_title_color : v.Livechat_title_color) : "#c1272d";
      // CSSOM custom properties: allowed by the CSP (no style attributes are written).
      stage.style.setProperty("--pv-color", color);
      stage.style.setProperty("--pv-bg", v.Livechat_background && CSS.supports("color", v.Livechat_background) ? v.Livechat_background : "");
      stage.classList.toggle("left", v.Livechat_widget_position === "left");
      title.textContent = off ? (v.Livechat_offline_title || "Leave a message") : (v.Livechat_title || "Live chat");
      agent.hidden = off || !v.Livechat_show_agent_info;
      agent.textContent = v.Livechat_show_agent_email ? "Bob · bob@example.com" : "Bob";
      if (off) {
        clear(body, h("p", { class: "pv-note" }, v.Livechat_display_offline_form === false ? (v.Livechat_offline_form_unavailable || "We are offline.") : (v.Livechat_offline_message || "Leave a message and we will get back to you.")),
          v.Livechat_display_offline_form === false ? null : [h("div", { class: "pv-input" }, "Name"), h("div", { class: "pv-input" }, "Email"), h("div", { class: "pv-input tall" }, "Message")]);
      } else if (v.Livechat_registration_form && (v.Livechat_name_field_registration_form || v.Livechat_email_field_registration_form)) {
        clear(body, h("p", { class: "pv-note" }, v.Livechat_registration_form_message || "Tell us who you are."),
          v.Livechat_name_field_registration_form ? h("div", { class: "pv-input" }, "Name") : null,
          v.Livechat_email_field_registration_form ? h("div", { class: "pv-input" }, "Email") : null,
          h("div", { class: "pv-button" }, "Start chat"));
      } else {
        clear(body, h("p", { class: "pv-msg them" }, "Hi! How can we help?"), h("p", { class: "pv-msg me" }, "Do you ship to Portugal?"), h("p", { class: "pv-msg them" }, "We do, in 2–3 days."));
      }
    },
  };
}

export function render() {
  const body = h("div", {}, spinner());
  const snippetUrl = `${location.origin}/livechat/widget.js`;
  const snippet = `<script src="${snippetUrl}" async></script>`;
  const el = h("div", { class: "page" },
    pageHeader("Widget", "How the chat looks on your site. Changes apply to every page at once."),
    h("section", { class: "card" }, h("h2", "Install"), h("p", { class: "sub" }, "Paste this before </body> on every page of your site."),
      secretBox("Install snippet", snippet, "One script tag; it finds this server from its own address.", { neutral: true })),
    body);

  function build(list) {
    const pv = preview();
    const inputs = new Map();
    const groups = new Map();
    const ids = [...Object.keys(KNOWN).filter((k) => list.some((x) => x._id === k)), ...list.map((x) => x._id).filter((k) => !KNOWN[k])];
    for (const id of ids) {
      const item = list.find((x) => x._id === id);
      const [label, group, kindHint] = KNOWN[id] || [id.replace(/^Livechat_/, "").replace(/_/g, " "), "Other", null];
      const kind = kindHint || (item.type === "boolean" || typeof item.value === "boolean" ? "boolean" : "text");
      let input;
      let f;
      if (kind === "boolean") { input = h("input", { type: "checkbox", checked: !!item.value }); f = field(label, input); }
      else if (kind === "position") { input = select([["right", "Bottom right"], ["left", "Bottom left"]], item.value || "right"); f = field(label, input); }
      else if (kind === "textarea") { input = h("textarea", { rows: "2", value: item.value ?? "" }); f = field(label, input); }
      else if (kind === "color") {
        input = h("input", { type: "text", class: "mono", value: item.value ?? "", placeholder: "#C1272D", maxlength: "32" });
        const picker = h("input", { type: "color", value: isColor(item.value) && String(item.value).length === 7 ? item.value : "#c1272d", "aria-label": `${label} picker` });
        picker.addEventListener("input", () => { input.value = picker.value; input.dispatchEvent(new Event("input", { bubbles: true })); });
        input.addEventListener("input", () => { if (isColor(input.value) && input.value.length === 7) picker.value = input.value; });
        f = field(label, input);
        f.input.after(picker);
        f.wrap.classList.add("color-field");
      } else { input = h("input", { type: typeof item.value === "number" ? "number" : "text", value: item.value ?? "" }); f = field(label, input); }
      inputs.set(id, { f, kind, type: item.type, original: item.value });
      if (!groups.has(group)) groups.set(group, h("fieldset", {}, h("legend", group)));
      groups.get(group).append(f.wrap);
    }
    const values = () => {
      const v = {};
      for (const [id, x] of inputs) v[id] = x.kind === "boolean" ? x.f.input.checked : (x.type === "number" || typeof x.original === "number") ? Number(x.f.input.value) : x.f.input.value;
      return v;
    };
    const formError = h("p", { class: "form-error", role: "alert" });
    const save = h("button", { class: "btn primary", type: "submit" }, "Save appearance");
    const form = h("form", { class: "card form", novalidate: true }, [...groups.values()], formError, h("div", { class: "form-actions" }, save));
    form.addEventListener("input", () => pv.update(values()));
    form.addEventListener("change", () => pv.update(values()));
    pv.offline.addEventListener("change", () => pv.update(values()));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      formError.textContent = "";
      inputs.forEach((x) => x.f.setError(""));
      const v = values();
      for (const [id, x] of inputs) if (x.kind === "color" && v[id] && !isColor(v[id])) { x.f.setError("Use a colour like #C1272D."); x.f.input.focus(); return; }
      await busy(save, async () => {
        try {
          await api.post("/api/v1/livechat/appearance", Object.entries(v).map(([_id, value]) => ({ _id, value })));
          toast("Appearance saved. Visitors see it on their next page load.");
        } catch (err) {
          const m = /(Livechat_[A-Za-z_]+)/.exec(err.message);
          if (m && inputs.has(m[1])) { inputs.get(m[1]).f.setError(err.message); inputs.get(m[1]).f.input.focus(); } else formError.textContent = err.message;
        }
      });
    });
    pv.update(values());
    clear(body, h("div", { class: "appearance-grid" }, form, pv.el));
  }

  api.get("/api/v1/livechat/appearance").then((r) => build(r.appearance || [])).catch((e) => clear(body, h("p", { class: "form-error", role: "alert" }, e.message)));
  return { el };
}
