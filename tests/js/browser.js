// Shared headless-Chromium helpers for the browser tests (driven from Rust tests through
// tests/common/js.rs). Debian's Chromium, driven by playwright-core; no browser download.
//
//   const { launch, step, finish } = require("./browser");
//   const browser = await launch();
//   const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
//   await step(page, "opens the widget", async () => { ... });
//
// A failing step writes `<RTBOX_SCREENSHOT_DIR>/<script>-<step>.png` and exits 1; every
// passed step prints `PASS <step>`, so the Rust side can show what ran.
"use strict";

const path = require("path");
const fs = require("fs");
const { chromium } = require("playwright-core");

const shotDir = process.env.RTBOX_SCREENSHOT_DIR || path.join(__dirname, "../../target/browser-screenshots");
const scriptName = path.basename(process.argv[1] || "browser", ".js");

async function launch() {
  return chromium.launch({
    executablePath: process.env.RTBOX_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

function slug(s) {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
}

async function screenshot(page, name) {
  fs.mkdirSync(shotDir, { recursive: true });
  const file = path.join(shotDir, `${scriptName}-${slug(name)}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

// Runs one named step; on failure screenshots every open page of the browser and exits 1.
async function step(page, name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
  } catch (err) {
    const pages = page.context().browser()
      ? page.context().browser().contexts().flatMap((c) => c.pages())
      : [page];
    const files = [];
    for (const [i, p] of pages.entries()) files.push(await screenshot(p, `${name}-fail-${i}`));
    console.error(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
    console.error(`screenshots: ${files.join(", ")}`);
    await page.context().browser()?.close().catch(() => {});
    process.exit(1);
  }
}

// A hard stop so a hung page never hangs the test suite.
function deadline(ms) {
  const t = setTimeout(() => {
    console.error(`FAIL timed out after ${ms} ms`);
    process.exit(1);
  }, ms);
  t.unref();
}

module.exports = { launch, step, screenshot, deadline };
