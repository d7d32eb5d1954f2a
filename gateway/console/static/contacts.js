// The Contacts page (#/contacts, #/contacts/<id>): contacts by latest activity, merge
// suggestions (a shared verified email, phone or WeChat unionid; never a name), a contact's
// profile with its identities and conversations on every channel, notes and attributes, merge
// and undo, and for admins export and erase. Everything a customer wrote goes in as text (h()).

import { api, isAdmin } from "./api.js";
import { $, channelIcon, clear, clock, h, toast } from "./dom.js";
import { t } from "./i18n.js";

const state = { contacts: [], next: null };
const NARROW = "(max-width: 700px)";  // agentux.css's phone layout: one column

export async function contactsPage(id) {
  const page = $("#page-contacts");
  if (!page.dataset.ready) {
    const layout = h("div", { class: "contacts-layout" },
        h("div", {},
          h("h2", { text: t("contacts.suggestions.title") }),
          h("ul", { id: "contact-suggestions", class: "history" }),
          h("h2", { text: t("contacts.list.title") }),
          h("ul", { id: "contact-list", class: "history" }),
          h("button", { type: "button", id: "contacts-more", class: "link", hidden: true, text: t("contacts.list.more"),
            on: { click: () => loadList(true) } })),
        h("section", { id: "contact-profile" }, h("p", { class: "empty", text: t("contacts.profile.pick") })));
    clear(page, layout);
    page.dataset.ready = "1";
  }
  await Promise.all([loadList(false), loadSuggestions()]);
  if (id) await showContact(id);
}

function name(contact) {
  return contact.name || contact.email || contact.phone || contact.id;
}

async function loadList(more) {
  const query = more && state.next ? `?before=${state.next}` : "";
  let data;
  try {
    data = await api("GET", `/contacts${query}`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  state.contacts = more ? state.contacts.concat(data.contacts) : data.contacts;
  state.next = data.next_before;
  clear($("#contact-list"), state.contacts.map((c) => h("li", { class: "contact-row", dataset: { id: c.id } },
    h("a", { href: `#/contacts/${encodeURIComponent(c.id)}` },
      h("strong", { text: name(c) }),
      c.tier ? h("span", { class: "muted", text: ` · ${c.tier}` }) : null,
      h("span", { class: "muted", text: ` · ${t("contacts.list.identities", { count: c.identities.length })}` })))));
  $("#contacts-more").hidden = !state.next;
}

async function loadSuggestions() {
  let data;
  try {
    data = await api("GET", "/contacts/suggestions");
  } catch {
    return;
  }
  const items = data.suggestions.map((s) => {
    const [target, ...sources] = s.contacts;
    return h("li", { class: "suggestion", dataset: { claim: s.claim } },
      h("span", { text: t(`contacts.claim.${s.kind}`, { value: s.value }) }), " ",
      sources.map((source) => h("button", { type: "button", class: "merge-suggested",
        text: t("contacts.merge.suggested", { source: name(source), target: name(target) }),
        on: { click: () => merge(source.id, target.id) } })), " ",
      h("button", { type: "button", class: "link dismiss-suggestion", text: t("contacts.suggestions.dismiss"),
        title: t("contacts.suggestions.dismiss_title"),
        on: { click: () => dismiss(s.contacts.map((c) => c.id)) } }));
  });
  clear($("#contact-suggestions"), items.length ? items : h("li", { class: "muted", text: t("contacts.suggestions.none") }));
}

async function dismiss(contacts) {
  try {
    await api("POST", "/contacts/suggestions/dismiss", { contacts });
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  await loadSuggestions();
}

async function merge(source, target) {
  try {
    await api("POST", "/contacts/merge", { source, target });
    toast(t("contacts.merge.done"));
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  location.hash = `#/contacts/${encodeURIComponent(target)}`;
  await Promise.all([loadList(false), loadSuggestions(), showContact(target)]);
}

async function undo(mergeId, showId) {
  try {
    await api("POST", `/contacts/merges/${encodeURIComponent(mergeId)}/undo`);
    toast(t("contacts.undo.done"));
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  await Promise.all([loadList(false), loadSuggestions(), showContact(showId)]);
}

function timelineText(e, id) {
  const other = e.source === id ? e.target : e.source;
  if (e.type === "merge") return t(e.source === id ? "contacts.timeline.merged_into" : "contacts.timeline.merged_from", { other, actor: e.actor, count: e.conversations });
  if (e.type === "undo") return t("contacts.timeline.undone", { other, actor: e.actor, count: e.conversations });
  if (e.type === "edit") return t("contacts.timeline.edited", { actor: e.actor, fields: (e.fields || []).join(", ") });
  return t("contacts.timeline.erased", { actor: e.actor });
}

async function showContact(id) {
  const pane = $("#contact-profile");
  let data;
  try {
    data = await api("GET", `/contacts/${encodeURIComponent(id)}`);
  } catch (err) {
    clear(pane, h("p", { class: "error", text: err.message }));
    return;
  }
  const c = data.contact;
  const undone = new Set(data.timeline.filter((e) => e.type === "undo").map((e) => e.merge_id));
  const notes = h("textarea", { id: "contact-notes", rows: "3", "aria-label": t("contacts.profile.notes"), value: c.notes });
  const attrs = h("textarea", { id: "contact-attrs", rows: "3", "aria-label": t("contacts.profile.attrs"),
    placeholder: "order=A-1001", value: Object.entries(c.attrs).map(([k, v]) => `${k}=${v}`).join("\n") });
  const source = h("input", { id: "merge-source", "aria-label": t("contacts.merge.source"), placeholder: t("contacts.merge.source") });
  clear(pane,
    h("h2", { id: "contact-name", text: name(c) }),
    c.merged_into ? h("p", { class: "merged" }, t("contacts.profile.merged_into"), " ",
      h("a", { href: `#/contacts/${encodeURIComponent(c.merged_into)}`, text: c.merged_into }), " ",
      h("button", { type: "button", id: "undo-merge", text: t("contacts.undo.button"), on: { click: () => undo(c.merge_id, c.id) } })) : null,
    c.erased_at ? h("p", { class: "muted", text: t("contacts.profile.erased") }) : null,
    h("dl", {},
      h("dt", { text: t("contacts.profile.id") }), h("dd", { text: c.id }),
      h("dt", { text: t("contacts.profile.email") }), h("dd", { text: c.email || "—" }),
      h("dt", { text: t("contacts.profile.phone") }), h("dd", { text: c.phone || "—" }),
      h("dt", { text: t("contacts.profile.tier") }), h("dd", { text: c.tier || "—" }),
      h("dt", { text: t("contacts.profile.advisor") }), h("dd", { text: c.advisor || "—" })),
    h("h3", { text: t("contacts.profile.identities") }),
    h("ul", { id: "contact-identities", class: "history" }, c.identities.map((i) =>
      h("li", {}, channelIcon(i.channel_type), ` ${i.channel_name || i.channel_id} · ${i.external_id}`))),
    h("h3", { text: t("contacts.profile.conversations") }),
    h("ul", { id: "contact-conversations", class: "history" }, data.conversations.map((conv) => h("li", { dataset: { id: conv.id } },
      h("a", { href: `#/inbox/${encodeURIComponent(conv.id)}` }, channelIcon(conv.channel_type), ` ${clock(conv.created_at)} `,
        h("span", { class: `status status-${conv.status}`, text: t(`console.conv_status.${conv.status}`) }),
        conv.subject ? h("span", { class: "muted", text: ` ${conv.subject}` }) : null)))),
    data.conversations_hidden ? h("p", { class: "muted", text: t("contacts.profile.hidden", { count: data.conversations_hidden }) }) : null,
    c.merged_into || c.erased_at ? null : [
      h("h3", { text: t("contacts.profile.notes") }), notes,
      h("h3", { text: t("contacts.profile.attrs") }), attrs,
      h("div", {}, h("button", { type: "button", id: "contact-save", text: t("contacts.profile.save"),
        on: { click: () => save(c.id, notes.value, attrs.value) } })),
      h("h3", { text: t("contacts.merge.title") }),
      h("div", {}, source, " ", h("button", { type: "button", id: "merge-button", text: t("contacts.merge.button"),
        on: { click: () => source.value.trim() && merge(source.value.trim(), c.id) } })),
    ],
    h("h3", { text: t("contacts.profile.timeline") }),
    h("ul", { id: "contact-timeline", class: "history" }, data.timeline.map((e) => h("li", { dataset: { type: e.type } },
      h("span", { text: `${clock(e.at)} ${timelineText(e, c.id)}` }),
      e.type === "merge" && e.target === c.id && !undone.has(e.merge_id) && !c.merged_into
        ? [" ", h("button", { type: "button", class: "undo-merge", text: t("contacts.undo.button"), on: { click: () => undo(e.merge_id, c.id) } })]
        : null))),
    isAdmin() && !c.erased_at ? h("div", { class: "privacy" },
      h("button", { type: "button", id: "contact-export", text: t("contacts.privacy.export"), on: { click: () => exportContact(c.id) } }), " ",
      h("button", { type: "button", id: "contact-erase", class: "danger", text: t("contacts.privacy.erase"), on: { click: () => erase(c) } })) : null);
  for (const row of document.querySelectorAll("#contact-list .contact-row")) row.classList.toggle("active", row.dataset.id === c.id);
  // On a phone the profile sits below the list: bring it into view.
  if (matchMedia(NARROW).matches) pane.scrollIntoView({ block: "start" });
}

function parseAttrs(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (!line.trim()) continue;
    if (at < 1) throw new Error(t("contacts.profile.attrs_line", { line }));
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

async function save(id, notes, attrsText) {
  try {
    await api("PATCH", `/contacts/${encodeURIComponent(id)}`, { notes, attrs: parseAttrs(attrsText) });
    toast(t("contacts.profile.saved"));
    await showContact(id);
  } catch (err) {
    toast(err.message, "error");
  }
}

async function exportContact(id) {
  try {
    const data = await api("GET", `/contacts/${encodeURIComponent(id)}/export`);
    const link = h("a", { download: `contact-${id}.json` });
    link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (err) {
    toast(err.message, "error");
  }
}

async function erase(contact) {
  if (!window.confirm(t("contacts.privacy.confirm", { name: name(contact) }))) return;
  try {
    await api("POST", `/contacts/${encodeURIComponent(contact.id)}/erase`);
    toast(t("contacts.privacy.erased"));
    await Promise.all([loadList(false), showContact(contact.id)]);
  } catch (err) {
    toast(err.message, "error");
  }
}
