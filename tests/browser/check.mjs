// Opens a node's dashboard in Debian's headless Chromium (driven by playwright-core over
// CDP) and checks what a person would see. Run by tests/integration/dashboard.rs:
//
//   node check.mjs <dashboard url> <artefact dir> <expected names, comma-separated> <live text>
//
// 1. the page loads with no script error, goes live (its event stream says hello);
// 2. the map has drawn the vessels (the canvas's data-vessels) and an open distress, the
//    vessel list names every expected vessel, the distress board shows the open incident;
// 3. prints `ready` and waits for <live text> to appear on the distress board, pushed by the
//    server: the test answers the distress then; the page must not reload meanwhile;
// 4. saves screenshots (desktop and phone width) and the time to first render from the
//    browser's performance API, and prints `ok <json figures>`.
// Any failure prints `FAIL <why>` and exits 1.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, artefacts, names, liveText] = process.argv.slice(2);
if (!url || !artefacts || !names || !liveText) {
  console.log('FAIL usage: node check.mjs <url> <artefact dir> <names> <live text>');
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });
const WAIT = 30_000;

const fail = async (browser, page, why) => {
  console.log(`FAIL ${why}`);
  if (page) await page.screenshot({ path: join(artefacts, 'failure.png') }).catch(() => {});
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
};

let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath: process.env.HAIQIAO_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright-core gives the browser a fresh profile folder of its own (it refuses
    // --user-data-dir with launch()) and removes it on close.
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(() => { window.__sameLoad = true; });
  await page.waitForFunction(() => document.getElementById('live').classList.contains('on'), null, { timeout: WAIT });
  const expected = names.split(',');
  await page.waitForFunction((n) => Number(document.getElementById('map').dataset.vessels || 0) >= n, expected.length, { timeout: WAIT });
  await page.waitForFunction(() => Number(document.getElementById('map').dataset.distress || 0) >= 1, null, { timeout: WAIT });
  await page.waitForFunction((ns) => {
    const t = document.getElementById('vessels').innerText;
    return ns.every((n) => t.includes(n));
  }, expected, { timeout: WAIT }).catch(async () => {
    const t = await page.locator('#vessels').innerText();
    await fail(browser, page, `vessel list lacks ${expected.join(', ')}: ${t}`);
  });
  const board = await page.locator('#distress-board .incident[data-state=open], #distress-board .incident[data-state=answered]').count();
  if (board < 1) await fail(browser, page, 'no open incident on the distress board');
  const boardText = await page.locator('#distress-board').innerText();
  if (!boardText.includes('MAYDAY')) await fail(browser, page, `distress board: ${boardText}`);
  // The station panel says where the node's own position comes from (a boat without a fix
  // says so; this station has no GPS configured).
  await page.waitForFunction(() => (document.getElementById('gps')?.innerText || '').includes('own GPS'), null, { timeout: WAIT })
    .catch(async () => fail(browser, page, `the station panel has no GPS line: ${await page.locator('#health').innerText()}`));
  // The map drew more than the sea: the coastline and the vessels.
  const colours = await page.evaluate(() => {
    const cv = document.getElementById('map');
    const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 97) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  });
  if (colours < 5) await fail(browser, page, `the map is nearly blank (${colours} colours)`);
  await page.screenshot({ path: join(artefacts, 'dashboard.png') });
  const before = Number(await page.locator('#live-count').innerText());
  console.log('ready');
  await page.waitForFunction((t) => document.getElementById('distress-board').innerText.includes(t), liveText, { timeout: WAIT })
    .catch(async () => fail(browser, page, `live update ${JSON.stringify(liveText)} did not arrive: ${await page.locator('#distress-board').innerText()}`));
  const same = await page.evaluate(() => window.__sameLoad === true);
  if (!same) await fail(browser, page, 'the page reloaded');
  const after = Number(await page.locator('#live-count').innerText());
  if (after <= before) await fail(browser, page, `no event counted (${before} -> ${after})`);
  await page.screenshot({ path: join(artefacts, 'dashboard-live.png') });
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    const res = performance.getEntriesByType('resource');
    return {
      first_contentful_paint_ms: paint ? Math.round(paint.startTime) : null,
      load_event_ms: nav ? Math.round(nav.loadEventEnd) : null,
      transferred_bytes: (nav ? nav.transferSize : 0) + res.filter((r) => r.name.includes('/dashboard/')).reduce((s, r) => s + r.transferSize, 0),
    };
  });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForFunction(() => {
    const cv = document.getElementById('map');
    return cv.width <= 390 * (window.devicePixelRatio || 1);
  }, null, { timeout: WAIT });
  await page.screenshot({ path: join(artefacts, 'dashboard-phone.png'), fullPage: false });
  if (errors.length) await fail(browser, page, `script errors: ${errors.join(' | ')}`);
  console.log(`ok ${JSON.stringify({ ...timing, events: after })}`);
  await browser.close();
} catch (e) {
  await fail(browser, page, String(e && e.stack ? e.stack : e));
}
