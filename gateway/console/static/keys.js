// Keyboard shortcuts of the inbox: j / k next and previous conversation, r reply, n note, e
// resolve (the resolve button's own confirmation applies), / canned responses, ? this list.
// None fires while the agent types in a field or holds Ctrl, Alt or Meta.

import { $, clear, h } from "./dom.js";
import { t } from "./i18n.js";

export const SHORTCUTS = [
  ["j", "console.keys.next"], ["k", "console.keys.prev"], ["r", "console.keys.reply"],
  ["n", "console.keys.note"], ["e", "console.keys.resolve"], ["/", "console.keys.canned"],
  ["?", "console.keys.help"], ["Esc", "console.keys.escape"],
];

function typing(target) {
  if (!target || !(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
}

function inboxShown() {
  const page = $("#page-inbox");
  return page && !page.hidden && !$("#app").hidden;
}

function step(delta) {
  const rows = [...document.querySelectorAll("#conversations .row")];
  if (!rows.length) return;
  const open = (location.hash.match(/^#\/inbox\/(.+)$/) || [])[1];
  const at = rows.findIndex((r) => r.dataset.id === open);
  const next = rows[at < 0 ? (delta > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + delta))];
  location.hash = `#/inbox/${next.dataset.id}`;
  next.scrollIntoView({ block: "nearest" });
}

function compose(mode, prefix = "") {
  const box = $("#reply-text");
  const select = $("#reply-mode");
  if (!box || !select) return;
  if (select.value !== mode) {
    select.value = mode;
    select.dispatchEvent(new Event("change"));
  }
  box.focus();
  if (prefix) {
    box.value = prefix;
    box.dispatchEvent(new Event("input"));
  }
}

export function toggleSheet(show) {
  let sheet = $("#keys-sheet");
  if (!sheet) {
    sheet = h("div", { id: "keys-sheet", class: "keys-sheet", role: "dialog", "aria-modal": "true", "aria-labelledby": "keys-title", hidden: true,
      on: { click: (e) => { if (e.target === sheet) toggleSheet(false); } } });
    document.body.append(sheet);
  }
  const open = show ?? sheet.hidden;
  if (open) {
    clear(sheet, h("div", { class: "card keys-card" },
      h("h2", { id: "keys-title", text: t("console.keys.title") }),
      h("dl", {}, SHORTCUTS.map(([key, label]) => [h("dt", {}, h("kbd", { text: key })), h("dd", { text: t(label) })])),
      h("button", { type: "button", id: "keys-close", text: t("console.keys.close"), on: { click: () => toggleSheet(false) } })));
  }
  sheet.hidden = !open;
  if (open) $("#keys-close").focus();
}

export function initKeys() {
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && $("#keys-sheet") && !$("#keys-sheet").hidden) { toggleSheet(false); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing || typing(e.target) || !inboxShown()) return;
    const actions = {
      j: () => step(1), k: () => step(-1),
      r: () => compose("reply"), n: () => compose("note"), "/": () => compose("reply", "/"),
      e: () => $("#conv-head button.resolve")?.click(),
      "?": () => toggleSheet(),
    };
    const act = actions[e.key];
    if (!act) return;
    e.preventDefault();
    act();
  });
}

// A small "?" button in the top bar opens the sheet too.
export function keysButton() {
  return h("button", { type: "button", id: "keys-button", class: "link", title: t("console.keys.open"), "aria-label": t("console.keys.open"), text: "?",
    on: { click: () => toggleSheet(true) } });
}
