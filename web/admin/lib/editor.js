// A plain code editor: a textarea with a line-number gutter that scrolls with it, and
// an error marker placed at a line and column (positions set through CSSOM, which the
// CSP allows, never through style attributes).

import { h } from "./h.js";

export function codeEditor({ value = "", label = "Script", rows = 18 } = {}) {
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { class: "code-area", spellcheck: "false", autocapitalize: "off", autocomplete: "off", wrap: "off", rows: String(rows), "aria-label": label });
  area.value = value;
  const marker = h("div", { class: "err-marker", hidden: true, "aria-hidden": "true" });
  const lineBar = h("div", { class: "err-line", hidden: true, "aria-hidden": "true" });
  const box = h("div", { class: "editor" }, gutter, h("div", { class: "code-wrap" }, lineBar, marker, area));
  const message = h("p", { class: "editor-error", role: "alert", hidden: true });
  const el = h("div", { class: "editor-field" }, box, message);
  let error = null;
  let lines = 0;

  function metrics() {
    const cs = getComputedStyle(area);
    const lineHeight = parseFloat(cs.lineHeight) || 20;
    const padTop = parseFloat(cs.paddingTop) || 0;
    const padLeft = parseFloat(cs.paddingLeft) || 0;
    const probe = h("span", { class: "code-probe" }, "0000000000");
    box.append(probe);
    const charWidth = probe.getBoundingClientRect().width / 10 || 8;
    probe.remove();
    return { lineHeight, padTop, padLeft, charWidth };
  }

  function renderGutter() {
    const count = area.value.split("\n").length;
    // Grow with the script (12 to 40 lines), then scroll.
    area.rows = Math.min(40, Math.max(12, count + 2));
    if (count !== lines) {
      lines = count;
      const frag = document.createDocumentFragment();
      for (let i = 1; i <= count; i += 1) frag.append(h("div", { class: "ln", dataset: { line: String(i) } }, String(i)));
      gutter.replaceChildren(frag);
    }
    gutter.querySelectorAll(".ln.bad").forEach((x) => x.classList.remove("bad"));
    if (error) gutter.querySelector(`.ln[data-line="${error.line}"]`)?.classList.add("bad");
    place();
  }

  function place() {
    gutter.scrollTop = area.scrollTop;
    if (!error) { marker.hidden = true; lineBar.hidden = true; return; }
    const m = metrics();
    const top = m.padTop + (error.line - 1) * m.lineHeight - area.scrollTop;
    lineBar.hidden = false;
    lineBar.style.top = `${top}px`;
    lineBar.style.height = `${m.lineHeight}px`;
    marker.hidden = false;
    marker.style.top = `${top + m.lineHeight - 3}px`;
    marker.style.left = `${m.padLeft + (Math.max(1, error.column) - 1) * m.charWidth - area.scrollLeft}px`;
    marker.style.width = `${Math.max(m.charWidth, 6)}px`;
  }

  area.addEventListener("input", () => { if (error) setError(null); renderGutter(); });
  area.addEventListener("scroll", place);
  area.addEventListener("keydown", (e) => {
    // Tab indents only with a modifier-free press inside a selection-less caret when
    // the user has started typing; Escape then Tab always leaves the editor.
    if (e.key === "Escape") { area.dataset.escaped = "1"; return; }
    if (e.key === "Tab" && !e.shiftKey && !area.dataset.escaped && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      const { selectionStart: s, selectionEnd: en } = area;
      area.setRangeText("  ", s, en, "end");
      area.dispatchEvent(new Event("input"));
    }
    if (e.key !== "Escape") delete area.dataset.escaped;
  });
  new ResizeObserver(() => place()).observe(area);

  function setError(err) {
    error = err;
    box.classList.toggle("has-error", !!err);
    if (err) {
      message.hidden = false;
      message.textContent = err.line ? `Line ${err.line}, column ${err.column}: ${err.message}` : err.message;
    } else { message.hidden = true; message.textContent = ""; }
    renderGutter();
  }

  // Puts the caret at the error and scrolls it into view.
  function focusError() {
    if (!error || !error.line) { area.focus(); return; }
    const all = area.value.split("\n");
    let pos = 0;
    for (let i = 0; i < error.line - 1 && i < all.length; i += 1) pos += all[i].length + 1;
    pos += Math.max(0, error.column - 1);
    area.focus();
    area.setSelectionRange(pos, pos);
    const m = metrics();
    const want = (error.line - 1) * m.lineHeight;
    if (want < area.scrollTop || want > area.scrollTop + area.clientHeight - m.lineHeight * 2) area.scrollTop = Math.max(0, want - area.clientHeight / 2);
    place();
  }

  renderGutter();
  return {
    el, area,
    get value() { return area.value; },
    set value(v) { area.value = v; renderGutter(); },
    setError, focusError,
    refresh: renderGutter,
  };
}

// "Syntax error at line 3, column 5: …" → {line, column, message}
export function parseScriptError(text) {
  const m = /line (\d+)(?:, column (\d+))?/i.exec(text || "");
  if (!m) return { line: 0, column: 0, message: text };
  const message = String(text).replace(/^Syntax error at line \d+, column \d+:\s*/i, "");
  return { line: Number(m[1]), column: Number(m[2] || 1), message };
}
