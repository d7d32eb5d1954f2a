// The reports page: the supervisors' live view (every 10 s), the summary per channel / team /
// agent / class with a chart, the complaint heat map, and CSV downloads. Uses the console's
// session (same origin, same localStorage).

import { api, session } from "./api.js";
import { $, clear, duration, h } from "./dom.js";
import { compareText, formatTime, language, t } from "./i18n.js";

const DAY = 24 * 3600 * 1000;
const SVG = "http://www.w3.org/2000/svg";

function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10}%`; }
function secs(v) { return v === null || v === undefined ? "–" : duration(v * 1000); }

function table(node, head, rows) {
  clear(node,
    h("thead", null, h("tr", null, head.map((t) => h("th", { text: t })))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: head.length, class: "muted", text: t("reports.nothing") }))));
}

// Report days start at midnight in the deployment's zone (setting time_zone), wherever the
// viewer is; times are shown in the viewer's own zone.
let deploymentZone = "UTC";

function zoneOffset(ms, zone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

export function midnight(isoDate, zone) {
  const [y, m, d] = isoDate.split("-").map(Number);
  const guess = Date.UTC(y, m - 1, d);
  const first = guess - zoneOffset(guess, zone);
  return guess - zoneOffset(first, zone);  // again at the found instant: a DST change that day
}

// "中国标准时间" / "China Standard Time" for Asia/Shanghai: the zone as people say it.
function zoneName(zone) {
  try {
    const parts = new Intl.DateTimeFormat(language(), { timeZone: zone, timeZoneName: "long" }).formatToParts(new Date());
    return (parts.find((p) => p.type === "timeZoneName") || {}).value || zone;
  } catch { return zone; }
}

function range() {
  const form = $("#range");
  const from = midnight(form.from.value, deploymentZone);
  const to = midnight(new Date(Date.parse(`${form.to.value}T00:00:00Z`) + DAY).toISOString().slice(0, 10), deploymentZone);
  return `from=${from}&to=${to}`;
}

// --- live -------------------------------------------------------------------------------------
async function loadLive() {
  const live = await api("GET", "/reports/live");
  const cls = (p) => (p ? t(`console.priority.${p}`) : "");
  table($("#live-queue"), ["reports.col.class", "reports.col.waiting", "reports.col.oldest_wait"].map((k) => t(k)), live.queue.map((q) =>
    h("tr", null, h("td", { text: cls(q.priority) }), h("td", { text: q.waiting }),
      h("td", { text: q.waiting ? duration(q.oldest_wait_seconds * 1000) : "–" }))));
  const agents = [...live.agents].sort((a, b) => compareText(a.name || a.id, b.name || b.id));
  table($("#live-agents"), ["reports.col.agent", "reports.col.status", "reports.col.load"].map((k) => t(k)), agents.map((a) =>
    h("tr", null, h("td", { text: a.name || a.id }), h("td", { text: a.status ? t(`console.status.${a.status}`) : "" }),
      h("td", { text: `${a.load} / ${a.capacity}` }))));
  table($("#live-risk"), ["reports.col.conversation", "reports.col.class", "reports.col.due_in"].map((k) => t(k)), live.sla_at_risk.map((r) =>
    h("tr", null,
      h("td", null, h("a", { href: `/console#/inbox/${encodeURIComponent(r.conversation_id)}`, text: r.conversation_id })),
      h("td", { text: cls(r.priority) }),
      h("td", { class: r.overdue ? "late" : "", text: r.overdue ? t("reports.overdue") : duration(r.due - live.now) }))));
  clear($("#live-spikes"), live.mention_spikes.length
    ? live.mention_spikes.map((s) => h("li", { text: t("reports.spike_at", { channel: s.channel_id, time: formatTime(s.bucket) }) }))
    : h("li", { class: "muted", text: t("reports.none") }));
}

// --- summary ----------------------------------------------------------------------------------
async function loadSummary() {
  const by = $("#range").by.value;
  const report = await api("GET", `/reports/summary?${range()}&by=${by}`);
  const head = ["group", "volume", "first_p50", "p90", "within_target", "resolution_p50",
    "p90", "sla", "reopen", "csat", "csat_responses"];
  if (by === "agent") head.push("occupancy");
  const label = (r) => groupLabel(r, by);
  table($("#summary"), head.map((k) => t(`reports.col.${k}`)), report.rows.map((r) => {
    const cells = [label(r), r.volume, secs(r.first_response_p50), secs(r.first_response_p90),
      pct(r.within_target), secs(r.resolution_p50), secs(r.resolution_p90), pct(r.sla_attainment),
      pct(r.reopen_rate), pct(r.csat_score), pct(r.csat_response_rate)];
    if (by === "agent") cells.push(pct(r.occupancy));
    return h("tr", null, cells.map((c) => h("td", { text: c })));
  }));
  chart(report.rows, by);
  const heat = await api("GET", `/reports/heatmap?${range()}`);
  heatMap(heat.rows);
}

// A summary row's group as people read it: a class or channel type in words, "(none)" too.
const SPECIAL = { "(none)": "reports.no_team", "(unassigned)": "reports.unassigned", all: "reports.by.all" };
function groupLabel(r, by) {
  if (SPECIAL[r.key] && !r.name) return t(SPECIAL[r.key]);
  if (by === "class") return t(`console.priority.${r.key}`);
  if (by === "channel") return t(`console.channel_type.${r.key}`);
  return r.name || r.key;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Two bars per group: first response p90 (scaled to the largest) and the share within target.
function chart(rows, by) {
  const width = 640, row = 26, label = 120, bar = (width - label - 80) / 2;
  const root = svg("svg", { width, height: rows.length * row + 24, role: "img" });
  const most = Math.max(1, ...rows.map((r) => r.first_response_p90 || 0));
  root.appendChild(svg("text", { x: label, y: 12 }, t("reports.chart.p90")));
  root.appendChild(svg("text", { x: label + bar + 40, y: 12 }, t("reports.col.within_target")));
  rows.forEach((r, i) => {
    const y = 20 + i * row;
    root.appendChild(svg("text", { x: 0, y: y + 14 }, groupLabel(r, by).slice(0, 18)));
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
    const tag = r.tag === "(untagged)" ? t("reports.untagged") : r.tag;
    const product = r.product === "(none)" ? t("reports.no_product") : r.product;
    const key = `${tag} · ${product}`;
    if (!lines.has(key)) lines.set(key, {});
    lines.get(key)[r.week] = r.count;
  }
  const most = Math.max(1, ...rows.map((r) => r.count));
  const ordered = [...lines.entries()].sort((a, b) => compareText(a[0], b[0]));
  table($("#heatmap"), [t("reports.col.tag_product"), ...weeks], ordered.map(([key, counts]) =>
    h("tr", null, h("td", { text: key }), weeks.map((w) => {
      const n = counts[w] || 0;
      return h("td", { class: `heat-${n ? Math.ceil((n / most) * 4) : 0}`, text: n || "" });
    }))));
}

// CSV needs the bearer token, so it is fetched and handed to the browser as a file.
async function download(path, name) {
  const resp = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!resp.ok) { notice(t("reports.download_failed", { status: resp.status })); return; }
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
  $("#who").textContent = t("console.me", { name: session.user.name, role: t(`console.role.${session.user.role}`) });
  const form = $("#range");
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: deploymentZone }).format(new Date());
  form.to.value = today;
  form.from.value = new Date(Date.parse(`${today}T00:00:00Z`) - 6 * DAY).toISOString().slice(0, 10);
  $("#zone-note").textContent = t("reports.zone_note", { zone: zoneName(deploymentZone) });
  form.addEventListener("submit", (e) => { e.preventDefault(); guarded(loadSummary); });
  $("#csv-summary").addEventListener("click", () =>
    download(`/reports/summary?${range()}&by=${form.by.value}&format=csv`, "summary.csv"));
  $("#csv-heatmap").addEventListener("click", () =>
    download(`/reports/heatmap?${range()}&format=csv`, "heatmap.csv"));
  guarded(loadLive);
  setInterval(() => guarded(loadLive), 10000);
  guarded(loadSummary);
}

try {
  if (session.token) deploymentZone = (await api("GET", "/me/language")).time_zone || "UTC";
} catch { /* UTC */ }
init();
