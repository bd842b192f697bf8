// Extracts the dashboard's offline coastline once: Natural Earth's 1:10m land (public domain),
// as TopoJSON in npm's world-atlas 2.0.2 (ISC), cut to the East China Sea around Zhoushan.
// Run by hand after `npm ci` here: node make-coast.mjs > ../../node/src/dashboard/assets/coast.json
// The output is committed; the dashboard embeds it (docs/dashboard.md).
//
// Polygons touching the detail box (Zhoushan, 121.3-123.8 E, 29.2-31.1 N) keep every vertex;
// the rest of the region (coarser China coast, 117-127 E, 24-35 N) keeps one vertex in four.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { feature } from 'topojson-client';

const require = createRequire(import.meta.url);
const topo = JSON.parse(readFileSync(require.resolve('world-atlas/land-10m.json'), 'utf8'));
const land = feature(topo, topo.objects.land);

const REGION = [117, 24, 127, 35];
const DETAIL = [121.3, 29.2, 123.8, 31.1];

const bbox = (ring) => {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of ring) b = [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x), Math.max(b[3], y)];
  return b;
};
const meets = (a, b) => a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1];
const round = ([x, y]) => [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4];
// Clamps far-away vertices of the mainland's huge ring to the region's edge (the page only
// fills polygons, so a clamped ring still draws the coast inside the region faithfully).
const clamp = ([x, y]) => [Math.min(Math.max(x, REGION[0] - 1), REGION[2] + 1), Math.min(Math.max(y, REGION[1] - 1), REGION[3] + 1)];

const polys = [];
for (const f of land.features) {
  const g = f.geometry;
  const list = g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
  for (const poly of list) {
    const outer = poly[0];
    const b = bbox(outer);
    if (!meets(b, REGION)) continue;
    const detailed = meets(b, DETAIL) && (b[2] - b[0]) < 5;
    const keep = (ring) => {
      const out = [];
      ring.forEach((p, i) => {
        if (detailed || i % 4 === 0 || i === ring.length - 1) out.push(round(clamp(p)));
      });
      // Drops consecutive duplicates left by clamping.
      return out.filter((p, i) => i === 0 || p[0] !== out[i - 1][0] || p[1] !== out[i - 1][1]);
    };
    const rings = poly.map(keep).filter((r) => r.length >= 4);
    if (rings.length) polys.push(rings);
  }
}
const out = {
  type: 'Feature',
  properties: {
    source: 'Natural Earth 1:10m land v4.1.0 (public domain), via npm world-atlas 2.0.2',
    region: REGION,
    detail: DETAIL,
  },
  geometry: { type: 'MultiPolygon', coordinates: polys },
};
process.stdout.write(JSON.stringify(out) + '\n');
process.stderr.write(`${polys.length} polygons\n`);
