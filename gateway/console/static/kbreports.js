// The reports page's self-service section (GET /api/v1/kb/reports, docs/knowledge-base.md):
// rate by channel, hand-offs by reason, questions with no good article, articles marked
// unhelpful. Every text goes in with textContent.

import { api, session } from "./api.js";
import { $, clear, h } from "./dom.js";

function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10}%`; }

function table(node, head, rows) {
  clear(node,
    h("thead", null, h("tr", null, head.map((t) => h("th", { text: t })))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: head.length, class: "muted", text: "Nothing" }))));
}

async function load() {
  const days = Number($("#kb-days").value) || 30;
  const r = await api("GET", `/kb/reports?days=${days}`);
  table($("#kb-channels"), ["Channel", "Considered", "Answered", "Solved", "Closed silent", "Handed off", "Self-service rate"],
    Object.entries(r.by_channel).map(([channel, c]) => h("tr", null,
      [channel, c.considered, c.answered, c.solved, c.closed, c.handed_off, pct(c.rate)].map((v) => h("td", { text: v })))));
  table($("#kb-handoffs"), ["Reason", "Hand-offs"],
    Object.entries(r.handoffs).sort((a, b) => b[1] - a[1]).map(([reason, n]) => h("tr", null, h("td", { text: reason }), h("td", { text: n }))));
  table($("#kb-gaps"), ["Question", "Times", "Channel"],
    r.gaps.map((g) => h("tr", null, h("td", { text: g.sample || g.question }), h("td", { text: g.count }), h("td", { text: g.channel || "" }))));
  table($("#kb-rated"), ["Article", "Unhelpful", "Helpful"],
    r.articles.map((a) => h("tr", null, h("td", { text: a.title || a.article_id }), h("td", { text: a.unhelpful }), h("td", { text: a.helpful }))));
}

if (session.token) {
  $("#kb-days").addEventListener("change", () => load().catch(() => {}));
  load().catch((err) => { $("#kb-error").textContent = err.message; });
}
