// The reports page: the supervisors' live view (every 10 s), the summary per channel / team /
// agent / class with a chart, the complaint heat map, and CSV downloads. Uses the console's
// session (same origin, same localStorage).

import { api, session } from "./api.js";
import { $, clear, duration, h } from "./dom.js";

const DAY = 24 * 3600 * 1000;
const SVG = "http://www.w3.org/2000/svg";

function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10}%`; }
function secs(v) { return v === null || v === undefined ? "–" : duration(v * 1000); }

function table(node, head, rows) {
  clear(node,
    h("thead", null, h("tr", null, head.map((t) => h("th", { text: t })))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: head.length, class: "muted", text: "Nothing" }))));
}

function range() {
  const form = $("#range");
  const from = new Date(`${form.from.value}T00:00:00`).getTime();
  const to = new Date(`${form.to.value}T00:00:00`).getTime() + DAY;
  return `from=${from}&to=${to}`;
}

// --- live -------------------------------------------------------------------------------------
async function loadLive() {
  const live = await api("GET", "/reports/live");
  table($("#live-queue"), ["Class", "Waiting", "Oldest wait"], live.queue.map((q) =>
    h("tr", null, h("td", { text: q.priority }), h("td", { text: q.waiting }),
      h("td", { text: q.waiting ? duration(q.oldest_wait_seconds * 1000) : "–" }))));
  table($("#live-agents"), ["Agent", "Status", "Load"], live.agents.map((a) =>
    h("tr", null, h("td", { text: a.name || a.id }), h("td", { text: a.status }),
      h("td", { text: `${a.load} / ${a.capacity}` }))));
  table($("#live-risk"), ["Conversation", "Class", "Due in"], live.sla_at_risk.map((r) =>
    h("tr", null,
      h("td", null, h("a", { href: `/console#/inbox/${encodeURIComponent(r.conversation_id)}`, text: r.conversation_id })),
      h("td", { text: r.priority || "" }),
      h("td", { class: r.overdue ? "late" : "", text: r.overdue ? "overdue" : duration(r.due - live.now) }))));
  clear($("#live-spikes"), live.mention_spikes.length
    ? live.mention_spikes.map((s) => h("li", { text: `${s.channel_id} at ${new Date(s.bucket).toLocaleTimeString()}` }))
    : h("li", { class: "muted", text: "None" }));
}

// --- summary ----------------------------------------------------------------------------------
async function loadSummary() {
  const by = $("#range").by.value;
  const report = await api("GET", `/reports/summary?${range()}&by=${by}`);
  const head = ["Group", "Volume", "First response p50", "p90", "Within target", "Resolution p50",
    "p90", "SLA attainment", "Reopen rate", "CSAT", "CSAT responses"];
  if (by === "agent") head.push("Occupancy");
  table($("#summary"), head, report.rows.map((r) => {
    const cells = [r.name || r.key, r.volume, secs(r.first_response_p50), secs(r.first_response_p90),
      pct(r.within_target), secs(r.resolution_p50), secs(r.resolution_p90), pct(r.sla_attainment),
      pct(r.reopen_rate), pct(r.csat_score), pct(r.csat_response_rate)];
    if (by === "agent") cells.push(pct(r.occupancy));
    return h("tr", null, cells.map((c) => h("td", { text: c })));
  }));
  chart(report.rows);
  const heat = await api("GET", `/reports/heatmap?${range()}`);
  heatMap(heat.rows);
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Two bars per group: first response p90 (scaled to the largest) and the share within target.
function chart(rows) {
  const width = 640, row = 26, label = 120, bar = (width - label - 80) / 2;
  const root = svg("svg", { width, height: rows.length * row + 24, role: "img" });
  const most = Math.max(1, ...rows.map((r) => r.first_response_p90 || 0));
  root.appendChild(svg("text", { x: label, y: 12 }, "First response p90"));
  root.appendChild(svg("text", { x: label + bar + 40, y: 12 }, "Within target"));
  rows.forEach((r, i) => {
    const y = 20 + i * row;
    root.appendChild(svg("text", { x: 0, y: y + 14 }, (r.name || r.key).slice(0, 18)));
    const wait = ((r.first_response_p90 || 0) / most) * bar;
    root.appendChild(svg("rect", { class: "bar-wait", x: label, y, width: wait, height: 18 }));
    root.appendChild(svg("text", { x: label + wait + 4, y: y + 14 }, secs(r.first_response_p90)));
    const share = (r.within_target || 0) * bar;
    root.appendChild(svg("rect", { class: "bar-share", x: label + bar + 40, y, width: share, height: 18 }));
    root.appendChild(svg("text", { x: label + bar + 44 + share, y: y + 14 }, pct(r.within_target)));
  });
  clear($("#chart"), root);
}

function heatMap(rows) {
  const weeks = [...new Set(rows.map((r) => r.week))].sort();
  const lines = new Map();
  for (const r of rows) {
    const key = `${r.tag} · ${r.product}`;
    if (!lines.has(key)) lines.set(key, {});
    lines.get(key)[r.week] = r.count;
  }
  const most = Math.max(1, ...rows.map((r) => r.count));
  table($("#heatmap"), ["Tag · product", ...weeks], [...lines.entries()].map(([key, counts]) =>
    h("tr", null, h("td", { text: key }), weeks.map((w) => {
      const n = counts[w] || 0;
      return h("td", { class: `heat-${n ? Math.ceil((n / most) * 4) : 0}`, text: n || "" });
    }))));
}

// CSV needs the bearer token, so it is fetched and handed to the browser as a file.
async function download(path, name) {
  const resp = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!resp.ok) { notice(`Download failed (${resp.status})`); return; }
  const url = URL.createObjectURL(await resp.blob());
  const link = h("a", { href: "#", download: name });
  link.href = url;
  document.body.appendChild(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

function notice(text) {
  const node = $("#notice");
  node.textContent = text;
  node.hidden = !text;
}

async function guarded(fn) {
  try { notice(""); await fn(); } catch (err) { notice(err.message); }
}

function init() {
  if (!session.token) { location.href = "/console"; return; }
  $("#who").textContent = `${session.user.name} (${session.user.role})`;
  const form = $("#range");
  const today = new Date();
  form.to.value = today.toISOString().slice(0, 10);
  form.from.value = new Date(today.getTime() - 6 * DAY).toISOString().slice(0, 10);
  form.addEventListener("submit", (e) => { e.preventDefault(); guarded(loadSummary); });
  $("#csv-summary").addEventListener("click", () =>
    download(`/reports/summary?${range()}&by=${form.by.value}&format=csv`, "summary.csv"));
  $("#csv-heatmap").addEventListener("click", () =>
    download(`/reports/heatmap?${range()}&format=csv`, "heatmap.csv"));
  guarded(loadLive);
  setInterval(() => guarded(loadLive), 10000);
  guarded(loadSummary);
}

init();
