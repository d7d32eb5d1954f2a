// The header's search box: customers (name, email, phone, handles, order numbers) and
// conversations (message text, Chinese included) through GET /api/v1/search, with the
// conversation filters (status, channel, date). A result opens the conversation (#/inbox/<id>)
// or the contact (#/contacts/<id>). Everything a customer wrote goes in as text (dom.js h()).

import { api } from "./api.js";
import { $, clear, clock, h } from "./dom.js";
import { has, t } from "./i18n.js";

const STATUSES = ["open", "pending", "snoozed", "resolved"];
const CHANNEL_TYPES = ["webchat", "email", "wechat_oa", "wecom_kf", "qq", "x", "mastodon", "weibo", "api"];
const WAIT_MS = 250;  // typing pause before searching
const RETRY_MS = 2000;  // the server's Retry-After while the search index changes hands
let timer = null;
let asked = 0;  // the latest search: older answers arriving late are dropped

function label(key, fallback) { return has(key) ? t(key) : fallback; }

function filterControls() {
  const status = h("select", { name: "status", "aria-label": t("search.filter.status") },
    h("option", { value: "", text: t("search.filter.any_status") }),
    STATUSES.map((s) => h("option", { value: s, text: label(`console.conv_status.${s}`, s) })));
  const channel = h("select", { name: "channel", "aria-label": t("search.filter.channel") },
    h("option", { value: "", text: t("search.filter.any_channel") }),
    CHANNEL_TYPES.map((c) => h("option", { value: c, text: label(`console.channel_type.${c}`, c) })));
  const from = h("input", { name: "from", type: "date", "aria-label": t("search.filter.from"), title: t("search.filter.from") });
  const to = h("input", { name: "to", type: "date", "aria-label": t("search.filter.to"), title: t("search.filter.to") });
  for (const control of [status, channel, from, to]) control.addEventListener("change", () => run());
  return h("div", { class: "search-filters" }, status, channel, from, to);
}

function panel() { return $("#search-panel"); }

function hide() {
  panel().hidden = true;
}

function params(kind) {
  const q = $("#search-q").value.trim();
  const query = new URLSearchParams({ q, kind, limit: "8" });
  if (kind === "conversations") {
    for (const name of ["status", "channel", "from", "to"]) {
      const value = $(`#search-panel [name=${name}]`).value;
      if (value) query.set(name, value);
    }
  }
  return query;
}

function customerRow(c) {
  const open = () => { hide(); location.hash = `#/contacts/${encodeURIComponent(c.id)}`; };
  const detail = [c.email, c.phone].filter(Boolean).join(" · ");
  return h("button", { type: "button", class: "search-hit", dataset: { kind: "customer", id: c.id }, on: { click: open } },
    h("span", { class: "search-title", text: c.name || t("search.no_name") }),
    detail ? h("span", { class: "search-detail", text: detail }) : null);
}

function conversationRow(c) {
  const open = () => { hide(); location.hash = `#/inbox/${encodeURIComponent(c.id)}`; };
  const status = label(`console.conv_status.${c.status}`, c.status);
  const channel = label(`console.channel_type.${c.channel_type}`, c.channel_type);
  const when = c.match?.created_at || c.updated_at || c.created_at;
  return h("button", { type: "button", class: "search-hit", dataset: { kind: "conversation", id: c.id }, on: { click: open } },
    h("span", { class: "search-title", text: c.contact_name || c.subject || t("search.no_name") }),
    h("span", { class: "search-detail", text: [channel, status, when ? clock(when) : ""].filter(Boolean).join(" · ") }),
    c.match ? h("span", { class: "search-excerpt", text: c.match.excerpt }) : null);
}

function section(title, rows, more) {
  return h("section", { class: "search-section" },
    h("h3", { text: title }),
    rows.length ? rows : h("p", { class: "search-none", text: t("search.none") }),
    more ? h("p", { class: "search-more", text: t("search.more") }) : null);
}

// The same search once more after a while, unless the panel was closed or a newer one asked.
function again(mine) {
  setTimeout(() => { if (mine === asked && !panel().hidden) run(); }, RETRY_MS);
}

async function run() {
  const q = $("#search-q").value.trim();
  if (!q) { hide(); return; }
  const mine = ++asked;
  const results = $("#search-results");
  try {
    const [customers, conversations] = await Promise.all([
      api("GET", `/search?${params("customers")}`),
      api("GET", `/search?${params("conversations")}`),
    ]);
    if (mine !== asked) return;
    const indexing = customers.indexing || conversations.indexing;
    if (indexing) again(mine);  // the index is being built: the answer will grow
    clear(results,
      indexing ? h("p", { class: "search-note", text: t("search.indexing") }) : null,
      section(t("search.customers"), customers.customers.map(customerRow), customers.has_more),
      section(t("search.conversations"), conversations.conversations.map(conversationRow), conversations.has_more));
  } catch (err) {
    if (mine !== asked) return;
    if (err.code === "search_unavailable") {
      // The process holding the index died and another is taking it over: say so, ask again.
      clear(results, h("p", { class: "search-note", role: "status", text: t("search.unavailable") }));
      again(mine);
    } else {
      clear(results, h("p", { class: "search-error", role: "alert", text: t("search.error", { message: err.message }) }));
    }
  }
  panel().hidden = false;
}

export function initSearch() {
  const input = $("#search-q");
  if (!input || input.dataset.ready) return;
  input.dataset.ready = "1";
  clear(panel(),
    h("div", { class: "search-head" }, filterControls(),
      h("button", { type: "button", class: "link search-close", text: "×", "aria-label": t("search.close"), on: { click: hide } })),
    h("div", { id: "search-results" }));
  $("#search").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(timer); run(); });
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, WAIT_MS); });
  input.addEventListener("keydown", (e) => { if (e.key === "Escape") hide(); });
  document.addEventListener("click", (e) => {
    if (!panel().hidden && !e.target.closest("#search") && !e.target.closest("#search-panel")) hide();
  });
}
