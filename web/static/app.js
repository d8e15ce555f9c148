// dnsward's page: plain DOM and SVG, no library, so that it is small,
// loads offline from the binary and is covered by the page's CSP.
"use strict";

const $ = (id) => document.getElementById(id);
const maxRows = 500;      // stream rows shown
const maxHeld = 5000;     // stream rows held while paused

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el("tr", undefined, cls);
  for (const c of cells) {
    const td = el("td");
    if (c instanceof Node) td.append(c); else td.textContent = c;
    tr.append(td);
  }
  return tr;
}

function clientLink(addr) {
  const a = el("a", addr, "client");
  a.href = "#client/" + addr;
  return a;
}

const pct = (x) => (100 * x).toFixed(1) + " %";
const num = (x) => x.toLocaleString("en");
const clock = (t) => new Date(t).toLocaleTimeString();
const when = (t) => new Date(t).toLocaleString();
function bytes(n) {
  const u = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

// Sections, by the URL's fragment: #name or #client/ADDR.
function route() {
  const [name, arg] = (location.hash.slice(1) || "dashboard").split("/");
  for (const s of document.querySelectorAll("main section")) s.classList.toggle("shown", s.id === name);
  if (name === "client" && arg) { $("client-addr").value = arg; showClient(arg); }
}
window.addEventListener("hashchange", route);

// Dashboard.
function showSummary(s) {
  const l = s.last;
  $("fig-qps").textContent = l.qps.toFixed(1);
  $("fig-queries").textContent = num(s.queries);
  $("fig-hit").textContent = pct(l.hit_ratio);
  $("fig-blocked").textContent = pct(s.queries ? s.blocked / s.queries : 0);
  $("fig-upstream").textContent = l.upstream_ms.toFixed(1) + " ms";
  $("fig-errors").textContent = num(l.upstream_errors);
  $("fig-logq").textContent = num(l.log_queued);
  $("fig-spool").textContent = bytes(l.log_spooled_bytes);
}

// chart draws series of values as polylines in svg, scaled to the largest.
function chart(svg, ...series) {
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const top = Math.max(1e-9, ...series.flat());
  series.forEach((vals, k) => {
    if (vals.length === 1) vals = [vals[0], vals[0]]; // one step so far: a level line
    const n = Math.max(1, vals.length - 1);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", vals.map((v, i) => (360 * i / n).toFixed(1) + "," + (98 - 90 * v / top).toFixed(1)).join(" "));
    if (k) line.setAttribute("class", "second");
    svg.append(line);
  });
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "2"); label.setAttribute("y", "9");
  label.textContent = "max " + (top < 10 ? top.toFixed(2) : Math.round(top));
  svg.append(label);
}

async function loadSeries() {
  try {
    const pts = await getJSON("api/series?span=" + $("span").value);
    chart($("chart-qps"), pts.map((p) => p.qps));
    chart($("chart-hit"), pts.map((p) => p.hit_ratio));
    chart($("chart-blocked"), pts.map((p) => p.blocked_share));
    chart($("chart-upstream"), pts.map((p) => p.upstream_ms));
    chart($("chart-errors"), pts.map((p) => p.upstream_errors));
    chart($("chart-log"), pts.map((p) => p.log_queued), pts.map((p) => p.log_spooled_bytes));
  } catch (e) { $("status").textContent = "series: " + e.message; }
}
$("span").addEventListener("change", loadSeries);

// Top lists.
async function loadTop() {
  try {
    const t = await getJSON("api/top?span=" + $("top-span").value);
    $("top-clients").replaceChildren(...t.clients.map((c) => row([clientLink(c.key), num(c.count)])));
    $("top-names").replaceChildren(...t.names.map((c) => row([c.key, num(c.count)])));
    $("top-blocked").replaceChildren(...t.blocked.map((c) => row([c.key, c.list, num(c.count)])));
    $("top-other").textContent = t.other ? num(t.other) + " queries past the lists' caps" : "";
  } catch (e) { $("status").textContent = "top: " + e.message; }
}
$("top-span").addEventListener("change", loadTop);

// Live stream: paused, rows are held, not lost, and shown on resume.
let paused = false;
let held = [];
let heldLost = 0;
let source = null;

function streamRow(q) {
  return row([clock(q.time), clientLink(q.client), q.name, q.type, q.source, q.rcode, q.latency_ms.toFixed(1),
    q.block_rule ? q.block_list + ": " + q.block_rule : ""], q.source === "blocked" ? "blocked" : "");
}

function addRows(qs) {
  const body = $("stream-rows");
  body.prepend(...qs.reverse().map(streamRow));
  while (body.children.length > maxRows) body.lastChild.remove();
}

function showHeld() {
  $("stream-held").textContent = paused ? held.length + " new" + (heldLost ? ", " + heldLost + " not kept" : "") : "";
}

$("pause").addEventListener("click", () => {
  paused = !paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (!paused) { addRows(held); held = []; heldLost = 0; }
  showHeld();
});

function connect() {
  if (source) source.close();
  const q = new URLSearchParams();
  for (const [k, id] of [["client", "f-client"], ["suffix", "f-suffix"], ["source", "f-source"]]) {
    const v = $(id).value.trim();
    if (v) q.set(k, v);
  }
  source = new EventSource("api/stream?" + q);
  source.addEventListener("open", () => { $("status").textContent = "live"; });
  source.addEventListener("error", () => { $("status").textContent = "reconnecting…"; });
  source.addEventListener("summary", (m) => showSummary(JSON.parse(m.data)));
  source.addEventListener("dropped", (m) => { $("status").textContent = "live (" + m.data + " queries too fast to show)"; });
  source.addEventListener("query", (m) => {
    const ev = JSON.parse(m.data);
    if (!paused) { addRows([ev]); return; }
    held.push(ev);
    if (held.length > maxHeld) { held.shift(); heldLost++; }
    showHeld();
  });
}
for (const id of ["f-client", "f-suffix", "f-source"]) $(id).addEventListener("change", connect);
$("stream-filters").addEventListener("submit", (e) => { e.preventDefault(); connect(); });

// Who is this IP.
$("who-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("who-rows").replaceChildren();
  try {
    const r = await getJSON("api/who?addr=" + encodeURIComponent($("who-addr").value.trim()));
    $("who-note").textContent = r.entries.length + " found" + (r.from === "log" ? " in the query log files (the answer index is off)" : " in the answer index");
    $("who-rows").replaceChildren(...r.entries.map((w) => row([clientLink(w.client), w.host || w.mac || "", w.name,
      (w.chain || []).join(" > "), when(w.first_asked), when(w.last_asked), when(w.valid_until)])));
  } catch (err) { $("who-note").textContent = err.message; }
});

// Why is this name blocked.
$("why-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = new URLSearchParams({ name: $("why-name").value.trim() });
  if ($("why-client").value.trim()) q.set("client", $("why-client").value.trim());
  const out = $("why-out");
  try {
    const w = await getJSON("api/why?" + q);
    out.className = w.blocked ? "blocked" : w.rule ? "allowed" : "";
    out.textContent = w.blocked ? w.name + " is blocked by list " + w.list + ", rule " + w.rule
      : w.rule ? w.name + " is allowed by list " + w.list + ", rule " + w.rule
      : w.name + " is not blocked: no list names it";
  } catch (err) { out.className = ""; out.textContent = err.message; }
});

// A client's page.
async function showClient(addr) {
  try {
    const c = await getJSON("api/client?addr=" + encodeURIComponent(addr));
    $("client-recent").replaceChildren(...c.recent.map((q) => row([clock(q.time), q.name, q.source], q.source === "blocked" ? "blocked" : "")));
    $("client-blocked").replaceChildren(...c.blocked.map((q) => row([clock(q.time), q.name, q.block_list, q.block_rule])));
    $("client-flows").replaceChildren(...c.flows.map((f) => row([clock(f.time), f.dest, f.proto, f.verdict, f.attribution,
      (f.names || []).join(", "), f.repeats || ""], f.attribution === "no_lookup" ? "blocked" : "")));
  } catch (err) { $("client-recent").replaceChildren(row([err.message])); }
}
$("client-form").addEventListener("submit", (e) => { e.preventDefault(); location.hash = "#client/" + $("client-addr").value.trim(); });

route();
connect();
loadSeries();
loadTop();
setInterval(loadSeries, 10000);
setInterval(loadTop, 30000);
