// The conversation list's extras: each row's last message (ours or the customer's, one line,
// as text), its time, the assignee's name and the unread count; sorting by latest activity or
// by SLA due (kept in localStorage, asked of the API too), a tag filter with the tags in use,
// and an empty list that says what to do (a new admin: create a channel).

import { api, isAdmin, session } from "./api.js";
import { $, clock, h } from "./dom.js";
import { t } from "./i18n.js";
import { tagsInUse, tagsOf } from "./tags.js";
import { takeCounts, unreadOf } from "./unread.js";

const SORT = "gw.sort";
const previews = new Map();  // conversation id -> last message {direction, text, created_at, attachments}
const names = new Map();     // user id -> name (assignees)

export function sortValue() { return $("#filters")?.sort?.value || "activity"; }
export function tagValue() { return ($("#filters")?.tag?.value || "").trim().toLowerCase(); }

// The sort and tag controls join the filters form (its change event reloads the list).
export function initListControls() {
  const form = $("#filters");
  if (!form || form.sort) return;
  const sort = h("select", { name: "sort", "aria-label": t("console.list.sort") },
    h("option", { value: "activity", text: t("console.list.sort.activity") }),
    h("option", { value: "sla", text: t("console.list.sort.sla") }));
  sort.value = localStorage.getItem(SORT) === "sla" ? "sla" : "activity";
  sort.addEventListener("change", () => localStorage.setItem(SORT, sort.value));
  const tag = h("input", {
    name: "tag", type: "search", list: "tags-in-use", maxlength: "60", autocomplete: "off",
    placeholder: t("console.list.tag_placeholder"), "aria-label": t("console.list.tag_filter"),
  });
  tag.addEventListener("focus", () => tagsInUse(true));
  form.append(sort, tag);
  // Enter in the tag box applies it (and never submits the form, which would reload the page).
  form.addEventListener("submit", (e) => { e.preventDefault(); tag.blur(); });
}

// The list request: sort and tag.
export function extendQuery(q) {
  q.set("sort", sortValue());
  const tag = tagValue();
  if (tag) q.set("tag", tag);
}

// The list was (re)loaded from the API: its rows' previews, assignees and unread counts.
export function listLoaded(conversations) {
  for (const c of conversations) {
    if (c.last_message) previews.set(c.id, c.last_message);
    if (c.assignee && c.assignee_name) names.set(c.assignee, c.assignee_name);
  }
  takeCounts(conversations);
}

// A live message: the row's preview follows it (notes and event lines are not previews).
export function takeMessage(conversationId, message) {
  if (!message || (message.direction !== "in" && message.direction !== "out")) return;
  const before = previews.get(conversationId);
  if (before && before.created_at > message.created_at) return;
  previews.set(conversationId, {
    direction: message.direction, text: String(message.text || "").replace(/\s+/g, " ").trim().slice(0, 140),
    created_at: message.created_at, attachments: (message.attachments || []).length,
    author_id: message.author_id, author_name: message.author_name,
  });
}

// A row from a live event has no assignee name: the agents' names are fetched once.
let agentsAsked = false;
function assigneeName(conv) {
  if (!conv.assignee) return null;
  if (conv.assignee === session.user.id) return session.user.name;
  const name = conv.assignee_name || names.get(conv.assignee);
  if (name || agentsAsked) return name || null;
  agentsAsked = true;
  api("GET", "/agents").then((d) => {
    for (const a of d.agents) names.set(a.id, a.name);
    document.dispatchEvent(new Event("gw:names"));
  }, () => {});
  return null;
}

export function matchesTag(conv) {
  const tag = tagValue();
  return !tag || tagsOf(conv).includes(tag);
}

function dueOf(conv) {
  if (conv.sla_due !== undefined && conv.sla_due !== null) return conv.sla_due;
  if (conv.status === "resolved") return null;
  if (!conv.first_response_at) return conv.first_response_due || null;
  return conv.waiting_since && conv.next_response_due ? Number(conv.next_response_due) : null;
}

export function compareRows(a, b) {
  if (sortValue() === "sla") {
    const da = dueOf(a) ?? Infinity;
    const db = dueOf(b) ?? Infinity;
    if (da !== db) return da - db;
  }
  return (b.updated_at || 0) - (a.updated_at || 0);
}

// One row of inbox.js, with the preview line, the time, the assignee and the unread badge.
export function decorateRow(row, conv) {
  const last = previews.get(conv.id) || conv.last_message;
  const main = row.querySelector(".main");
  const side = row.querySelector(".side");
  if (main && last) {
    const said = last.text || (last.attachments ? t("console.list.attachment") : "");
    main.insertBefore(h("span", {
      class: `preview preview-${last.direction}`,
      text: last.direction !== "out" ? said
        : last.author_id === session.user.id ? t("console.list.you", { text: said })
          : t("console.list.by", { name: last.author_name || t("console.conversation.system"), text: said }),
    }), main.querySelector(".line"));
  }
  const { n, capped } = unreadOf(conv.id);
  row.classList.toggle("unread", n > 0);
  const who = assigneeName(conv);
  if (side) {
    side.prepend(
      last ? h("time", { class: "when", dateTime: new Date(last.created_at).toISOString(), text: clock(last.created_at) }) : "",
      n ? h("span", {
        class: "unread-badge", title: t(capped ? "console.unread.capped" : "console.unread.badge", { count: n }),
        text: capped ? `${n}+` : String(n),
      }) : "");
  }
  const line = row.querySelector(".line");
  if (line && (who || !conv.assignee)) {
    line.append(h("span", { class: "assignee", text: who ? t("console.list.assignee", { name: who }) : t("console.list.unassigned") }));
  }
  return row;
}

// The list is empty: a new admin with no channel is told to create one.
export function emptyRow(channelCount) {
  if (isAdmin() && channelCount === 0) {
    return h("li", { class: "empty empty-hint" },
      h("p", { text: t("console.empty.no_channels") }),
      h("a", { href: "#/channels", class: "button primary", text: t("console.empty.create_channel") }));
  }
  return h("li", { class: "empty", text: t("console.empty.none") });
}
