// Unread counts per conversation for the signed-in agent, kept by the gateway (one read position
// per agent and conversation, so every device and every reload agrees): the list's rows bring
// the counts, a customer message for a conversation not on screen adds one, opening a
// conversation (or coming back to the tab showing it) marks it read. The tab title shows the
// sum of unread messages and offers waiting.

import { api } from "./api.js";
import { t } from "./i18n.js";

const counts = new Map();  // conversation id -> {n, capped}
let offers = new Set();  // conversations offered to the agent now
const listeners = [];

export function onUnreadChange(fn) { listeners.push(fn); }

function changed(id) {
  updateTitle();
  for (const fn of listeners) fn(id);
}

export function unreadOf(id) { return counts.get(id) || { n: 0, capped: false }; }

// The list was loaded: its rows carry the caller's counts (the title counts what the list shows,
// and nothing of an earlier sign-in).
export function takeCounts(conversations) {
  counts.clear();
  for (const c of conversations) {
    if (typeof c.unread === "number") counts.set(c.id, { n: c.unread, capped: Boolean(c.unread_capped) });
  }
  changed(null);
}

export function bump(id) {
  const now = unreadOf(id);
  counts.set(id, { n: now.n + 1, capped: now.capped });
  changed(id);
}

export function cleared(id) {
  if (!unreadOf(id).n) return;
  counts.set(id, { n: 0, capped: false });
  changed(id);
}

export function setOffers(ids) {
  const next = new Set(ids);
  if (next.size === offers.size && [...next].every((id) => offers.has(id))) return;
  offers = next;
  updateTitle();
}

// The conversation on screen is read up to its last message (seq 0: the gateway takes its last).
export function markRead(id) {
  if (!id || document.hidden) return;
  cleared(id);
  api("POST", `/conversations/${encodeURIComponent(id)}/read`, { seq: 0 }).catch(() => {});
}

// An offered conversation counts once, as the offer.
export function totalUnread() {
  let sum = 0;
  for (const [id, { n }] of counts) if (!offers.has(id)) sum += n;
  return sum;
}

function updateTitle() {
  const base = t(document.body.dataset.titleKey || "console.title");
  const n = totalUnread() + offers.size;
  document.title = n ? t("console.notify.title_count", { count: n, title: base }) : base;
}
