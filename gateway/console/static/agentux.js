// The agent's console, issue 17 part A: what console.js and inbox.js hook in. Notifications
// and unread counts follow the live events; the list's rows carry previews, times, assignees
// and unread badges; tags, keyboard shortcuts and the phone / tablet layout start here.

import { api, session } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { customerName, renderList, store } from "./inbox.js";
import { initKeys, keysButton } from "./keys.js";
import { initLayout } from "./layout.js";
import { initListControls, takeMessage } from "./listrow.js";
import { chime, desktop, initNotifyControls } from "./notify.js";
import { bump, cleared, markRead, onUnreadChange, setOffers } from "./unread.js";

function openId() {
  const m = location.hash.match(/^#\/inbox\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}

export function initAgentUx() {
  if ($("#keys-button")) return;
  initNotifyControls();
  $("#notify-controls").after(keysButton());  // beside notify.js's controls, not in them
  initKeys();
  initLayout();
  initListControls();
  onUnreadChange(() => renderList());
  document.addEventListener("gw:names", () => renderList());
  window.addEventListener("hashchange", () => markRead(openId()));
  document.addEventListener("visibilitychange", () => markRead(openId()));
  setInterval(() => setOffers(store.offers.keys()), 1000);
  markRead(openId());
}

// Every live event, before console.js handles it.
export function agentEvent(type, data) {
  if (type === "conversation.offered") {
    const conv = data.conversation || { id: data.conversation_id };
    if (!store.offers.has(conv.id)) {
      chime();
      // The offer names the customer's contact, which the event does not carry.
      const say = (name) => desktop({ title: t("console.notify.offer_title"), body: t("console.notify.offer_body", { name }), id: conv.id });
      api("GET", `/conversations/${encodeURIComponent(conv.id)}`).then(
        (d) => say((d.contact && (d.contact.name || d.contact.email)) || customerName(conv)), () => say(customerName(conv)));
    }
    setTimeout(() => setOffers(store.offers.keys()), 0);
  } else if (type === "conversation.offer_expired" || type === "conversation.assigned") {
    setTimeout(() => setOffers(store.offers.keys()), 0);
  } else if (type === "conversation.read_by_agent") {
    cleared(data.conversation_id);
  } else if (type === "message.created" && data.message && !data.replay) {
    takeMessage(data.conversation_id, data.message);
    if (data.message.direction !== "in") return;
    const id = data.conversation_id;
    if (id === openId() && !document.hidden) { markRead(id); return; }
    bump(id);
    const conv = store.conversations.get(id);
    const mine = conv && (conv.assignee === session.user.id || (!conv.assignee && !conv.offered_to));
    if (mine) {
      chime();
      desktop({ title: t("console.notify.message_title", { name: customerName(conv) }), body: String(data.message.text || "").slice(0, 140), id });
    }
  }
}
