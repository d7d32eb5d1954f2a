// The console's entry point: sign-in, presence, page routing (#/inbox, #/channels, ...) and the
// live event stream that keeps the inbox and the open conversation current.

import { api, isAdmin, isStaff, login, logout, session, whenUnauthorized } from "./api.js";
import { cannedPage, channelsPage, usersPage } from "./admin.js";
import { kbPage } from "./kb.js";
import { contactsPage } from "./contacts.js";
import { settingsPage } from "./settings.js";
import { supervisorPage } from "./supervisor.js";
import { initSearch } from "./search.js";
import {
  closeConversation, initConversation, lastSeqs, onConversation, onMessage, onRead, onTyping,
  openConversation, openId,
} from "./conversation.js";
import { dropOffer, initInbox, loadChannelsFilter, loadList, showOffer, touch, upsert } from "./inbox.js";
import { $, toast } from "./dom.js";
import { formatTime, has, language, remember, t } from "./i18n.js";
import { Live } from "./live.js";
import { agentEvent, initAgentUx } from "./agentux.js";
import "./topmenu.js";  // the top bar's menu on a phone

const live = new Live({
  onEvent: handleEvent,
  onState: (state) => {
    const conn = $("#conn");
    conn.className = `conn conn-${state}`;
    conn.textContent = t(state === "connected" ? "console.conn.connected" : state === "connecting" ? "console.conn.connecting" : "console.conn.offline");
  },
  syncState: lastSeqs,
  onSessionEnded: (reason) => {
    if (reason === null) { api("GET", "/auth/me").catch(() => {}); return; } // 401: signedOut
    // The server's reason is English: said in the agent's language when it is a known one.
    const key = `console.session.reason.${String(reason).replace(/ /g, "_")}`;
    toast(t("console.session.ended", { reason: has(key) ? t(key) : reason }), "error");
    signedOut();
  },
});

// A spike of social mentions (supervisors and admins): a banner until dismissed.
function showSpike(alert) {
  $("#spike-text").textContent = t("console.spike.text", {
    channel_type: t(`console.channel_type.${alert.channel_type}`), channel_id: alert.channel_id, count: alert.count,
    minutes: Math.round(alert.bucket_seconds / 60), when: formatTime(alert.bucket_start), baseline: alert.baseline,
  });
  $("#spike-banner").hidden = false;
}
$("#spike-dismiss").addEventListener("click", () => { $("#spike-banner").hidden = true; });

function handleEvent(type, data) {
  agentEvent(type, data);  // notifications, unread counts, list previews
  switch (type) {
    case "connected":
      if (data.reconnect) { loadList(); if (openId()) openConversation(openId()); }
      break;
    case "conversation.offered":
      if (data.conversation) upsert(data.conversation);
      showOffer(data);
      break;
    case "conversation.offer_expired":
      dropOffer(data.conversation_id);
      break;
    case "conversation.assigned":
    case "conversation.updated":
      if (data.conversation) {
        upsert(data.conversation);
        onConversation(data.conversation);
        if (data.conversation.offered_to !== session.user.id) dropOffer(data.conversation.id);
      } else if (data.conversation_id) {
        touch(data.conversation_id, onConversation);  // the router says what changed, not all
      }
      break;
    case "sla.breached":
      toast(t("console.sla.breached", {
        clock: t(`console.sla.clock.${data.clock || "response"}`), priority: t(`console.priority.${data.priority}`),
      }), "error");
      if (data.conversation_id) touch(data.conversation_id, onConversation);
      break;
    case "message.created":
    case "message.updated":
      onMessage(data.conversation_id, data.message, type === "message.created" ? "created" : "updated");
      if (type === "message.created" && !data.replay) touch(data.conversation_id, onConversation);
      break;
    case "conversation.typing":
      onTyping(data);
      break;
    case "conversation.read":
      onRead(data);
      break;
    case "mention.spike":
      showSpike(data);
      break;
    case "agent.status":
      if (data.agent_id === session.user.id) $("#presence").value = data.status;
      break;
    default:
      break;
  }
}

// --- routing ----------------------------------------------------------------------------------
const PAGES = {
  inbox: null, channels: channelsPage, users: usersPage, canned: cannedPage, kb: kbPage, contacts: contactsPage,
  settings: settingsPage, supervisor: supervisorPage,
};
const STAFF_PAGES = ["kb", "canned", "settings", "supervisor"];  // supervisors too

function route() {
  const [, page = "inbox", id] = location.hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [];
  const allowed = page === "inbox" || page === "contacts" || isAdmin() || (STAFF_PAGES.includes(page) && isStaff());
  const name = PAGES[page] !== undefined && allowed ? page : "inbox";
  for (const key of Object.keys(PAGES)) $(`#page-${key}`).hidden = key !== name;
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === name);
  if (name === "inbox") {
    // Only a different conversation is loaded: two quick hash changes (j then k) both land
    // here after the fact, and reloading the open one would rebuild the reply box under the
    // agent's hands. Live events keep the open one current; a reconnect reloads it.
    if (!id) closeConversation();
    else if (decodeURIComponent(id) !== openId()) openConversation(decodeURIComponent(id));
    for (const row of document.querySelectorAll("#conversations .row")) row.classList.toggle("active", row.dataset.id === id);
  } else {
    PAGES[name](id && decodeURIComponent(id));
  }
}

// --- sign in / out ----------------------------------------------------------------------------
async function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#me-name").textContent = t("console.me", { name: session.user.name, role: t(`console.role.${session.user.role}`) });
  await followProfileLanguage();
  for (const link of document.querySelectorAll("#nav a[data-role]")) {
    link.hidden = link.dataset.role === "staff" ? !isStaff() : !isAdmin();
  }
  initInbox({ open: openConversation });
  initSearch();
  initConversation(live);
  initAgentUx();
  try {
    $("#presence").value = (await api("GET", "/agents/me/status")).status;
  } catch { /* shown as offline */ }
  live.start();
  await loadChannelsFilter();
  await loadList();
  route();
}

function showLogin() {
  live.stop();
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-form").email.focus();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  $("#login-error").textContent = "";
  try {
    await login(form.email.value, form.password.value);
    form.password.value = "";
    await start();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

$("#logout").addEventListener("click", async () => {
  await logout();
  closeConversation();  // the next one to sign in loads it afresh
  location.hash = "";
  showLogin();
});

$("#presence").addEventListener("change", async (e) => {
  try {
    await api("PUT", "/agents/me/status", { status: e.target.value });
    toast(t(`console.presence.is.${e.target.value}`));
  } catch (err) {
    toast(err.message, "error");
  }
});

// The agent's language is a profile setting (PUT /me/language); none: the browser's. A change
// reloads the page in the new language (every module renders with t()).
async function followProfileLanguage() {
  try {
    const pref = await api("GET", "/me/language");
    $("#language").value = pref.language || "";
    remember(pref.language);
    if (pref.effective !== language()) location.reload();
  } catch { /* keep the browser's */ }
}

$("#language").addEventListener("change", async (e) => {
  try {
    const pref = await api("PUT", "/me/language", { language: e.target.value || null });
    remember(pref.language);
    location.reload();
  } catch (err) {
    toast(err.message, "error");
  }
});

function signedOut() {
  delete session.token;
  localStorage.removeItem("gw.console");
  showLogin();
}
whenUnauthorized(signedOut);

window.addEventListener("hashchange", () => { if (session.token) route(); });

if (session.token) start(); else showLogin();
