// Line icons (24×24 strokes), drawn as SVG nodes.

import { svg } from "./h.js";

const PATHS = {
  dashboard: ["M3 3h7v9H3z", "M14 3h7v5h-7z", "M14 12h7v9h-7z", "M3 16h7v5H3z"],
  channels: ["M4 9h16", "M4 15h16", "M10 3 8 21", "M16 3l-2 18"],
  console: ["M4 17l6-5-6-5", "M12 19h8"],
  triggers: ["M16 18l6-6-6-6", "M8 6l-6 6 6 6"],
  inbox: ["M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"],
  bolt: ["M13 2 3 14h9l-1 8 10-12h-9l1-8z"],
  widget: ["M3 4h18v16H3z", "M3 9h18", "M9 20V9"],
  settings: ["M4 21v-7", "M4 10V3", "M12 21v-9", "M12 8V3", "M20 21v-5", "M20 12V3", "M1 14h6", "M9 8h6", "M17 16h6"],
  users: ["M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2", "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M23 21v-2a4 4 0 0 0-3-3.87", "M16 3.13a4 4 0 0 1 0 7.75"],
  key: ["M21 2l-2 2", "M15.5 7.5l3 3L22 7l-3-3", "M11.4 11.6a5.5 5.5 0 1 1-7.78 7.78 5.5 5.5 0 0 1 7.78-7.78z", "M11.4 11.6 19 4"],
  menu: ["M3 6h18", "M3 12h18", "M3 18h18"],
};

export function icon(name, cls = "icon") {
  return svg("svg", { viewBox: "0 0 24 24", class: cls, "aria-hidden": "true", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" },
    ...(PATHS[name] || []).map((d) => svg("path", { d })));
}
