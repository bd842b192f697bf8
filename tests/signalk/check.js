// Validates haiqiao's Signal K output against the Signal K specification's JSON schemas
// (@signalk/signalk-schema): every delta with validateDelta, and (values that are not null)
// the model it builds with validateFull; the REST tree with validateFull.
//
//   node check.js stream <ws url> <path,path,...>
//       reads the stream until a delta has carried each path (or 60 s pass), prints a JSON
//       summary {hello, deltas, invalid, seen}; exit 1 if any message is invalid.
//   node check.js full <http url>
//       fetches the full model, prints {valid, errors}; exit 1 if invalid.
"use strict";
const sk = require("@signalk/signalk-schema");
const WebSocket = require("ws");

// deltaToFull adds the schema's own `meta` to notifications, which validateFull then refuses
// as unknown properties; haiqiao sends no meta, so it is taken out again.
function strip(o) {
  if (o && typeof o === "object") {
    delete o.meta;
    for (const k of Object.keys(o)) strip(o[k]);
  }
  return o;
}

function errors(r) {
  return (r.errors || [])
    .filter((e) => !/Missing required property: (aircraft|aton|sar|url|uuid)/.test(e.message))
    .map((e) => `${e.dataPath} ${e.message}`);
}

function checkDelta(d) {
  const r = sk.validateDelta(JSON.parse(JSON.stringify(d)));
  if (!r.valid) return errors(r);
  const nonNull = d.updates.every((u) => u.values.every((v) => v.value !== null));
  if (!nonNull) return [];
  const f = sk.validateFull(strip(sk.deltaToFull(JSON.parse(JSON.stringify(d)))));
  return f.valid ? [] : errors(f);
}

async function stream(url, want) {
  const ws = new WebSocket(url);
  const out = { hello: null, deltas: [], invalid: [], seen: [] };
  const seen = new Set();
  const timer = setTimeout(() => finish(), 60000);
  function finish() {
    clearTimeout(timer);
    out.seen = [...seen];
    console.log(JSON.stringify(out));
    try { ws.close(); } catch (e) { /* closing anyway */ }
    process.exit(out.invalid.length ? 1 : 0);
  }
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (!out.hello) { out.hello = msg; return; }
    out.deltas.push(msg);
    const errs = checkDelta(msg);
    if (errs.length) out.invalid.push({ delta: msg, errors: errs });
    for (const u of msg.updates || []) for (const v of u.values || []) seen.add(v.path);
    if (want.every((p) => seen.has(p))) finish();
  };
  ws.onerror = (e) => { out.invalid.push({ error: String(e.message || e) }); finish(); };
}

async function full(url) {
  const tree = await (await fetch(url)).json();
  const r = sk.validateFull(strip(tree));
  const errs = r.valid ? [] : errors(r);
  console.log(JSON.stringify({ valid: r.valid, errors: errs, tree }));
  process.exit(r.valid ? 0 : 1);
}

const [mode, url, want] = process.argv.slice(2);
if (mode === "stream") stream(url, (want || "").split(",").filter(Boolean));
else if (mode === "full") full(url);
else { console.error("usage: check.js stream <ws url> <paths> | full <http url>"); process.exit(2); }
