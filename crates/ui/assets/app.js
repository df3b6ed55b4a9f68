// The Lattice dashboard: applies the server's feed (SSE) to local maps and renders them.
// Plain modern JavaScript, no dependencies, no build step. The server aggregates; this
// file only keeps the latest objects per section and draws them.
"use strict";

const SECTIONS = ["hosts", "actors", "providers", "links", "edges"];
const state = { hosts: new Map(), actors: new Map(), providers: new Map(), links: new Map(), edges: new Map() };
const alerts = [];
const events = [];
const MAX_ALERTS = 200, MAX_EVENTS = 100, MAX_GRAPH_NODES = 60;
let stats = {};
let lagMs = null;
let dirty = new Set(SECTIONS.concat(["alerts", "events", "stats"]));

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const short = (k) => (k && k.length > 12 ? k.slice(0, 6) + "…" + k.slice(-4) : k || "?");
const kindOf = (k) => (k || "").startsWith("M") ? "actor" : (k || "").startsWith("V") ? "provider" : "other";

function names() {
  const n = new Map();
  for (const a of state.actors.values()) if (a.name) n.set(a.id, a.name);
  for (const p of state.providers.values()) if (p.name) n.set(p.id, p.name);
  return n;
}

function apply(msg) {
  if (msg.reset) {
    for (const s of SECTIONS) state[s].clear();
    alerts.length = 0;
    events.length = 0;
  }
  for (const [s, items] of Object.entries(msg.upsert || {})) {
    for (const [id, v] of Object.entries(items)) state[s]?.set(id, v);
    dirty.add(s);
  }
  for (const [s, ids] of Object.entries(msg.remove || {})) {
    for (const id of ids) state[s]?.delete(id);
    dirty.add(s);
  }
  if (msg.alerts?.length) { alerts.push(...msg.alerts); alerts.splice(0, Math.max(0, alerts.length - MAX_ALERTS)); dirty.add("alerts"); }
  if (msg.events?.length) { events.push(...msg.events); events.splice(0, Math.max(0, events.length - MAX_EVENTS)); dirty.add("events"); }
  stats = msg.stats || stats;
  lagMs = Math.max(0, Date.now() - msg.t);
  document.body.dataset.seq = msg.seq;
  dirty.add("stats");
  schedule();
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

function render() {
  const d = dirty;
  dirty = new Set();
  if (d.has("hosts") || d.has("actors") || d.has("providers")) renderHosts();
  if (d.has("links") || d.has("actors") || d.has("providers")) renderLinks();
  if (d.has("edges") || d.has("actors") || d.has("providers")) renderGraph();
  if (d.has("alerts") || d.has("stats")) renderAlerts();
  if (d.has("events")) renderEvents();
  renderCounters();
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  return Math.floor(s / 86400) + "d " + Math.floor((s % 86400) / 3600) + "h";
}
const fmtMs = (v) => v == null ? "–" : v < 1 ? v.toFixed(2) + " ms" : v < 100 ? v.toFixed(1) + " ms" : Math.round(v) + " ms";
const fmtRate = (r) => r >= 100 ? Math.round(r).toString() : r.toFixed(1);
const fmtPct = (e) => e === 0 ? "0%" : e < 0.001 ? "<0.1%" : (e * 100).toFixed(1) + "%";

function renderCounters() {
  $("n-hosts").textContent = state.hosts.size;
  $("n-actors").textContent = new Set([...state.actors.values()].map((a) => a.id)).size;
  $("n-providers").textContent = new Set([...state.providers.values()].map((p) => p.id + "/" + p.link_name)).size;
  $("n-links").textContent = state.links.size;
  let total = 0;
  for (const e of state.edges.values()) total += e.rate;
  $("n-rate").textContent = fmtRate(total);
  $("n-alerts").textContent = stats.alerts_total ?? 0;
  $("feed-lag").textContent = lagMs == null ? "–" : lagMs + " ms";
  $("feed-dropped").textContent = stats.dropped_updates ?? 0;
  const info = stats.info || {};
  $("lattice-name").textContent = info.lattice ? "· " + info.lattice : "";
  $("graph-window").textContent = stats.window_s ? "last " + stats.window_s + " s" : "";
  $("n-alerts").parentElement.classList.toggle("hot", (stats.alerts_total ?? 0) > 0);
  if (document.body.dataset.feed === "live") {
    const up = stats.nats_connected !== false;
    $("feed-state").textContent = up ? "live" : "NATS disconnected";
    $("feed-state").className = up ? "pill live" : "pill down";
    const slow = stats.slow_consumer ?? 0;
    $("feed-state").title = slow ? `NATS dropped messages ${slow} time(s): the graph undercounts` : "";
  }
}

function labelChips(labels) {
  const entries = Object.entries(labels || {}).filter(([k]) => !k.startsWith("hostcore."));
  const core = Object.entries(labels || {}).filter(([k]) => k.startsWith("hostcore."));
  const chips = entries.map(([k, v]) => `<span class="chip">${esc(k)}=${esc(v)}</span>`);
  if (core.length) chips.push(`<span class="chip dim" title="${esc(core.map(([k, v]) => k + "=" + v).join("\n"))}">${core.map(([, v]) => esc(v)).join(" · ")}</span>`);
  return chips.join("");
}

// A host with hundreds of entities shows the first few; the counts say how many there are.
const HOST_LIST_MAX = 12;
const capList = (items) => items.length > HOST_LIST_MAX
  ? items.slice(0, HOST_LIST_MAX).join("") + `<li class="muted">… and ${items.length - HOST_LIST_MAX} more</li>`
  : items.join("");

function renderHosts() {
  const el = $("hosts");
  if (state.hosts.size === 0) { el.innerHTML = '<p class="empty">No hosts answer on this lattice (yet).</p>'; return; }
  const byHost = new Map();
  for (const a of state.actors.values()) (byHost.get(a.host) || byHost.set(a.host, { a: [], p: [] }).get(a.host)).a.push(a);
  for (const p of state.providers.values()) (byHost.get(p.host) || byHost.set(p.host, { a: [], p: [] }).get(p.host)).p.push(p);
  const hosts = [...state.hosts.values()].sort((x, y) => (x.name || x.id).localeCompare(y.name || y.id));
  el.innerHTML = hosts.map((h) => {
    const inv = byHost.get(h.id) || { a: [], p: [] };
    const actors = capList(inv.a.sort((x, y) => (x.name || x.id).localeCompare(y.name || y.id)).map((a) =>
      `<li class="actor" data-key="${esc(a.id)}" title="${esc(a.id)}\n${esc(a.image_ref)}"><span class="dot actor"></span><b>${esc(a.name || short(a.id))}</b> <code>${esc(short(a.id))}</code><span class="badge">×${esc(a.instances)}</span></li>`));
    const providers = capList(inv.p.sort((x, y) => (x.name || x.id).localeCompare(y.name || y.id)).map((p) =>
      `<li class="provider" data-key="${esc(p.id)}" data-link="${esc(p.link_name)}" title="${esc(p.id)}"><span class="dot provider"></span><b>${esc(p.name || short(p.id))}</b> <code>${esc(short(p.id))}</code> <span class="contract">${esc(p.contract)}</span>${p.link_name !== "default" ? ` <span class="chip">${esc(p.link_name)}</span>` : ""}</li>`));
    return `<article class="host ${esc(h.state)}" data-host="${esc(h.id)}" data-state="${esc(h.state)}" data-interval="${esc(h.interval_ms)}">
      <header><span class="state-dot"></span><b>${esc(h.name || short(h.id))}</b> <code title="${esc(h.id)}">${esc(short(h.id))}</code>
        <span class="state-label">${h.state === "up" ? "" : esc(h.state)}</span>
        <span class="when" data-started="${h.started_ms}" data-seen="${h.last_seen_ms}"></span></header>
      <div class="labels">${labelChips(h.labels)}${h.version ? `<span class="chip dim">v${esc(h.version)}</span>` : ""}</div>
      <div class="inv"><div><h3>actors <span class="muted">${inv.a.length}</span></h3><ul>${actors || '<li class="muted">none</li>'}</ul></div>
      <div><h3>providers <span class="muted">${inv.p.length}</span></h3><ul>${providers || '<li class="muted">none</li>'}</ul></div></div>
    </article>`;
  }).join("");
  updateAges();
}

function updateAges() {
  const now = Date.now();
  for (const w of document.querySelectorAll("#hosts .when")) {
    const up = now - Number(w.dataset.started), age = now - Number(w.dataset.seen);
    w.textContent = `up ${fmtDuration(up)} · seen ${age < 1000 ? "now" : fmtDuration(age) + " ago"}`;
  }
  if (lagMs != null && document.body.dataset.feed === "live") {
    // Nothing for a while: say so (the server sends stats every tick).
  }
}

function renderLinks() {
  const n = names();
  const rows = [...state.links.entries()].sort(([, a], [, b]) => (a.actor_name + a.contract).localeCompare(b.actor_name + b.contract));
  $("links").querySelector("tbody").innerHTML = rows.length ? rows.map(([id, l]) => {
    const values = Object.entries(l.values || {}).map(([k, v]) => `<span class="chip"><b>${esc(k)}</b>=${esc(v)}</span>`).join(" ");
    return `<tr data-link-id="${esc(id)}" data-actor="${esc(l.actor)}" data-provider="${esc(l.provider)}" data-contract="${esc(l.contract)}">
      <td><span class="dot actor"></span>${esc(l.actor_name || n.get(l.actor) || short(l.actor))}</td><td class="arrow">→</td>
      <td><span class="dot provider"></span>${esc(l.provider_name || n.get(l.provider) || short(l.provider))}</td>
      <td class="contract">${esc(l.contract)}${l.link_name !== "default" ? ` <span class="chip">${esc(l.link_name)}</span>` : ""}</td>
      <td>${values || '<span class="muted">–</span>'}</td></tr>`;
  }).join("") : '<tr><td colspan="5" class="empty">No links.</td></tr>';
}

// ---- the call graph: entities as nodes in layers (callers left, callees right) ----

function renderGraph() {
  const n = names();
  const edges = [...state.edges.values()].sort((a, b) => b.rate - a.rate);
  const label = (k, fallback) => n.get(k) || fallback || short(k);
  // Table: every edge.
  $("edges").querySelector("tbody").innerHTML = edges.length ? edges.map((e) => {
    const hot = e.error_rate > 0.05 ? " bad" : "";
    return `<tr class="edge${hot}" data-edge="${esc(e.from)}>${esc(e.to)}" data-from="${esc(e.from)}" data-to="${esc(e.to)}" data-rate="${e.rate}" data-error-rate="${e.error_rate}">
      <td><span class="dot ${kindOf(e.from)}"></span>${esc(label(e.from, e.from_name))}</td><td class="arrow">→</td>
      <td><span class="dot ${kindOf(e.to)}"></span>${esc(label(e.to, e.to_name))}</td>
      <td class="num">${fmtRate(e.rate)}</td><td class="num">${fmtPct(e.error_rate)}</td>
      <td class="num">${fmtMs(e.p50_ms)}</td><td class="num">${fmtMs(e.p99_ms)}</td></tr>`;
  }).join("") : '<tr><td colspan="7" class="empty">No calls in the window.</td></tr>';

  // Nodes: every running entity plus every edge end; the busiest first if there are too many.
  const traffic = new Map();
  const add = (k, r) => traffic.set(k, (traffic.get(k) || 0) + r);
  for (const a of state.actors.values()) add(a.id, 0);
  for (const p of state.providers.values()) add(p.id, 0);
  for (const e of edges) { add(e.from, e.rate); add(e.to, e.rate); }
  let keys = [...traffic.keys()];
  const hidden = Math.max(0, keys.length - MAX_GRAPH_NODES);
  if (hidden) keys = keys.sort((a, b) => traffic.get(b) - traffic.get(a)).slice(0, MAX_GRAPH_NODES);
  const shown = new Set(keys);
  const gEdges = edges.filter((e) => shown.has(e.from) && shown.has(e.to) && e.from !== e.to);
  if (keys.length === 0) { $("graph").innerHTML = '<p class="empty">Nothing runs on this lattice yet.</p>'; return; }

  // Layer = longest path from a node nobody calls (bounded, so cycles end).
  const depth = new Map(keys.map((k) => [k, 0]));
  for (let i = 0; i < keys.length; i++) {
    let changed = false;
    for (const e of gEdges) {
      const d = depth.get(e.from) + 1;
      if (d > depth.get(e.to) && d < keys.length) { depth.set(e.to, d); changed = true; }
    }
    if (!changed) break;
  }
  // Entities with no traffic go in their own column on the right, callers of nothing.
  const idle = keys.filter((k) => !gEdges.some((e) => e.from === k || e.to === k));
  const maxBusy = Math.max(0, ...keys.filter((k) => !idle.includes(k)).map((k) => depth.get(k)));
  for (const k of idle) depth.set(k, gEdges.length ? maxBusy + 1 : 0);
  const columns = [];
  for (const k of keys) (columns[depth.get(k)] ||= []).push(k);
  const order = (a, b) => kindOf(a).localeCompare(kindOf(b)) || label(a).localeCompare(label(b));
  columns.forEach((c) => c && c.sort(order));

  // Columns spread over the card's width (at least GX_MIN apart, for the edge labels).
  const W = 180, H = 50, GY = 24, PAD = 16, GX_MIN = 170;
  const avail = ($("graph").clientWidth || 900) - 2 * PAD - columns.length * W;
  const GX = columns.length > 1 ? Math.max(GX_MIN, Math.min(320, avail / (columns.length - 1))) : 0;
  const pos = new Map();
  const rows = Math.max(...columns.map((c) => (c ? c.length : 0)));
  columns.forEach((c, ci) => (c || []).forEach((k, ri) => {
    const offset = ((rows - c.length) * (H + GY)) / 2;
    pos.set(k, { x: PAD + ci * (W + GX), y: PAD + offset + ri * (H + GY) });
  }));
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GX;
  const height = PAD * 2 + rows * H + (rows - 1) * GY + 10;
  const maxRate = Math.max(1, ...gEdges.map((e) => e.rate));

  const paths = gEdges.map((e) => {
    const a = pos.get(e.from), b = pos.get(e.to);
    const fwd = b.x > a.x;
    const x1 = fwd ? a.x + W : a.x, y1 = a.y + H / 2, x2 = fwd ? b.x : b.x + W, y2 = b.y + H / 2;
    const bend = fwd ? (x2 - x1) / 2 : -80;
    const d = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
    const w = 1.5 + 4 * Math.log1p(e.rate) / Math.log1p(maxRate);
    const cls = e.error_rate > 0.05 ? "bad" : e.error_rate > 0 ? "warn" : "ok";
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2 - 10;
    const text = `${fmtRate(e.rate)}/s · ${fmtPct(e.error_rate)} err`;
    const text2 = `p50 ${fmtMs(e.p50_ms)} · p99 ${fmtMs(e.p99_ms)}`;
    return `<g class="gedge ${cls}"><path d="${d}" stroke-width="${w.toFixed(1)}" marker-end="url(#arrow-${cls})"/>
      <text x="${mx}" y="${my - 14}" class="elabel">${esc(text)}</text><text x="${mx}" y="${my}" class="elabel sub">${esc(text2)}</text></g>`;
  }).join("");
  const nodes = keys.map((k) => {
    const p = pos.get(k), kind = kindOf(k);
    const prov = [...state.providers.values()].find((x) => x.id === k);
    const act = [...state.actors.values()].filter((x) => x.id === k).reduce((n, a) => n + a.instances, 0);
    const sub = kind === "provider" ? (prov ? prov.contract : "provider") : kind === "actor" ? (act ? `actor ×${act}` : "actor") : "not running here";
    return `<g class="gnode ${kind}" data-key="${esc(k)}" transform="translate(${p.x},${p.y})"><title>${esc(k)}</title>
      <rect width="${W}" height="${H}" rx="10"/><text x="14" y="21" class="nname">${esc(label(k).slice(0, 20))}</text>
      <text x="14" y="39" class="nsub">${esc(sub.slice(0, 26))}</text></g>`;
  }).join("");
  const marker = (c) => `<marker id="arrow-${c}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="m-${c}"/></marker>`;
  $("graph").innerHTML = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="call graph">
    <defs>${marker("ok")}${marker("warn")}${marker("bad")}</defs>${paths}${nodes}</svg>` +
    (hidden ? `<p class="muted">${hidden} quieter entities not drawn (all edges are in the table).</p>` : "");
}

function renderAlerts() {
  const info = stats.info || {};
  $("alerts-note").textContent = info.alerts_on === false ? "off: start with --issuer C… to verify claims" : (info.issuers?.length ? `trusting ${info.issuers.length} issuer${info.issuers.length > 1 ? "s" : ""}` : "");
  $("alerts").innerHTML = alerts.length ? alerts.slice().reverse().map((a) =>
    `<li class="alert" data-kind="${esc(a.kind)}" data-seq="${esc(a.seq)}"><span class="kind">${esc(a.kind)}</span>
      <span class="time">${esc((a.time || "").slice(11, 23))}</span>
      <div class="what">${esc(a.operation || "?")} <span class="muted">from</span> <code>${esc(short(a.origin))}</code> <span class="muted">to</span> <code>${esc(short(a.target))}</code></div>
      <div class="reason">${esc(a.reason)}</div></li>`).join("")
    : `<li class="empty">${info.alerts_on === false ? "Alerts are off." : "No forged invocations seen."}</li>`;
}

function renderEvents() {
  // Heartbeats come every few seconds per host: a run of them from one host is one row.
  const rows = [];
  for (const e of events.slice().reverse()) {
    const last = rows[rows.length - 1];
    if (last && e.type.endsWith("host_heartbeat") && last.e.type === e.type && last.e.source === e.source) { last.n++; continue; }
    rows.push({ e, n: 1 });
  }
  const hostName = (id) => state.hosts.get(id)?.name || short(id);
  $("events").innerHTML = rows.length ? rows.map(({ e, n }) =>
    `<li class="event" data-type="${esc(e.type)}"><span class="time">${esc((e.time || "").slice(11, 23))}</span>
      <span class="etype">${esc((e.type || "").replace("com.wasmcloud.lattice.", ""))}${n > 1 ? ` <span class="badge">×${n}</span>` : ""}</span>
      <span class="about" title="${esc(e.subject)}\nfrom ${esc(e.source)}">${esc(e.about || e.subject)} <span class="muted">· ${esc(hostName(e.source))}</span></span></li>`).join("")
    : '<li class="empty">No events yet.</li>';
}

function connect() {
  const es = new EventSource("/api/feed");
  es.onopen = () => { document.body.dataset.feed = "live"; $("feed-state").textContent = "live"; $("feed-state").className = "pill live"; };
  es.onmessage = (ev) => { try { apply(JSON.parse(ev.data)); } catch (e) { console.error("bad feed message", e); } };
  es.onerror = () => { document.body.dataset.feed = "reconnecting"; $("feed-state").textContent = "reconnecting…"; $("feed-state").className = "pill down"; };
}

setInterval(updateAges, 1000);
connect();
addEventListener("resize", () => { dirty.add("edges"); schedule(); });
