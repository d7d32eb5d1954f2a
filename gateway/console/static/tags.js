// Tags in the console: a conversation's tags in its side panel (add with autocompletion from the
// tags in use, remove with ×; PUT /conversations/<id>/tags keeps the product), and the tags in
// use for the list's tag filter (GET /tags, shared through one <datalist>). Tags may be Chinese;
// the gateway stores them lower-cased.

import { api } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { compareText, t } from "./i18n.js";

let known = [];
let loadedAt = 0;

export function tagsOf(conv) {
  try {
    const tags = JSON.parse((conv && conv.tags) || "[]");
    return Array.isArray(tags) ? tags.map(String) : [];
  } catch { return []; }
}

function datalist() {
  let list = $("#tags-in-use");
  if (!list) {
    list = h("datalist", { id: "tags-in-use" });
    document.body.append(list);
  }
  return list;
}

// The tags in use, fetched again when older than a minute (or when asked to).
export async function tagsInUse(fresh = false) {
  if (fresh || Date.now() - loadedAt > 60_000) {
    try {
      known = (await api("GET", "/tags")).tags.sort(compareText);
      loadedAt = Date.now();
    } catch { /* keep what we had */ }
  }
  clear(datalist(), known.map((tag) => h("option", { value: tag })));
  return known;
}

// The tag block of the conversation side panel.
export function mountTags(panel, conv, onSaved) {
  if (!panel || !conv) return;
  let block = $("#conv-tags", panel);
  if (!block) {
    block = h("section", { id: "conv-tags", class: "conv-tags" });
    panel.prepend(block);
  }
  const tags = tagsOf(conv);
  const save = async (next) => {
    try {
      const data = await api("PUT", `/conversations/${encodeURIComponent(conv.id)}/tags`, { tags: next, product: conv.product ?? null });
      conv.tags = JSON.stringify(data.tags);
      toast(t("console.tags.saved"));
      mountTags(panel, conv, onSaved);
      tagsInUse(true);
      if (onSaved) onSaved(conv);
      $("#tag-input", panel)?.focus();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  const input = h("input", {
    id: "tag-input", list: "tags-in-use", maxlength: "60", autocomplete: "off",
    placeholder: t("console.tags.add"), "aria-label": t("console.tags.add"),
    on: { focus: () => tagsInUse() },
  });
  const form = h("form", { class: "tag-form", on: { submit: (e) => {
    e.preventDefault();
    const tag = input.value.trim().toLowerCase();
    if (!tag || tags.includes(tag)) { input.value = ""; return; }
    save([...tags, tag]);
  } } }, input, h("button", { type: "submit", text: t("console.tags.add_button") }));
  clear(block,
    h("h3", { text: t("console.tags.heading") }),
    tags.length
      ? h("ul", { class: "tag-list" }, tags.map((tag) => h("li", { class: "tag", dataset: { tag } },
        h("span", { text: tag }),
        h("button", { type: "button", class: "link", "aria-label": t("console.tags.remove", { tag }), text: "×",
          on: { click: () => save(tags.filter((x) => x !== tag)) } }))))
      : h("p", { class: "muted", text: t("console.tags.none") }),
    form);
  tagsInUse();
}
