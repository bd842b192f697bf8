// haiqiao's dashboard: one page over the node's control API (the same JSON the CLI reads),
// live through server-sent events (/api/v1/events). No framework, nothing from elsewhere.
// docs/dashboard.md describes what it shows and how.
'use strict';

const S = {
  token: localStorage.getItem('haiqiao.token') || '',
  cfg: {},
  status: null,
  peers: [],
  positions: new Map(), // author key -> position record (newest)
  tracks: new Map(), // author key -> [[lon, lat, created], ...]
  distress: [],
  cases: [],
  stats: null,
  pairs: { pairs: [], partners: [], buddy_reports: [] },
  timeline: [],
  timelineNext: 0,
  names: new Map(), // key -> {name, roles} or null while asked
  selected: null,
  events: 0,
  coast: null,
  tiles: new Map(),
  view: null, // {cx, cy, k}: centre and pixels per degree of latitude
  fitted: false,
};

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const short = (k) => String(k || '').slice(0, 8);

// ---- times: always local, never raw Unix seconds ----
function when(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
const whenS = (s) => when(s ? s * 1000 : 0);
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const dur = (s) => (s == null ? '—' : s < 120 ? `${Math.round(s)} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

// ---- names beside ids ----
function who(key) {
  if (!key) return '?';
  const n = S.names.get(key);
  if (n === undefined) askName(key);
  return n && n.name ? `${esc(n.name)} <span class="dim">${short(key)}</span>` : `<span class="dim">${short(key)}</span>`;
}
function nameText(key) {
  const n = S.names.get(key);
  if (n === undefined) askName(key);
  return n && n.name ? n.name : short(key);
}
function roleOf(key) {
  const n = S.names.get(key);
  return n && n.roles && n.roles.length ? n.roles[0] : 'vessel';
}
async function askName(key) {
  if (S.names.has(key) || !/^[0-9a-f]{64}$/i.test(key)) return;
  S.names.set(key, null);
  try {
    const t = await api(`/api/v1/trust/${key}`);
    S.names.set(key, { name: t.name, roles: t.roles || [] });
    later(renderAll);
  } catch (e) {
    S.names.set(key, { name: null, roles: [] });
  }
}

// ---- the API ----
async function api(path, body) {
  const headers = { Accept: 'application/json' };
  if (S.token) headers.Authorization = `Bearer ${S.token}`;
  const opt = { headers };
  if (body !== undefined) {
    opt.method = 'POST';
    headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  const v = await r.json().catch(() => ({}));
  if (r.status === 401) askToken(v.message);
  if (!r.ok) throw new Error(v.message || `${r.status}`);
  return v;
}
function toast(msg) {
  const t = $('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { t.hidden = true; }, 5000);
}
async function act(path, body, done) {
  try {
    await api(path, body);
    toast(done);
  } catch (e) {
    toast(`refused: ${e.message}`);
  }
}
function askToken(why) {
  if (askToken.open) return;
  askToken.open = true;
  const t = prompt(`${why || 'This station needs its API token.'}\nToken:`, S.token);
  askToken.open = false;
  if (t !== null) {
    S.token = t.trim();
    localStorage.setItem('haiqiao.token', S.token);
    connect();
  }
}

// Coalesces work asked for many times in a burst.
const pending = new Map();
function later(fn, ms = 150) {
  if (pending.has(fn)) return;
  pending.set(fn, setTimeout(() => { pending.delete(fn); fn(); }, ms));
}

// ---- loading the views ----
async function loadStatus() {
  const [st, pe] = await Promise.all([api('/api/v1/status'), api('/api/v1/peers')]);
  S.status = st;
  S.peers = pe.peers || [];
  S.names.set(st.id, { name: st.name, roles: [st.role] });
  renderHeader();
  renderHealth();
}
async function loadPositions() {
  const v = await api('/api/v1/positions');
  for (const r of v.positions || []) addPosition(r);
  renderMap();
  renderVessels();
}
async function loadTracks() {
  const v = await api('/api/v1/inbox?kind=position&limit=1000');
  for (const r of v.records || []) addPosition(r);
  renderMap();
}
async function loadDistress() {
  const v = await api(`/api/v1/distress${$('distress-all').checked ? '?all=true' : ''}`);
  S.distress = v.distress || [];
  renderDistress();
  renderMap();
}
async function loadCases() {
  const [c, st] = await Promise.all([api('/api/v1/cases'), api('/api/v1/cases/stats')]);
  S.cases = c.cases || [];
  S.stats = st;
  renderCases();
}
async function loadPairs() {
  S.pairs = await api('/api/v1/pairs');
  renderPairs();
  renderMap();
}
async function loadTimeline() {
  const v = await api(`/api/v1/timeline?after=${S.timelineNext}&limit=1000`);
  S.timeline = S.timeline.concat(v.entries || []).slice(-300);
  S.timelineNext = v.next;
  renderTimeline();
}
function loadAll() {
  const all = [loadStatus, loadPositions, loadTracks, loadDistress, loadCases, loadPairs, loadTimeline];
  return Promise.all(all.map((f) => f().catch((e) => toast(e.message))));
}
const loaders = new Map();
function reload(f) {
  // One loader per view, coalesced: a burst of events fetches once.
  if (!loaders.has(f)) loaders.set(f, () => f().catch((e) => toast(e.message)));
  later(loaders.get(f));
}

function addPosition(r) {
  if (r.kind !== 'position') return;
  const cur = S.positions.get(r.author);
  if (!cur || cur.created <= r.created) S.positions.set(r.author, r);
  const t = S.tracks.get(r.author) || [];
  if (!t.some((p) => p[2] === r.created && p[0] === r.body.lon && p[1] === r.body.lat)) {
    t.push([r.body.lon, r.body.lat, r.created]);
    t.sort((a, b) => a[2] - b[2]);
    if (t.length > 500) t.shift();
    S.tracks.set(r.author, t);
  }
}

// ---- live ----
let source = null;
function connect() {
  if (source) source.close();
  const q = S.token ? `?access_token=${encodeURIComponent(S.token)}` : '';
  source = new EventSource(`/api/v1/events${q}`);
  const live = $('live');
  source.addEventListener('hello', () => {
    live.textContent = '● live';
    live.className = 'live on';
    loadAll();
  });
  source.onerror = () => {
    live.textContent = '○ reconnecting';
    live.className = 'live off';
  };
  const count = () => { S.events += 1; $('live-count').textContent = S.events; };
  source.addEventListener('record', (e) => {
    count();
    const { record } = JSON.parse(e.data);
    switch (record.kind) {
      case 'position':
        addPosition(record);
        later(renderMap, 50);
        later(renderVessels);
        break;
      case 'distress': case 'distress_update':
        reload(loadDistress);
        break;
      case 'dispute_report': case 'case_update': case 'agreement_signature': case 'mediator_duty':
        reload(loadCases);
        break;
      case 'pairing': case 'buddy_watch': case 'pair_alert':
        reload(loadPairs);
        break;
      case 'certificate': case 'revocation':
        S.names.clear();
        break;
      default:
    }
    reload(loadTimeline);
    reload(loadStatus);
  });
  for (const name of ['peer', 'carrying', 'freed', 'penalty', 'refused', 'disconnected']) {
    source.addEventListener(name, () => { count(); reload(loadStatus); reload(loadTimeline); });
  }
  // Fell behind the feed: the views hold everything it carried.
  source.addEventListener('lagged', () => { count(); loadAll(); });
}

// ---- rendering ----
function renderAll() {
  renderHeader(); renderMap(); renderVessels(); renderDistress(); renderCases(); renderPairs(); renderHealth(); renderTimeline();
}
function renderHeader() {
  const st = S.status;
  if (!st) return;
  const certified = st.fleet && st.fleet.certified && st.fleet.certified.length ? `certified ${st.fleet.certified.join(', ')}` : 'not certified';
  $('station').innerHTML = `<b>${esc(st.name)}</b> · ${esc(st.role)} · <span title="${esc(st.id)}">${short(st.id)}</span> · ${st.peers} peer(s) · ${esc(certified)}`;
  document.title = `${st.name} — haiqiao 海桥`;
}

function renderVessels() {
  const rows = [...S.positions.values()].sort((a, b) => nameText(a.author).localeCompare(nameText(b.author)));
  $('vessels').querySelector('tbody').innerHTML = rows.map((r) => {
    const b = r.body;
    const course = b.cog_deg != null ? `${Math.round(b.cog_deg)}° ${b.sog_kn ?? 0} kn` : '—';
    return `<tr data-key="${esc(r.author)}" class="vessel${S.selected === r.author ? ' sel' : ''}"><td>${who(r.author)}</td>` +
      `<td>${b.lat.toFixed(4)}N ${b.lon.toFixed(4)}E <span class="dim">${esc(b.nav_status)}</span></td><td>${course}</td>` +
      `<td title="${esc(whenS(r.created))}">${ago(r.created * 1000)}</td></tr>`;
  }).join('');
}

function distressActions(d) {
  if (d.state === 'resolved' || d.state === 'cancelled') return '';
  const id = esc(d.incident);
  const mine = S.status && S.status.id === d.author;
  return `<div class="actions">
    <button data-distress="${id}" data-status="acknowledged">acknowledge</button>
    <button data-distress="${id}" data-status="responding">responding…</button>
    <button data-distress="${id}" data-status="on_scene">on scene</button>
    ${mine ? `<button data-distress="${id}" data-status="resolved">resolved</button><button data-distress="${id}" data-status="cancelled">cancel (false alert)</button>` : ''}
  </div>`;
}
function renderDistress() {
  const list = S.distress;
  if (!list.length) {
    $('distress-board').innerHTML = '<p class="ok">No open distress.</p>';
    return;
  }
  $('distress-board').innerHTML = list.map((d) => {
    const fix = d.fix ? `${d.fix.lat.toFixed(4)}N ${d.fix.lon.toFixed(4)}E` : 'position unknown';
    const acks = d.acknowledged_by.map((a) => `${who(a.key)}${a.shore ? ' (shore)' : ''} at ${when(a.at * 1000)}${a.text ? ` — ${esc(a.text)}` : ''}`);
    const resp = d.responders.map((r) => `${who(r.key)} ${r.on_scene ? '<b>on scene</b>' : `ETA ${r.eta_min ?? '?'} min${r.eta_at ? ` (${when(r.eta_at * 1000)})` : ''}`}${r.distance_km != null ? `, ${r.distance_km.toFixed(1)} km` : ''}`);
    const near = d.nearest.map((n) => `${who(n.key)} ${n.distance_km.toFixed(1)} km`);
    const ended = d.ended ? ` · ${esc(d.state)} by ${who(d.ended.by)} at ${when(d.ended.at * 1000)}` : '';
    return `<div class="incident" data-state="${esc(d.state)}" data-id="${esc(d.incident)}">
      <h3><span class="red">MAYDAY</span> ${esc(d.nature)} · ${d.persons ?? '?'} POB · ${who(d.author)}${d.certified ? '' : ' <span class="warn">(uncertified)</span>'}</h3>
      <div>${fix} · raised ${when(d.raised * 1000)} (${ago(d.raised * 1000)}) · ${esc(d.state)}${ended} ${d.text ? `· “${esc(d.text)}”` : ''}</div>
      <div>acknowledged: ${acks.length ? acks.join('; ') : '<span class="red">nobody yet</span>'}</div>
      <div>responding: ${resp.length ? resp.join('; ') : '—'}</div>
      <div class="dim">nearest: ${near.join('; ') || '—'}</div>
      ${distressActions(d)}
    </div>`;
  }).join('') + '<p class="dim">Ashore, also call 12395.</p>';
}

function caseActions(c) {
  if (c.stage === 'closed' || c.stage.startsWith('escalated')) return '';
  const id = esc(c.case);
  return `<div class="actions">
    <button data-case="${id}" data-step="accept">accept</button>
    <button data-case="${id}" data-step="progress">note…</button>
    <button data-case="${id}" data-step="propose">propose…</button>
    <button data-case="${id}" data-step="sign">co-sign</button>
    <button data-case="${id}" data-step="close">close</button>
    <button data-case="${id}" data-step="escalate" data-to="coast_guard">escalate 95110</button>
    <button data-case="${id}" data-step="escalate" data-to="court">escalate to court</button>
  </div>`;
}
function renderCases() {
  const st = S.stats;
  if (st) {
    const pct = st.handled_rate == null ? '—' : `${Math.round(st.handled_rate * 100)} %`;
    $('case-stats').innerHTML = [['cases', st.total], ['open', st.open], ['accepted', st.accepted], ['closed', st.closed], ['escalated', st.escalated],
      ['to accept (median)', dur(st.median_time_to_accept_s)], ['to close (median)', dur(st.median_time_to_close_s)], ['handled', pct]]
      .map(([k, v]) => `<div><b>${esc(v)}</b>${esc(k)}</div>`).join('');
  }
  drawCaseChart();
  $('cases').innerHTML = S.cases.slice().sort((a, b) => b.filed - a.filed).map((c) => {
    const steps = [[c.filed, `filed by ${who(c.reporter)}`]];
    if (c.accepted) steps.push([c.accepted, `accepted by ${who(c.mediator)}`]);
    for (const p of c.progress) steps.push([p.at, `${esc(p.status)}${p.text ? `: ${esc(p.text)}` : ''}`]);
    if (c.agreement) steps.push([c.agreement.proposed, `agreement proposed: “${esc(c.agreement.text)}”`]);
    if (c.finished) steps.push([c.finished, `${esc(c.stage)}${c.closed_by_signatures ? ' (all parties co-signed)' : ''}`]);
    steps.sort((a, b) => a[0] - b[0]);
    // A party is named as the reporter wrote it, with the key hint given (16 hex digits).
    const parties = c.parties.map((p) => `${esc(p.name)}${p.key ? ` <span class="dim">${short(p.key)}</span>` : ''}${p.signed ? ' ✔' : ''}`).join(', ');
    const signed = c.agreement ? `co-signed by ${c.agreement.signed_by.map(who).join(', ') || 'nobody yet'}${c.agreement.missing ? ` · ${c.agreement.missing} missing` : ''}` : '';
    return `<div class="case" data-stage="${esc(c.stage)}" data-id="${esc(c.case)}">
      <h3>${esc(c.category)} · ${esc(c.stage)} <span class="dim">${short(c.case)}</span></h3>
      <div>${who(c.reporter)}${c.reporter_signed ? ' ✔' : ''} against ${parties} · mediator ${c.mediator ? who(c.mediator) : '<span class="warn">none yet</span>'}</div>
      <div>“${esc(c.description)}”</div>
      <ul class="plain">${steps.map(([t, s]) => `<li><span class="dim">${when(t * 1000)}</span> ${s}</li>`).join('')}</ul>
      ${signed ? `<div>${signed}</div>` : ''}
      ${caseActions(c)}
    </div>`;
  }).join('') || '<p class="dim">No cases.</p>';
}
function drawCaseChart() {
  const cv = $('case-chart');
  const w = (cv.width = cv.clientWidth || 300);
  const h = cv.height;
  const g = cv.getContext('2d');
  g.clearRect(0, 0, w, h);
  const filed = S.cases.map((c) => c.filed).sort((a, b) => a - b);
  const closed = S.cases.filter((c) => c.finished).map((c) => c.finished).sort((a, b) => a - b);
  if (!filed.length) return;
  const t0 = filed[0];
  const t1 = Math.max(Date.now() / 1000, t0 + 60);
  const n = filed.length;
  const line = (ts, colour) => {
    g.strokeStyle = colour;
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(4, h - 12);
    ts.forEach((t, i) => {
      const x = 4 + ((t - t0) / (t1 - t0)) * (w - 8);
      g.lineTo(x, h - 12 - (i / n) * (h - 24));
      g.lineTo(x, h - 12 - ((i + 1) / n) * (h - 24));
    });
    g.lineTo(w - 4, h - 12 - (ts.length / n) * (h - 24));
    g.stroke();
  };
  line(filed, '#1f5f99');
  line(closed, '#2b7a3d');
  g.fillStyle = '#5d6d78';
  g.font = '11px sans-serif';
  g.fillText(`filed (blue) and closed (green) since ${whenS(t0)}`, 6, h - 1);
}

function renderPairs() {
  const p = S.pairs;
  const pairs = p.pairs.map((x) => `<li>${who(x.a)} ⇄ ${who(x.b)} <span class="dim">since ${whenS(x.since)}</span></li>`);
  const partners = p.partners.map((x) => `<li>${x.alarm ? '<b class="red">ALARM</b>' : '<span class="ok">ok</span>'} partner ${who(x.partner)} · last heard ${x.last_heard ? `${whenS(x.last_heard)} (${ago(x.last_heard * 1000)})` : 'never'}${x.due ? ` · due by ${whenS(x.due)}` : ''}</li>`);
  const reports = p.buddy_reports.slice(-20).reverse().map((x) => `<li>${x.overdue ? '<b class="red">overdue</b>' : '<span class="ok">heard again</span>'} ${who(x.partner)} reported by ${who(x.from)} at ${whenS(x.at)}</li>`);
  $('pairs').innerHTML = `<ul class="plain">${pairs.join('') || '<li class="dim">no pairs</li>'}</ul>` +
    (partners.length ? `<h3>our buddy watch</h3><ul class="plain">${partners.join('')}</ul>` : '') +
    (reports.length ? `<h3>alarms raised and cleared</h3><ul class="plain">${reports.join('')}</ul>` : '');
}

// The boat's own GPS as the node's status has it (docs/marine.md): a boat without a fix says so.
function gpsCell(g) {
  if (!g || g.source === 'none') return '<div id="gps"><b class="dim">none</b>own GPS</div>';
  const age = g.fix_age_ms == null ? '' : ` · fix ${Math.round(g.fix_age_ms / 1000)} s old`;
  const cls = g.has_fix ? 'ok' : 'red';
  return `<div id="gps"><b class="${cls}">${esc(g.state)}</b>own GPS (${esc(String(g.source))})${age}</div>`;
}

function renderHealth() {
  const st = S.status;
  if (!st) return;
  const s = st.stats || {};
  const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
  const peers = S.peers.map((p) => `<li>${who(p.id)} ${p.idle ? '<span class="ok">in sync</span>' : '<span class="warn">syncing</span>'}</li>`).join('');
  $('health').innerHTML = `<div class="stats">
      <div><b>${st.store.records}</b>records stored</div><div><b>${kb(st.store.bytes)}</b>store</div>
      <div><b>${st.held}</b>held for the mesh</div><div><b>${s.delivered ?? 0}</b>delivered</div>
      <div><b>${kb(s.bytes_in ?? 0)} / ${kb(s.bytes_out ?? 0)}</b>sync in / out</div>
      <div><b>${s.freed_by_receipt ?? 0}</b>freed by receipts</div>
      <div><b>${(s.refused ?? 0) + (s.bad_signatures ?? 0) + (s.refused_revoked ?? 0)}</b>refused</div>
      <div><b>${s.penalties ?? 0}</b>penalties</div>
      <div><b>${st.shore_age_min == null ? '—' : `${st.shore_age_min} min`}</b>since shore</div>
      ${gpsCell(st.gps)}
    </div><h3>peers</h3><ul class="plain">${peers || '<li class="dim">none connected</li>'}</ul>`;
}

function renderTimeline() {
  $('timeline').innerHTML = S.timeline.slice().reverse().map((e) => `<li><span class="dim">${when(e.at_ms)}</span> <span class="what">${esc(e.what)}</span> ${esc(e.text)}</li>`).join('');
}

// ---- the map ----
// Equirectangular scaled by cos(latitude) around the view's centre: over the tens of km an
// operator looks at near 30°N it is as true as Mercator, and it needs no library.
function project(lon, lat, v, w, h) {
  const c = Math.cos((v.cy * Math.PI) / 180);
  return [w / 2 + (lon - v.cx) * v.k * c, h / 2 - (lat - v.cy) * v.k];
}
function unproject(x, y, v, w, h) {
  const c = Math.cos((v.cy * Math.PI) / 180);
  return [v.cx + (x - w / 2) / (v.k * c), v.cy - (y - h / 2) / v.k];
}
function fit() {
  const pts = [...S.positions.values()].map((r) => [r.body.lon, r.body.lat]);
  for (const d of S.distress) if (d.fix) pts.push([d.fix.lon, d.fix.lat]);
  const cv = $('map');
  const w = cv.clientWidth || 600;
  const h = cv.clientHeight || 400;
  // Zhoushan archipelago by default (121.5-123.5 E, 29.3-31.0 N).
  let [x0, y0, x1, y1] = [121.5, 29.3, 123.5, 31.0];
  if (pts.length) {
    x0 = Math.min(...pts.map((p) => p[0])) - 0.15; x1 = Math.max(...pts.map((p) => p[0])) + 0.15;
    y0 = Math.min(...pts.map((p) => p[1])) - 0.12; y1 = Math.max(...pts.map((p) => p[1])) + 0.12;
    // At least about 150 km across, so that the nearest islands show around a lone fleet.
    const grow = (a, b, min) => (b - a >= min ? [a, b] : [(a + b) / 2 - min / 2, (a + b) / 2 + min / 2]);
    [x0, x1] = grow(x0, x1, 1.6);
    [y0, y1] = grow(y0, y1, 1.0);
  }
  const cy = (y0 + y1) / 2;
  const c = Math.cos((cy * Math.PI) / 180);
  S.view = { cx: (x0 + x1) / 2, cy, k: Math.min(h / (y1 - y0), w / ((x1 - x0) * c)) };
}

function drawTiles(g, v, w, h) {
  const url = S.cfg.tile_url;
  if (!url) return;
  // Web-Mercator tiles placed by their corners in this projection.
  const z = Math.max(0, Math.min(16, Math.round(Math.log2((v.k * 360) / 256))));
  const n = 2 ** z;
  const tx = (lon) => Math.floor(((lon + 180) / 360) * n);
  const ty = (lat) => Math.floor(((1 - Math.log(Math.tan((lat * Math.PI) / 180) + 1 / Math.cos((lat * Math.PI) / 180)) / Math.PI) / 2) * n);
  const lonOf = (x) => (x / n) * 360 - 180;
  const latOf = (y) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;
  const [lw, ln] = unproject(0, 0, v, w, h);
  const [le, ls] = unproject(w, h, v, w, h);
  for (let x = tx(lw); x <= tx(le); x++) {
    for (let y = ty(ln); y <= ty(ls); y++) {
      const src = url.replace('{z}', z).replace('{x}', x).replace('{y}', y);
      let img = S.tiles.get(src);
      if (!img) {
        img = new Image();
        img.onload = () => later(renderMap, 50);
        img.src = src;
        S.tiles.set(src, img);
      }
      if (!img.complete || !img.naturalWidth) continue;
      const [ax, ay] = project(lonOf(x), latOf(y), v, w, h);
      const [bx, by] = project(lonOf(x + 1), latOf(y + 1), v, w, h);
      g.drawImage(img, ax, ay, bx - ax, by - ay);
    }
  }
}

function renderMap() {
  const cv = $('map');
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth;
  const h = cv.clientHeight;
  if (!w || !h) return;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
  }
  if (!S.view || (!S.fitted && S.positions.size)) {
    fit();
    S.fitted = S.positions.size > 0;
  }
  const v = S.view;
  const g = cv.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = '#cfe2ec';
  g.fillRect(0, 0, w, h);
  drawTiles(g, v, w, h);
  if (S.coast) {
    g.fillStyle = S.cfg.tile_url ? 'rgba(230,220,192,0.35)' : '#e6dcc0';
    g.strokeStyle = '#9b8f6e';
    g.lineWidth = 0.8;
    g.beginPath();
    for (const poly of S.coast.geometry.coordinates) {
      for (const ring of poly) {
        ring.forEach(([lon, lat], i) => {
          const [x, y] = project(lon, lat, v, w, h);
          if (i) g.lineTo(x, y); else g.moveTo(x, y);
        });
        g.closePath();
      }
    }
    g.fill('evenodd');
    g.stroke();
  }
  drawScale(g, v, w, h);
  const at = (key) => {
    const r = S.positions.get(key);
    return r ? project(r.body.lon, r.body.lat, v, w, h) : null;
  };
  // The selected vessel's track.
  const track = S.selected && S.tracks.get(S.selected);
  if (track && track.length > 1) {
    g.strokeStyle = '#1f5f99';
    g.lineWidth = 2;
    g.setLineDash([]);
    g.beginPath();
    track.forEach(([lon, lat], i) => {
      const [x, y] = project(lon, lat, v, w, h);
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
    g.fillStyle = '#1f5f99';
    for (const [lon, lat] of track) {
      const [x, y] = project(lon, lat, v, w, h);
      g.fillRect(x - 2, y - 2, 4, 4);
    }
  }
  // Pairs, dashed.
  g.setLineDash([6, 4]);
  g.strokeStyle = '#6a4c93';
  g.lineWidth = 2;
  for (const p of S.pairs.pairs) {
    const a = at(p.a);
    const b = at(p.b);
    if (a && b) { g.beginPath(); g.moveTo(...a); g.lineTo(...b); g.stroke(); }
  }
  g.setLineDash([]);
  // Distress: a red ring, responders joined to it with their ETA.
  const pulse = 0.5 + 0.5 * Math.sin(Date.now() / 300);
  for (const d of S.distress) {
    if (!d.fix || d.state === 'resolved' || d.state === 'cancelled') continue;
    const [x, y] = project(d.fix.lon, d.fix.lat, v, w, h);
    for (const r of d.responders) {
      const p = at(r.key);
      if (!p) continue;
      g.strokeStyle = '#c77700';
      g.lineWidth = 2;
      g.beginPath(); g.moveTo(...p); g.lineTo(x, y); g.stroke();
      g.fillStyle = '#7a4a00';
      g.font = '12px sans-serif';
      g.fillText(r.on_scene ? 'on scene' : `ETA ${r.eta_min ?? '?'} min`, (p[0] + x) / 2 + 4, (p[1] + y) / 2 - 4);
    }
    g.strokeStyle = '#c8102e';
    g.lineWidth = 3;
    g.beginPath(); g.arc(x, y, 14 + 6 * pulse, 0, 2 * Math.PI); g.stroke();
    g.beginPath(); g.arc(x, y, 5, 0, 2 * Math.PI); g.fillStyle = '#c8102e'; g.fill();
    g.font = 'bold 13px sans-serif';
    g.fillText(`MAYDAY ${d.nature} ${d.persons ?? "?"} POB`, x + 20, y + 26);
  }
  // Vessels and stations at their latest fix.
  g.font = '12px sans-serif';
  for (const [key, r] of S.positions) {
    const [x, y] = project(r.body.lon, r.body.lat, v, w, h);
    const role = roleOf(key);
    const sel = key === S.selected;
    g.fillStyle = role === 'shore' ? '#2b7a3d' : role === 'mediator' ? '#6a4c93' : '#1f5f99';
    g.strokeStyle = sel ? '#f2b705' : '#fff';
    g.lineWidth = sel ? 3 : 1.5;
    g.save();
    g.translate(x, y);
    if (role === 'shore') {
      g.fillRect(-6, -6, 12, 12); g.strokeRect(-6, -6, 12, 12);
    } else {
      g.rotate(((r.body.cog_deg ?? 0) * Math.PI) / 180);
      g.beginPath();
      if (role === 'mediator') { g.moveTo(0, -10); g.lineTo(7, 0); g.lineTo(0, 10); g.lineTo(-7, 0); } else { g.moveTo(0, -11); g.lineTo(7, 8); g.lineTo(-7, 8); }
      g.closePath(); g.fill(); g.stroke();
    }
    g.restore();
    const label = `${nameText(key)} · ${ago(r.created * 1000)}${r.body.cog_deg != null ? ` · ${Math.round(r.body.cog_deg)}°` : ''}`;
    g.fillStyle = '#fffd';
    const tw = g.measureText(label).width;
    g.fillRect(x + 10, y - 17, tw + 6, 15);
    g.fillStyle = '#17242d';
    g.fillText(label, x + 13, y - 5);
  }
  cv.dataset.vessels = S.positions.size;
  cv.dataset.distress = S.distress.filter((d) => d.state !== 'resolved' && d.state !== 'cancelled').length;
}
function drawScale(g, v, w, h) {
  // 10 km (or 1 km when zoomed in) bar, bottom right.
  const pxPerKm = v.k / 111.2;
  const km = pxPerKm * 10 > 200 ? 1 : pxPerKm * 10 < 30 ? 50 : 10;
  const len = km * pxPerKm;
  g.strokeStyle = '#17242d';
  g.lineWidth = 2;
  g.beginPath(); g.moveTo(w - 20 - len, h - 20); g.lineTo(w - 20, h - 20); g.stroke();
  g.fillStyle = '#17242d';
  g.font = '11px sans-serif';
  g.fillText(`${km} km`, w - 20 - len, h - 24);
}

function mapControls() {
  const cv = $('map');
  const zoom = (f, cx, cy) => {
    if (!S.view) return;
    const w = cv.clientWidth;
    const h = cv.clientHeight;
    const [lon, lat] = unproject(cx ?? w / 2, cy ?? h / 2, S.view, w, h);
    S.view.k = Math.max(5, Math.min(50000, S.view.k * f));
    const [lon2, lat2] = unproject(cx ?? w / 2, cy ?? h / 2, S.view, w, h);
    S.view.cx += lon - lon2;
    S.view.cy += lat - lat2;
    renderMap();
  };
  $('zoom-in').onclick = () => zoom(1.5);
  $('zoom-out').onclick = () => zoom(1 / 1.5);
  $('zoom-fit').onclick = () => { fit(); renderMap(); };
  cv.addEventListener('wheel', (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1.25 : 0.8, e.offsetX, e.offsetY); }, { passive: false });
  let drag = null;
  cv.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY, moved: false }; cv.setPointerCapture(e.pointerId); });
  cv.addEventListener('pointermove', (e) => {
    if (!drag || !S.view) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (!drag.moved) return;
    const c = Math.cos((S.view.cy * Math.PI) / 180);
    S.view.cx -= dx / (S.view.k * c);
    S.view.cy += dy / S.view.k;
    drag.x = e.clientX;
    drag.y = e.clientY;
    renderMap();
  });
  cv.addEventListener('pointerup', (e) => {
    if (drag && !drag.moved && S.view) select(nearestVessel(e.offsetX, e.offsetY));
    drag = null;
  });
  window.addEventListener('resize', () => later(renderMap, 50));
}
function nearestVessel(x, y) {
  const cv = $('map');
  let best = null;
  let bd = 20 * 20;
  for (const [key, r] of S.positions) {
    const [px, py] = project(r.body.lon, r.body.lat, S.view, cv.clientWidth, cv.clientHeight);
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d < bd) { bd = d; best = key; }
  }
  return best;
}
function select(key) {
  S.selected = key === S.selected ? null : key;
  renderMap();
  renderVessels();
}

// ---- actions (the same API as the CLI) ----
function wire() {
  document.body.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    const row = e.target.closest('tr.vessel');
    if (row && !b) { select(row.dataset.key); return; }
    if (!b) return;
    if (b.dataset.distress) {
      const body = { status: b.dataset.status };
      if (body.status === 'responding') {
        const eta = prompt('ETA, minutes:', '30');
        if (eta === null) return;
        body.eta_min = Number(eta);
      }
      const text = b.dataset.status === 'acknowledged' ? prompt('Message (optional):', '') : null;
      if (text) body.text = text;
      act(`/api/v1/distress/${b.dataset.distress}`, body, `distress ${short(b.dataset.distress)}: ${body.status} sent`);
    } else if (b.dataset.case) {
      const body = { step: b.dataset.step };
      if (b.dataset.to) body.to = b.dataset.to;
      if (body.step === 'propose' || body.step === 'progress') {
        const t = prompt(body.step === 'propose' ? 'Agreement text:' : 'Note:', '');
        if (!t) return;
        body.text = t;
      }
      act(`/api/v1/cases/${b.dataset.case}`, body, `case ${short(b.dataset.case)}: ${body.step} sent`);
    }
  });
  $('file-case').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const party = { name: f.get('party_name') };
    if (f.get('party_key')) party.key = f.get('party_key');
    act('/api/v1/cases', { category: f.get('category'), parties: [party], description: f.get('description') }, 'dispute filed');
  });
  $('import').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    act('/api/v1/records/import', { author: f.get('author').trim(), record: f.get('record').trim() }, 'record imported');
  });
  $('distress-all').addEventListener('change', () => reload(loadDistress));
  $('token-btn').onclick = () => askToken();
  mapControls();
  setInterval(() => {
    $('clock').textContent = new Date().toLocaleTimeString();
    // Ages of fixes move on, and the distress ring pulses.
    renderMap();
  }, 1000);
  setInterval(() => renderVessels(), 10000);
}

async function start() {
  wire();
  try {
    S.cfg = await (await fetch('/dashboard/config.json')).json();
  } catch (e) {
    S.cfg = {};
  }
  fetch('/dashboard/coast.json').then((r) => r.json()).then((c) => { S.coast = c; renderMap(); });
  if (S.cfg.token_required && !S.token) askToken('This station needs its API token to show its views.');
  connect();
}
start();
