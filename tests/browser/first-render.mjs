// Usage (after `npm ci` here): node first-render.mjs <dashboard url>, e.g. the URL `haiqiao demo`
// prints when run in a terminal (it keeps the nodes up). Prints one JSON object a load.
// Time to first render of a running node's dashboard: first paint, first contentful paint,
// and the moment the map has drawn its vessels, from the browser's performance API; 5 loads.
import { chromium } from 'playwright-core';
const url = process.argv[2];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
const out = [];
for (let i = 0; i < 5; i++) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => Number(document.getElementById('map').dataset.vessels || 0) >= 1, null, { timeout: 30000 });
  const mapMs = Date.now() - t0;
  const paints = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime])));
  const bytes = await page.evaluate(() => performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), 0) + (performance.getEntriesByType('navigation')[0]?.transferSize || 0));
  out.push({ fcp: Math.round(paints['first-contentful-paint']), map_drawn_ms: mapMs, bytes });
  await ctx.close();
}
await browser.close();
console.log(JSON.stringify(out));
