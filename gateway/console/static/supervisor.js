// The supervisors' view (issue 17) at #/supervisor: every agent's status and load, the
// conversations each one holds, and taking one over or reassigning it (the transfer endpoint;
// the server refuses an offline target with agent_offline, said here in words). Refreshed every
// few seconds while shown.

import { api, session } from "./api.js";
import { $, clear, clock, h, toast } from "./dom.js";
import { compareText, t } from "./i18n.js";
import { className } from "./settings.js";

const REFRESH_MS = 5000;
let timer = null;

export async function supervisorPage() {
  clearTimeout(timer);
  const page = $("#page-supervisor");
  if (page.hidden) return;
  let board;
  try {
    board = await api("GET", "/agents/board");
  } catch (err) {
    clear(page, h("h2", { text: t("supervisor.title") }), h("p", { class: "error", role: "alert", text: err.message }));
    return;
  }
  render(page, board);
  timer = setTimeout(refresh, REFRESH_MS);
}

// Not while the supervisor is picking someone in a list (a refresh would close it).
function refresh() {
  const page = $("#page-supervisor");
  if (page.hidden) return;
  if (page.contains(document.activeElement) && document.activeElement.tagName === "SELECT") timer = setTimeout(refresh, REFRESH_MS);
  else supervisorPage();
}

async function transfer(conversationId, agentId, button) {
  button.disabled = true;
  try {
    await api("POST", `/conversations/${encodeURIComponent(conversationId)}/transfer`, { agent_id: agentId });
    toast(agentId === session.user.id ? t("supervisor.taken") : t("supervisor.reassigned"));
    supervisorPage();
  } catch (err) {
    button.disabled = false;
    toast(err.message, "error");
  }
}

function conversationRow(conv, holder, agents) {
  const others = agents.filter((a) => a.id !== holder.id && a.status !== "offline");
  const pick = h("select", { "aria-label": t("supervisor.reassign_to") },
    h("option", { value: "", text: t("supervisor.pick_agent") }),
    others.map((a) => h("option", { value: a.id, text: t("supervisor.agent_option", { name: a.name, status: t(`console.status.${a.status}`), load: a.load, capacity: a.capacity }) })));
  const reassign = h("button", { type: "button", text: t("supervisor.reassign") });
  reassign.addEventListener("click", () => {
    if (!pick.value) { toast(t("supervisor.pick_first"), "error"); pick.focus(); return; }
    transfer(conv.id, pick.value, reassign);
  });
  const take = holder.id === session.user.id ? null
    : h("button", { type: "button", class: "primary take-over", text: t("supervisor.take_over") });
  if (take) take.addEventListener("click", () => transfer(conv.id, session.user.id, take));
  return h("li", { class: "held", dataset: { conversation: conv.id } },
    h("a", { href: `#/inbox/${encodeURIComponent(conv.id)}`, text: conv.contact_name || conv.id }),
    h("span", { class: `prio prio-${conv.priority}`, text: className(conv.priority || "normal") }),
    h("span", { class: "muted", text: t(`console.conv_status.${conv.status}`) }),
    conv.since ? h("span", { class: "muted", text: t("supervisor.since", { time: clock(conv.since) }) }) : null,
    h("span", { class: "group" }, take, pick, reassign));
}

function render(page, board) {
  const agents = [...board.agents].sort((a, b) => compareText(a.name, b.name));
  const online = agents.filter((a) => a.status === "online").length;
  const held = agents.reduce((n, a) => n + a.conversations.length, 0);
  clear(page,
    h("h2", { text: t("supervisor.title") }),
    h("p", { class: "supervisor-summary", id: "supervisor-summary", text: t("supervisor.summary", { online, agents: agents.length, held, waiting: board.waiting, count: held }) }),
    h("div", { class: "table-wrap" }, h("table", { class: "table supervisor", id: "supervisor-board" },
      h("thead", {}, h("tr", {}, ["agent", "status", "load", "teams", "conversations"].map((k) => h("th", { text: t(`supervisor.col.${k}`) })))),
      h("tbody", {}, agents.map((a) => h("tr", { dataset: { agent: a.id } },
        h("th", { scope: "row" }, h("span", { text: a.name }), h("div", { class: "muted small", text: t(`console.role.${a.role}`) })),
        h("td", {}, h("span", { class: `presence-badge presence-${a.status}`, text: t(`console.status.${a.status}`) })),
        h("td", {}, h("span", { class: "load", text: t("supervisor.load", { load: a.load, capacity: a.capacity }) }),
          h("meter", { min: "0", max: String(a.capacity || 1), value: String(a.load), "aria-label": t("supervisor.col.load") })),
        h("td", { text: (a.teams || []).join(t("console.common.list_sep")) || "—" }),
        h("td", {}, a.conversations.length
          ? h("ul", { class: "held-list" }, a.conversations.map((c) => conversationRow(c, a, agents)))
          : h("span", { class: "muted", text: t("supervisor.none") }))))))),
    h("p", { class: "muted small", text: t("supervisor.help") }));
}
