// One conversation: header and actions, the message log with delivery states, the reply box
// with notes and the /shortcut picker of canned responses, and the customer's other
// conversations across channels.

import { api, isStaff, session, upload } from "./api.js";
import { $, channelIcon, clear, clock, h, toast } from "./dom.js";
import { compareText, has, language, t } from "./i18n.js";
import { customerName, rememberContact, upsert } from "./inbox.js";
import { renderSuggestions } from "./kb.js";
import { mountTags } from "./tags.js";
import { guardResolve } from "./resolveguard.js";

const view = {
  id: null,
  conv: null,
  contact: null,
  channel: null,
  history: [],
  messages: new Map(),  // seq -> message
  customerRead: 0,
  customerTyping: false,
  typingTimer: null,
  canned: [],
  picker: { items: [], index: 0 },
  typingSentAt: 0,
  stopTypingTimer: null,
  readSent: 0,
  files: [],  // attachments uploaded for the reply being written
  ready: false,  // the pane is built; live events before that only update the state
};

let live = null;
export function initConversation(liveConnection) { live = liveConnection; }

export function openId() { return view.id; }

export function lastSeqs() {
  if (!view.id) return {};
  return { [view.id]: Math.max(0, ...view.messages.keys()) };
}

export async function openConversation(id) {
  const pane = $("#conversation");
  if (view.id !== id) {
    Object.assign(view, { id, conv: null, messages: new Map(), customerRead: 0, readSent: 0, canned: [], files: [], ready: false });
    clear(pane, h("p", { class: "empty", text: t("console.common.loading") }));
  }
  try {
    const detail = await api("GET", `/conversations/${id}`);
    if (view.id !== id) return;
    view.conv = detail.conversation;
    view.contact = detail.contact || {};
    view.channel = detail.channel;
    view.history = detail.history || [];
    view.statement = detail.suggested_reply || "";  // a mention of an incident: its statement
    rememberContact(view.conv.contact_id, view.contact);
    const last = view.conv.last_seq || 0;
    const data = await api("GET", `/conversations/${id}/messages?after_seq=${Math.max(0, last - 500)}&limit=500`);
    if (view.id !== id) return;
    for (const m of data.messages) view.messages.set(m.seq, m);
    render();
    view.ready = true;
    loadCanned(id);
  } catch (err) {
    if (view.id === id) clear(pane, h("p", { class: "error", text: err.message }));
  }
}

export function closeConversation() {
  view.id = null;
  view.ready = false;
  clear($("#conversation"), h("p", { class: "empty", text: t("console.conversation.pick") }));
}

async function loadCanned(id) {
  try {
    view.canned = (await api("GET", `/canned?conversation_id=${encodeURIComponent(id)}`)).canned;
  } catch { view.canned = []; }
  // "/ref" typed while they were loading: show the picker now.
  if (view.id === id && $("#reply-text")) updatePicker();
}

// --- live events ----------------------------------------------------------------------------
// kind "created": the message's first state (an event or our own POST's answer); it never
// replaces what we have, since a delivery update may have overtaken it. "updated": newer state.
export function onMessage(conversationId, message, kind = "updated") {
  if (conversationId !== view.id || !view.conv) return;
  if (kind === "created" && view.messages.has(message.seq)) return;
  view.messages.set(message.seq, message);
  if (message.direction === "in") view.customerTyping = false;
  if (!view.ready) return;
  if (message.direction === "in") {
    renderHeader();  // its sender check and reply address
    renderSuggestions($("#kb-suggest"), view.id, view.statement);
  }
  renderLog();
  markRead();
}

export function onConversation(conv) {
  if (!conv || conv.id !== view.id || !view.conv) return;
  view.conv = conv;
  if (!view.ready) return;
  renderHeader();
  renderComposerState();
}

export function onTyping(data) {
  if (data.conversation_id !== view.id || data.who !== "customer") return;
  view.customerTyping = !!data.on;
  clearTimeout(view.typingTimer);
  if (view.customerTyping) view.typingTimer = setTimeout(() => { view.customerTyping = false; renderTyping(); }, 6000);
  renderTyping();
}

export function onRead(data) {
  if (data.conversation_id !== view.id || data.by !== "customer") return;
  view.customerRead = Math.max(view.customerRead, data.seq || 0);
  if (view.ready) renderLog();
}

// --- rendering ------------------------------------------------------------------------------
function render() {
  const pane = $("#conversation");
  // Rendered again (the same conversation opened twice, e.g. on accept): what the agent was
  // writing stays.
  const box = $("#reply-text");
  const draft = box ? { text: box.value, mode: $("#reply-mode").value, focused: document.activeElement === box } : null;
  clear(pane,
    h("div", { class: "conv-head", id: "conv-head" }),
    h("div", { class: "conv-body" },
      h("div", { class: "conv-main" },
        h("ol", { class: "log", id: "log", "aria-label": t("console.conversation.messages") }),
        h("div", { class: "typing", id: "typing" }),
        composer()),
      h("aside", { class: "conv-side", id: "conv-side" })),
  );
  renderHeader();
  renderLog();
  renderSide();
  renderComposerState();
  renderFiles();
  if (draft) {
    $("#reply-text").value = draft.text;
    $("#reply-mode").value = draft.mode;
    $("#reply-mode").dispatchEvent(new Event("change"));
    if (draft.focused) $("#reply-text").focus();
  }
  markRead();
}

// Any live update of the conversation draws the header again; what the agent has half picked
// there (a transfer target, a snooze length) must survive it, or their next click acts on nothing.
function headerChoices() {
  const head = $("#conv-head");
  const read = (selector) => {
    const el = head && head.querySelector(selector);
    return el ? { value: el.value, focused: document.activeElement === el } : null;
  };
  return { agent: read(".transfer-agent"), team: read(".transfer-team"), snooze: read(".snooze-minutes") };
}

function restoreChoice(el, kept) {
  if (!el || !kept) return;
  if ([...(el.options || [])].length && ![...el.options].some((o) => o.value === kept.value)) return;
  el.value = kept.value;
  if (kept.focused) el.focus();
}

function renderHeader() {
  const kept = headerChoices();
  const c = view.conv;
  const me = session.user;
  const mine = c.assignee === me.id;
  const offeredToMe = c.offered_to === me.id;
  const canAct = mine || isStaff();
  const windowEnd = view.channel && view.channel.reply_window_seconds && c.last_inbound_at
    ? c.last_inbound_at + view.channel.reply_window_seconds * 1000 : null;
  const actions = [];
  if (offeredToMe) {
    actions.push(h("button", { class: "primary", text: t("console.offer.accept"), on: { click: () => act("accept") } }));
    actions.push(h("button", { text: t("console.offer.decline"), on: { click: () => act("decline") } }));
  }
  if (canAct && c.status !== "resolved") {
    actions.push(h("button", { class: "resolve", text: t("console.conversation.resolve"), on: { click: (e) => guardResolve(e.currentTarget, view.messages.values(), () => act("resolve", {})) } }));
    if (c.assignee) {
      const minutes = h("select", { class: "snooze-minutes", "aria-label": t("console.conversation.snooze_for") },
        h("option", { value: "15", text: t("console.conversation.snooze.15") }), h("option", { value: "60", text: t("console.conversation.snooze.60") }),
        h("option", { value: "240", text: t("console.conversation.snooze.240") }), h("option", { value: "1440", text: t("console.conversation.snooze.1440") }));
      actions.push(h("span", { class: "group" }, minutes,
        h("button", { text: t("console.conversation.snooze"), on: { click: () => act("snooze", { minutes: Number(minutes.value) }) } })));
    }
    actions.push(transferControl(kept));
  }
  clear($("#conv-head"),
    h("div", { class: "who" },
      channelIcon(c.channel_type),
      h("h2", { text: customerName(c) }),
      view.contact.email ? h("span", { class: "muted", text: view.contact.email }) : null),
    h("div", { class: "facts" },
      h("span", { class: `status status-${c.status}`, text: t(`console.conv_status.${c.status}`) }),
      h("span", { class: `prio prio-${c.priority}`, text: t(`console.priority.${c.priority}`) }),
      c.first_response_at ? null : h("span", { class: "sla", dataset: { due: c.first_response_due || "" } }),
      windowEnd ? h("span", { class: "window", dataset: { window: windowEnd } }) : null,
      view.channel && view.channel.public_replies
        ? h("span", { class: "public-warning", text: t("console.conversation.public") }) : null,
      c.subject ? h("span", { class: "muted", text: c.subject }) : null),
    senderNotes(lastInbound()),
    h("div", { class: "actions" }, actions),
  );
  restoreChoice($("#conv-head .snooze-minutes"), kept.snooze);
}

function lastInbound() {
  let last = null;
  for (const m of view.messages.values()) if (m.direction === "in" && (!last || m.seq > last.seq)) last = m;
  return last;
}

// Email: whether the From address passed the receiving server's checks (meta.sender_auth, see
// docs/channels/email.md), and where a reply goes when that is not the From address.
function senderNotes(m) {
  const meta = (m && m.meta) || {};
  const auth = meta.sender_auth;
  const notes = [];
  if (auth && auth.status === "unverified") {
    notes.push(h("span", { class: "sender-badge unverified", title: t("console.sender.unverified_title"),
      text: t("console.sender.unverified", { reason: auth.reason, detail: auth.detail || "" }) }));
  } else if (auth && auth.status === "unknown") {
    notes.push(h("span", { class: "sender-badge unchecked", title: auth.detail || "", text: t("console.sender.unchecked") }));
  }
  const from = meta.from || "";
  const replyTo = meta.reply_to || "";
  if (replyTo && replyTo.toLowerCase() !== from.toLowerCase()) {
    notes.push(h("span", { class: "reply-to-warning", text: t("console.sender.reply_to", { reply_to: replyTo, from: from || t("console.sender.the_sender") }) }));
  }
  return notes.length ? h("div", { class: "sender-notes" }, notes) : null;
}

let knownAgents = [];  // the last /agents answer: a redrawn header lists them at once, not after a round trip

function transferControl(kept) {
  const team = h("input", { class: "transfer-team", placeholder: t("console.transfer.team_placeholder"), "aria-label": t("console.transfer.to_team"), size: "8" });
  const agent = h("select", { class: "transfer-agent", "aria-label": t("console.transfer.to_agent") });
  const holder = view.conv.assignee;  // read now: by the answer another conversation may be open (j / k)
  const fill = (agents, choice) => {
    clear(agent, h("option", { value: "", text: t("console.transfer.agent_placeholder") }));
    for (const u of [...agents].sort((a, b) => compareText(a.name, b.name))) {
      if (u.id !== holder) agent.appendChild(h("option", { value: u.id, text: t("console.transfer.agent_option", { name: u.name, status: t(`console.status.${u.status}`) }) }));
    }
    restoreChoice(agent, choice);
  };
  fill(knownAgents, kept.agent);
  api("GET", "/agents").then((d) => {
    const same = JSON.stringify(d.agents) === JSON.stringify(knownAgents);
    knownAgents = d.agents;
    if (!same) fill(knownAgents, { value: agent.value, focused: document.activeElement === agent });
  }, () => {});
  restoreChoice(team, kept.team);
  const go = () => {
    const body = agent.value ? { agent_id: agent.value } : { team: team.value.trim() };
    if (!body.agent_id && !body.team) { toast(t("console.transfer.pick"), "error"); return; }
    act("transfer", body);
  };
  return h("span", { class: "group" }, agent, team, h("button", { text: t("console.transfer.button"), on: { click: go } }));
}

async function act(action, body) {
  const id = view.id;
  try {
    const data = await api("POST", `/conversations/${id}/${action}`, body);
    if (data.conversation) {
      upsert(data.conversation);
      onConversation(data.conversation);
    } else {
      openConversation(id);
    }
    // Declined or transferred away, it is no longer an agent's to see (events stop, a reload
    // is refused): back to the list (on a phone, the list pane) rather than a log that no
    // longer moves. The address change closes the pane (console.js route()).
    const gone = action === "decline" || (action === "transfer" && !isStaff());
    if (gone && view.id === id) {
      if (location.hash.startsWith("#/inbox/")) location.hash = "#/inbox";
      else closeConversation();
    }
    toast(t(`console.toast.${action}`));  // what happened, in words
  } catch (err) {
    toast(err.message, "error");
  }
}

function deliveryLabel(m) {
  if (m.direction !== "out") return null;
  if (m.delivery === "failed") {
    return h("span", { class: "delivery failed" }, `${t("console.delivery.failed", { error: m.delivery_error || t("console.delivery.not_delivered") })} `,
      h("button", { class: "link retry", text: t("console.delivery.retry"), on: { click: () => retry(m.seq) } }));
  }
  if (view.customerRead >= m.seq) return h("span", { class: "delivery seen", text: t("console.delivery.seen") });
  if (m.delivery === "sent") return h("span", { class: "delivery sent", text: t("console.delivery.sent") });
  if (m.delivery === "queued" && m.delivery_error) {
    return h("span", { class: "delivery retrying", text: t("console.delivery.retrying", { error: m.delivery_error }) });
  }
  return h("span", { class: "delivery queued", text: t("console.delivery.sending") });
}

function renderLog() {
  const log = $("#log");
  if (!log) return;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  clear(log);
  const seqs = [...view.messages.keys()].sort((a, b) => a - b);
  for (const seq of seqs) {
    const m = view.messages.get(seq);
    if (m.direction === "event") {
      // English: the line as written; other languages: its catalogue text.
      const said = m.meta && m.meta.event && language() !== "en" ? t(`console.event.${m.meta.event}`, eventParams(m.meta.params)) : m.text;
      log.appendChild(h("li", { class: "msg event", dataset: { seq }, text: `${said} · ${clock(m.created_at)}` }));
      continue;
    }
    const author = m.direction === "in" ? (m.author_name || customerName(view.conv))
      : m.direction === "note" ? t("console.conversation.note_by", { name: m.author_name || "?" }) : (m.author_name || t("console.conversation.system"));
    log.appendChild(h("li", { class: `msg ${m.direction}`, dataset: { seq } },
      h("div", { class: "meta" }, h("strong", { text: author }), " ", h("span", { class: "muted", text: clock(m.created_at) })),
      m.direction === "in" ? senderNotes(m) : null,
      h("div", { class: "text", text: m.text }),
      (m.attachments || []).map((a) => h("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer", text: a.name || t("console.conversation.attachment") })),
      deliveryLabel(m)));
  }
  if (atBottom || log.dataset.fresh !== view.id) log.scrollTop = log.scrollHeight;
  log.dataset.fresh = view.id;
}

function renderTyping() {
  const node = $("#typing");
  if (node) node.textContent = view.customerTyping ? t("console.conversation.typing", { name: customerName(view.conv) }) : "";
}

function renderSide() {
  const c = view.contact || {};
  let page = null;  // web chat: the page the visitor was on
  for (const m of view.messages.values()) if (m.direction === "in" && m.meta && m.meta.page) page = m.meta.page;
  const items = view.history.map((other) => h("li", {},
    h("a", { href: `#/inbox/${other.id}` }, channelIcon(other.channel_type), ` ${clock(other.created_at)} `,
      h("span", { class: `status status-${other.status}`, text: t(`console.conv_status.${other.status}`) }))));
  clear($("#conv-side"),
    h("div", { id: "kb-suggest", class: "kb-suggest" }),
    h("h3", { text: t("console.inbox.customer") }),
    h("dl", {},
      h("dt", { text: t("console.contact.name") }), h("dd", { text: c.name || "—" }),
      h("dt", { text: t("console.contact.email") }), h("dd", { text: c.email || "—" }),
      c.phone ? [h("dt", { text: t("console.contact.phone") }), h("dd", { text: c.phone })] : null,
      c.tier ? [h("dt", { text: t("console.contact.tier") }), h("dd", { text: c.tier })] : null,
      page ? [h("dt", { text: t("console.contact.page") }), h("dd", {}, h("a", { href: page, target: "_blank", rel: "noopener noreferrer", text: page }))] : null),
    h("h3", { text: t("console.contact.earlier") }),
    items.length ? h("ul", { class: "history" }, items) : h("p", { class: "muted", text: t("console.common.none") }),
    c.id ? h("p", {}, h("a", { id: "contact-profile-link", href: `#/contacts/${encodeURIComponent(c.id)}`, text: t("contacts.profile.open") })) : null);
  renderSuggestions($("#kb-suggest"), view.id, view.statement);
  mountTags($("#conv-side"), view.conv, upsert);
}

// --- the reply box ----------------------------------------------------------------------------
function composer() {
  const text = h("textarea", { id: "reply-text", placeholder: t("console.composer.placeholder"), "aria-label": t("console.composer.reply"), rows: "3" });
  const mode = h("select", { id: "reply-mode", "aria-label": t("console.composer.mode") },
    h("option", { value: "reply", text: t("console.composer.to_customer") }), h("option", { value: "note", text: t("console.composer.note") }));
  const picker = h("ul", { id: "canned-picker", class: "picker", hidden: true, role: "listbox" });
  const fileInput = h("input", { type: "file", id: "reply-file", multiple: true, hidden: true,
    on: { change: () => { attach([...fileInput.files]); fileInput.value = ""; } } });
  const attachButton = h("button", { type: "button", id: "reply-attach", class: "secondary", text: t("console.composer.attach"),
    title: t("console.composer.attach_title"), on: { click: () => fileInput.click() } });
  const form = h("form", { class: "composer", id: "composer" },
    picker, text, h("ul", { id: "reply-files", class: "reply-files" }),
    h("div", { class: "composer-bar" }, mode, fileInput, attachButton, h("span", { class: "muted", id: "reply-hint" }),
      h("button", { type: "submit", class: "primary", text: t("console.composer.send") })));
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  text.addEventListener("keydown", (e) => {
    if (e.isComposing || e.keyCode === 229) return; // the input method's own keys (pinyin)
    if (!picker.hidden) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const n = view.picker.items.length;
        view.picker.index = (view.picker.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        renderPicker();
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); choose(view.picker.items[view.picker.index]); return; }
      if (e.key === "Escape") { picker.hidden = true; return; }
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); }
  });
  text.addEventListener("input", () => { updatePicker(); agentTyping(); });
  mode.addEventListener("change", () => {
    form.classList.toggle("note-mode", mode.value === "note");
    renderComposerState();
  });
  return form;
}

// Files go up as soon as they are picked; the reply then names them.
async function attach(files) {
  const id = view.id;
  for (const file of files) {
    try {
      const data = await upload(`/conversations/${id}/attachments?name=${encodeURIComponent(file.name)}`, file);
      if (view.id !== id) return;
      view.files.push(data.attachment);
      renderFiles();
    } catch (err) {
      toast(`${file.name}: ${err.message}`, "error");
    }
  }
}

function renderFiles() {
  const list = $("#reply-files");
  if (!list) return;
  clear(list, view.files.map((a, i) => h("li", { class: "reply-file" },
    h("span", { text: t("console.composer.file", { name: a.name, kb: Math.max(1, Math.round(a.size / 1024)) }) }),
    h("button", { type: "button", class: "link", "aria-label": t("console.composer.remove", { name: a.name }), text: "×",
      on: { click: () => { view.files.splice(i, 1); renderFiles(); } } }))));
}

function renderComposerState() {
  const hint = $("#reply-hint");
  if (!hint) return;
  const c = view.conv;
  const mine = c.assignee === session.user.id;
  hint.textContent = mine || isStaff() ? "" : t("console.composer.accept_first");
  // Files only where the channel carries them, and only in replies (notes stay text).
  const files = Boolean(view.channel && view.channel.supports_attachments) && $("#reply-mode").value === "reply";
  $("#reply-attach").hidden = !files;
  $("#reply-files").hidden = !files;
}

function updatePicker() {
  const value = $("#reply-text").value;
  // Shortcuts may be Chinese (/你好): letters and digits of any script.
  const m = value.match(/^\/([\p{L}\p{N}_-]*)$/u);
  const picker = $("#canned-picker");
  if (!m) { picker.hidden = true; return; }
  const prefix = m[1].toLowerCase();
  view.picker.items = view.canned.filter((c) => c.shortcut.toLowerCase().startsWith(prefix))
    .sort((a, b) => compareText(a.shortcut, b.shortcut)).slice(0, 8);
  view.picker.index = 0;
  picker.hidden = view.picker.items.length === 0;
  renderPicker();
}

function renderPicker() {
  const picker = $("#canned-picker");
  clear(picker, view.picker.items.map((c, i) => h("li", {
    role: "option", class: i === view.picker.index ? "active" : "", "aria-selected": i === view.picker.index ? "true" : "false",
    on: { mousedown: (e) => { e.preventDefault(); choose(c); } },
  }, h("strong", { text: `/${c.shortcut}` }), " ", h("span", { class: "muted", text: c.title }))));
}

function choose(item) {
  if (!item) return;
  const text = $("#reply-text");
  text.value = item.rendered || item.text;
  $("#canned-picker").hidden = true;
  text.focus();
}

function agentTyping() {
  const now = Date.now();
  if ($("#reply-mode").value !== "reply") return;
  if (now - view.typingSentAt > 2500) {
    view.typingSentAt = now;
    live && live.send({ type: "typing", conversation_id: view.id, on: true });
  }
  clearTimeout(view.stopTypingTimer);
  view.stopTypingTimer = setTimeout(stopTyping, 4000);
}

function stopTyping() {
  clearTimeout(view.stopTypingTimer);
  if (view.typingSentAt) {
    view.typingSentAt = 0;
    live && live.send({ type: "typing", conversation_id: view.id, on: false });
  }
}

function markRead() {
  if (!view.id || document.hidden) return;
  let seq = 0;
  for (const m of view.messages.values()) if (m.direction === "in") seq = Math.max(seq, m.seq);
  if (seq > view.readSent && live && live.send({ type: "read", conversation_id: view.id, seq })) view.readSent = seq;
}

// The id of the reply being sent: sending the same words again (the answer was lost, or Send
// was pressed twice) reuses it, so the gateway stores and sends that reply once.
let pending = null;  // {conversation, type, text, clientId}

// getRandomValues, not randomUUID: the latter exists only on https (or localhost) pages.
function newClientId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function submit() {
  const text = $("#reply-text");
  const type = $("#reply-mode").value;
  const files = type === "reply" && !$("#reply-attach").hidden ? view.files : [];
  if (!text.value.trim() && !files.length) return;
  const id = view.id;
  const same = pending && pending.conversation === id && pending.type === type && pending.text === text.value;
  if (!same) pending = { conversation: id, type, text: text.value, clientId: newClientId() };
  const sent = pending;
  const body = { text: text.value, type, client_id: sent.clientId };
  if (files.length) body.attachments = files;
  stopTyping();
  try {
    const data = await api("POST", `/conversations/${id}/messages`, body);
    if (pending === sent) pending = null;
    // The box as it is now (a reload of the conversation meanwhile builds a new one), unless
    // the agent has written something else since.
    const box = $("#reply-text");
    if (view.id === id && box && box.value === sent.text) box.value = "";
    if (files.length) { view.files = []; renderFiles(); }
    if (view.id === id) onMessage(id, data.message, "created");
  } catch (err) {
    toast(err.message, "error");
  }
}

async function retry(seq) {
  // Shown as queued at once; the delivery events that follow say how it went (the answer to
  // this request may arrive after them, so it is not applied).
  const m = view.messages.get(seq);
  if (m) Object.assign(m, { delivery: "queued", delivery_error: null });
  renderLog();
  try {
    await api("POST", `/conversations/${view.id}/messages/${seq}/retry`);
  } catch (err) {
    toast(err.message, "error");
    openConversation(view.id);
  }
}

document.addEventListener("visibilitychange", markRead);

// An event line's parameters that name an SLA clock or a priority class, in the agent's
// language too (an unknown name is shown as it is).
const EVENT_PARAM_KEYS = { clock: "console.sla.clock.", from: "console.priority.", to: "console.priority.", priority: "console.priority." };
function eventParams(params) {
  const out = {};
  for (const [name, value] of Object.entries(params || {})) {
    const prefix = EVENT_PARAM_KEYS[name];
    out[name] = prefix && has(prefix + value) ? t(prefix + value) : value;
  }
  return out;
}
