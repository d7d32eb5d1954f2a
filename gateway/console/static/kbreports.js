// The reports page's self-service section (GET /api/v1/kb/reports, docs/knowledge-base.md):
// rate by channel, hand-offs by reason, questions with no good article, articles marked
// unhelpful. Every text goes in with textContent.

import { api, session } from "./api.js";
import { $, clear, h } from "./dom.js";
import { has, t } from "./i18n.js";

function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10}%`; }

function table(node, head, rows) {
  clear(node,
    h("thead", null, h("tr", null, head.map((t) => h("th", { text: t })))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: head.length, class: "muted", text: t("reports.nothing") }))));
}

async function load() {
  const days = Number($("#kb-days").value) || 30;
  const r = await api("GET", `/kb/reports?days=${days}`);
  const cols = (keys) => keys.map((k) => t(`reports.kb.col.${k}`));
  table($("#kb-channels"), cols(["channel", "considered", "answered", "solved", "closed", "handed_off", "rate"]),
    Object.entries(r.by_channel).map(([channel, c]) => h("tr", null,
      [t(`console.channel_type.${channel}`), c.considered, c.answered, c.solved, c.closed, c.handed_off, pct(c.rate)].map((v) => h("td", { text: v })))));
  table($("#kb-handoffs"), cols(["reason", "handoffs"]),
    Object.entries(r.handoffs).sort((a, b) => b[1] - a[1]).map(([reason, n]) => h("tr", null, h("td", { text: has(`reports.kb.reason.${reason}`) ? t(`reports.kb.reason.${reason}`) : reason }), h("td", { text: n }))));
  table($("#kb-gaps"), cols(["question", "times", "channel"]),
    r.gaps.map((g) => h("tr", null, h("td", { text: g.sample || g.question }), h("td", { text: g.count }), h("td", { text: g.channel || "" }))));
  table($("#kb-rated"), cols(["article", "unhelpful", "helpful"]),
    r.articles.map((a) => h("tr", null, h("td", { text: a.title || a.article_id }), h("td", { text: a.unhelpful }), h("td", { text: a.helpful }))));
}

if (session.token) {
  $("#kb-days").addEventListener("change", () => load().catch(() => {}));
  load().catch((err) => { $("#kb-error").textContent = err.message; });
}
