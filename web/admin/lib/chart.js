// Small hand-drawn SVG charts: a filled line over the last N points, scaled to its max.

import { svg, h } from "./h.js";

export function sparkline(label) {
  const W = 240, H = 56;
  const area = svg("path", { class: "spark-area" });
  const line = svg("path", { class: "spark-line" });
  const base = svg("line", { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: "spark-base" });
  const title = svg("title");
  const el = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "spark", role: "img", "aria-label": label }, title, base, area, line);
  const max = h("span", { class: "spark-max" });
  const wrap = h("div", { class: "spark-wrap" }, el, max);
  return {
    el: wrap,
    update(points, unit = "") {
      const pts = points.length ? points : [0];
      const top = Math.max(1, ...pts);
      const step = pts.length > 1 ? W / (pts.length - 1) : W;
      const xy = pts.map((v, i) => [i * step, H - 2 - (v / top) * (H - 6)]);
      const d = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)} ${y.toFixed(1)}`).join(" ");
      line.setAttribute("d", d);
      area.setAttribute("d", `${d} L${W} ${H} L0 ${H} Z`);
      const peak = Math.max(...pts);
      max.textContent = `peak ${Number(peak.toFixed(2))}${unit}`;
      title.textContent = `${label}: last ${pts.length} s, peak ${peak}${unit}`;
    },
  };
}
