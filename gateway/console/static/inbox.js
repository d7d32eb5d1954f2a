// The unified inbox: filters, the conversation list with SLA countdowns, and offer pop-ups.

import { api, isStaff, session } from "./api.js";
import { $, channelIcon, clear, duration, h, toast } from "./dom.js";
import { t } from "./i18n.js";
import { compareRows, decorateRow, emptyRow, extendQuery, listLoaded, matchesTag } from "./listrow.js";

export const store = {
  conversations: new Map(),  // id -> conversation
  contacts: new Map(),       // contact id -> {name, email, ...} (null while loading)
  channels: new Map(),       // channel id -> {name, type}, for the channel filter
  offers: new Map(),         // conversation id -> {expires_at, node}
};

let onOpen = () => {};

export function initInbox({ open }) {
  onOpen = open;
  const filters = $("#filters");
  if (!isStaff()) filters.view.querySelector('option[value="all"]').remove();
  filters.addEventListener("change", () => loadList());
  $("#list-more").addEventListener("click", loadMore);
  setInterval(tick, 1000);
}

export function filterValues() {
  const f = $("#filters");
  return { view: f.view.value, status: f.status.value, channel: f.channel.value, priority: f.priority.value };
}

function listQuery() {
  const f = filterValues();
  const q = new URLSearchParams({ limit: "100" });
  if (f.status) q.set("status", f.status);
  if (f.channel) q.set("channel", f.channel);
  if (f.priority) q.set("priority", f.priority);
  if (f.view === "mine") q.set("assignee", "me");
  if (f.view === "unassigned") q.set("unassigned", "1");
  extendQuery(q);
  return q;
}

// Where the next page of the list starts (the API's next_before / next_before_id), or null.
let cursor = null;

export async function loadList() {
  try {
    const data = await api("GET", `/conversations?${listQuery()}`);
    store.conversations = new Map(data.conversations.map((c) => [c.id, c]));
    listLoaded(data.conversations);
    followCursor(data);
    renderList();
  } catch (err) {
    toast(err.message, "error");
  }
}

// Older conversations, 100 at a time, below those shown.
async function loadMore() {
  if (!cursor) return;
  const q = listQuery();
  q.set("before", cursor.before);
  q.set("before_id", cursor.id);
  try {
    const data = await api("GET", `/conversations?${q}`);
    for (const c of data.conversations) if (!store.conversations.has(c.id)) store.conversations.set(c.id, c);
    listLoaded(data.conversations);
    followCursor(data);
    renderList();
  } catch (err) {
    toast(err.message, "error");
  }
}

function followCursor(data) {
  cursor = data.next_before ? { before: data.next_before, id: data.next_before_id } : null;
  const more = $("#list-more");
  if (more) more.hidden = !cursor;
}

export async function loadChannelsFilter() {
  const select = $("#filters").channel;
  const keep = select.value;
  let channels = [];
  if (session.user.role === "admin") {
    try { channels = (await api("GET", "/channels")).channels; } catch { channels = []; }
  }
  clear(select, h("option", { value: "", text: t("console.filters.all_channels") }));
  for (const c of channels) {
    store.channels.set(c.id, { name: c.name, type: c.type });
    select.appendChild(h("option", { value: c.id, text: t("console.inbox.channel_option", { name: c.name, type: t(`console.channel_type.${c.type}`) }) }));
  }
  if (!channels.length) {
    for (const type of ["webchat", "email", "wechat_oa", "wecom_kf", "x", "mastodon", "weibo", "api"]) {
      select.appendChild(h("option", { value: type, text: t(`console.channel_type.${type}`) }));
    }
  }
  select.value = keep;
}

function matches(conv) {
  const f = filterValues();
  if (f.view === "mine" && conv.assignee !== session.user.id) return false;
  if (f.view === "unassigned" && conv.assignee) return false;
  if (f.status && conv.status !== f.status) return false;
  if (f.channel && f.channel !== conv.channel_id && f.channel !== conv.channel_type) return false;
  if (f.priority && conv.priority !== f.priority) return false;
  return matchesTag(conv);
}

export function upsert(conv) {
  if (!conv || !conv.id) return;
  if (matches(conv)) store.conversations.set(conv.id, conv);
  else store.conversations.delete(conv.id);
  renderList();
}

// A message arrived: the conversation's SLA clock, waiting time and order changed. Fetched once
// per burst of messages.
const pendingRefresh = new Map();
export function touch(conversationId, onFresh) {
  const conv = store.conversations.get(conversationId);
  if (conv) {
    conv.updated_at = Date.now();
    renderList();
  }
  if (pendingRefresh.has(conversationId)) return;
  pendingRefresh.set(conversationId, setTimeout(() => {
    pendingRefresh.delete(conversationId);
    api("GET", `/conversations/${conversationId}`).then((d) => {
      upsert(d.conversation);
      if (onFresh) onFresh(d.conversation);
    }, () => {});
  }, 300));
}

export function customerName(conv) {
  const contact = store.contacts.get(conv.contact_id);
  if (contact && contact.name) return contact.name;
  if (contact && contact.email) return contact.email;
  if (conv.contact_name) return conv.contact_name;
  const external = conv.contact_external_id || "";
  if (conv.channel_type === "webchat") return t("console.inbox.visitor", { id: external.slice(0, 6) }).trim();
  return external.slice(0, 40) || t("console.inbox.customer");
}

function rowState(conv) {
  if (conv.status !== "open") return t(`console.conv_status.${conv.status}`);
  if (conv.offered_to === session.user.id) return t("console.inbox.state.offered");
  if (!conv.assignee) return t("console.inbox.state.waiting");
  return t(conv.assignee === session.user.id ? "console.inbox.state.mine" : "console.inbox.state.assigned");
}

function loadContact(conv) {
  if (conv.contact_name || store.contacts.has(conv.contact_id)) return;
  store.contacts.set(conv.contact_id, null);
  api("GET", `/conversations/${conv.id}`).then((d) => {
    store.contacts.set(conv.contact_id, d.contact || {});
    renderList();
  }, () => {});
}

export function rememberContact(contactId, contact) {
  store.contacts.set(contactId, contact || {});
}

export function renderList() {
  const list = $("#conversations");
  const items = [...store.conversations.values()].sort(compareRows);
  const openId = (location.hash.match(/^#\/inbox\/(.+)$/) || [])[1];
  clear(list, items.length ? null : emptyRow(store.channels.size));
  for (const conv of items) {
    loadContact(conv);
    const row = h("li", {
      class: `row${conv.id === openId ? " active" : ""}`,
      dataset: { id: conv.id },
      tabindex: "0",
      on: {
        click: () => { location.hash = `#/inbox/${conv.id}`; },
        keydown: (e) => { if (e.key === "Enter") location.hash = `#/inbox/${conv.id}`; },
      },
    },
      channelIcon(conv.channel_type),
      h("span", { class: "main" },
        h("span", { class: "name", text: customerName(conv) }),
        h("span", { class: "line" },
          h("span", { class: "sla", dataset: { due: conv.first_response_at ? "" : conv.first_response_due || "" } }),
          h("span", { class: "wait", dataset: { since: conv.waiting_since || "" } }))),
      h("span", { class: "side" },
        h("span", { class: `prio prio-${conv.priority}`, text: t(`console.priority.${conv.priority}`) }),
        h("span", { class: "meta", text: rowState(conv) })),
    );
    list.appendChild(decorateRow(row, conv));
  }
  tick();
}

// Countdowns tick every second without rebuilding the list.
function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-due]")) {
    const due = Number(node.dataset.due);
    if (!due) { node.textContent = ""; continue; }
    const left = due - now;
    node.textContent = t(left >= 0 ? "console.inbox.sla_left" : "console.inbox.sla_late", { time: duration(Math.abs(left)) });
    node.classList.toggle("late", left < 0);
    node.classList.toggle("soon", left >= 0 && left < 60000);
  }
  for (const node of document.querySelectorAll("[data-since]")) {
    const since = Number(node.dataset.since);
    node.textContent = since ? t("console.inbox.waiting_for", { time: duration(now - since) }) : "";
  }
  for (const node of document.querySelectorAll("[data-expires]")) {
    const left = Number(node.dataset.expires) - now;
    node.textContent = left > 0 ? t("console.dur.s", { s: Math.ceil(left / 1000) }) : t("console.offer.expired");
  }
  for (const node of document.querySelectorAll("[data-window]")) {
    const left = Number(node.dataset.window) - now;
    node.textContent = left > 0 ? t("console.window.closes_in", { time: duration(left) }) : t("console.window.closed");
    node.classList.toggle("late", left <= 0);
  }
  for (const [id, offer] of store.offers) {
    if (offer.expires_at < now - 2000) dropOffer(id);
  }
}

// --- offers -------------------------------------------------------------------------------
export function showOffer(data) {
  const conv = data.conversation || { id: data.conversation_id };
  if (store.offers.has(conv.id)) return;
  const accept = async () => {
    try {
      await api("POST", `/conversations/${conv.id}/accept`);
      dropOffer(conv.id);
      location.hash = `#/inbox/${conv.id}`;
      onOpen(conv.id);
    } catch (err) {
      dropOffer(conv.id);
      toast(err.message, "error");
    }
  };
  const decline = async () => {
    dropOffer(conv.id);
    try { await api("POST", `/conversations/${conv.id}/decline`); } catch (err) { toast(err.message, "error"); }
  };
  const name = h("span", { class: "name", text: customerName(conv) });
  const preview = h("span", { class: "preview" });
  const node = h("div", { class: "offer", role: "alertdialog", dataset: { offer: conv.id } },
    h("div", { class: "offer-title" }, channelIcon(conv.channel_type), ` ${t("console.offer.title")} `,
      h("span", { class: `prio prio-${conv.priority}`, text: conv.priority ? t(`console.priority.${conv.priority}`) : "" })),
    name,
    preview,
    h("div", { class: "offer-timer", dataset: { expires: data.expires_at } }),
    h("div", { class: "buttons" },
      h("button", { class: "primary accept", text: t("console.offer.accept"), on: { click: accept } }),
      h("button", { class: "decline", text: t("console.offer.decline"), on: { click: decline } })),
  );
  store.offers.set(conv.id, { expires_at: data.expires_at, node });
  $("#offers").appendChild(node);
  if (conv.last_seq) {
    api("GET", `/conversations/${conv.id}/messages?after_seq=${Math.max(0, conv.last_seq - 5)}`).then((d) => {
      const last = d.messages.filter((m) => m.direction === "in").pop();
      if (last) preview.textContent = last.text.length > 140 ? `${last.text.slice(0, 140)}…` : last.text;
    }, () => {});
  }
  if (conv.contact_id && !store.contacts.has(conv.contact_id)) {
    api("GET", `/conversations/${conv.id}`).then((d) => {
      store.contacts.set(conv.contact_id, d.contact || {});
      name.textContent = customerName(conv);
    }, () => {});
  }
  tick();
}

export function dropOffer(conversationId) {
  const offer = store.offers.get(conversationId);
  if (offer) {
    offer.node.remove();
    store.offers.delete(conversationId);
  }
}
