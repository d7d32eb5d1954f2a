// The knowledge base in the console: suggested answers beside a conversation (articles and
// canned responses for the customer's latest messages, one click inserts into the reply box)
// and the Knowledge base page for admins and supervisors (list, search, edit, import, export).

import { api, isAdmin, session } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { compareText, t } from "./i18n.js";

// --- suggested answers ------------------------------------------------------------------------
let suggestToken = 0;

// ``statement``: the approved statement of the incident this conversation (a mention) belongs
// to, offered first.
export async function renderSuggestions(box, conversationId, statement = "") {
  if (!box) return;
  const mine = ++suggestToken;
  let data;
  try {
    data = await api("GET", `/kb/suggestions?conversation_id=${encodeURIComponent(conversationId)}`);
  } catch {
    return;  // not allowed or gone: nothing to suggest
  }
  if (mine !== suggestToken) return;
  const insert = (text) => {
    const reply = $("#reply-text");
    if (!reply) return;
    reply.value = text;
    reply.focus();
  };
  // Suggestions the agent dismissed stay hidden for this conversation (this tab), also when
  // the next customer message renders the list again.
  const dismissedKey = `kb-dismissed:${conversationId}`;
  const dismissed = new Set(JSON.parse(sessionStorage.getItem(dismissedKey) || "[]"));
  const dismiss = (li, key) => {
    dismissed.add(key);
    sessionStorage.setItem(dismissedKey, JSON.stringify([...dismissed]));
    const list = li.parentNode;
    li.remove();
    if (list && !list.children.length) list.replaceWith(h("p", { class: "muted", text: t("console.common.none") }));
  };
  const closer = (key) => h("button", { type: "button", class: "link dismiss", title: t("console.kb.dismiss"),
    "aria-label": t("console.kb.dismiss"), text: "×",
    on: { click: (event) => dismiss(event.currentTarget.closest("li"), key) } });
  const items = [];
  if (statement) {
    items.push(h("li", { class: "suggestion statement" },
      h("button", { type: "button", class: "link insert", title: t("console.kb.insert"),
        text: t("console.kb.statement"), on: { click: () => insert(statement) } })));
  }
  for (const { article, match } of data.articles) {
    if (dismissed.has(`article:${article.id}`)) continue;
    items.push(h("li", { class: "suggestion article", dataset: { article: article.id } },
      h("button", { type: "button", class: "link insert", title: t("console.kb.insert"),
        text: article.title, on: { click: () => insert(article.body) } }),
      h("span", { class: "muted", text: ` ${Math.round(match.confidence * 100)}%` }),
      closer(`article:${article.id}`)));
  }
  for (const c of data.canned) {
    if (dismissed.has(`canned:${c.id}`)) continue;
    items.push(h("li", { class: "suggestion canned", dataset: { canned: c.id } },
      h("button", { type: "button", class: "link insert", title: t("console.kb.insert"),
        text: `/${c.shortcut} ${c.title}`, on: { click: () => insert(c.rendered || c.text) } }),
      closer(`canned:${c.id}`)));
  }
  const known = [...data.customer.tags, ...data.customer.products].sort(compareText);
  clear(box,
    h("h3", { text: t("console.kb.suggested") }),
    items.length ? h("ul", { class: "suggestions" }, items) : h("p", { class: "muted", text: t("console.common.none") }),
    known.length ? [h("h3", { text: t("console.kb.earlier_tags") }),
      h("p", { class: "known-tags" }, known.map((tag) => h("span", { class: "tag", text: tag })))] : null);
}

// --- the Knowledge base page ------------------------------------------------------------------
export async function kbPage() {
  const page = $("#page-kb");
  const area = h("div", { id: "kb-edit" });
  const list = h("tbody");
  const search = h("input", { type: "search", id: "kb-search", placeholder: t("console.kb.search"), "aria-label": t("console.kb.search_label") });
  const load = async () => {
    try {
      const q = search.value.trim();
      const data = await api("GET", q ? `/kb/articles?q=${encodeURIComponent(q)}` : "/kb/articles?limit=500");
      const rows = q ? data.articles : [...data.articles].sort((a, b) => compareText(a.title, b.title));
      clear(list, rows.map((a) => h("tr", { dataset: { article: a.id } },
        h("td", { text: a.title }), h("td", { text: a.language }), h("td", { text: [...(a.tags || [])].sort(compareText).join(t("console.common.list_sep")) }),
        h("td", { text: a.product || "" }),
        h("td", {}, h("button", { class: "link", text: t("console.common.edit"), on: { click: () => articleForm(area, a, load) } }),
          h("button", { class: "link danger", text: t("console.common.delete"), on: { click: () => remove(a, load) } })))));
    } catch (err) {
      toast(err.message, "error");
    }
  };
  search.addEventListener("input", () => { clearTimeout(search.timer); search.timer = setTimeout(load, 200); });
  const fileInput = h("input", { type: "file", id: "kb-import-file", accept: ".csv,.md,.markdown,text/csv,text/markdown", hidden: true });
  const report = h("div", { id: "kb-import-report", role: "status" });
  fileInput.addEventListener("change", () => { importFile(fileInput.files[0], report, load); fileInput.value = ""; });
  clear(page,
    h("h2", { text: t("console.nav.kb") }),
    h("p", { class: "muted" }, t("console.kb.help"), " ", t("console.kb.csv_columns"), " ",
      h("code", { text: "title, body, language, tags, product, id" })),
    h("div", { class: "toolbar" }, search,
      h("button", { type: "button", id: "kb-new", text: t("console.kb.new"), on: { click: () => articleForm(area, null, load) } }),
      h("button", { type: "button", id: "kb-import", text: t("console.kb.import"), on: { click: () => fileInput.click() } }),
      h("button", { type: "button", text: t("console.kb.export_csv"), on: { click: () => download("csv") } }),
      h("button", { type: "button", text: t("console.kb.export_md"), on: { click: () => download("markdown") } }),
      fileInput),
    report, area,
    h("table", { class: "table", id: "kb-articles" },
      h("thead", {}, h("tr", {}, ["title", "language", "tags", "product"].map((k) => h("th", { text: t(`console.kb.${k}`) })), h("th", {}))),
      list),
    isAdmin() ? synonymsForm() : null);
  await load();
}

function articleForm(area, item, reload) {
  const title = h("input", { name: "title", required: true, value: item ? item.title : "" });
  const body = h("textarea", { name: "body", required: true, rows: "8" });
  body.value = item ? item.body : "";
  const language = h("input", { name: "language", required: true, value: item ? item.language : "zh", size: "6" });
  const tags = h("input", { name: "tags", value: item ? (item.tags || []).join(", ") : "", placeholder: t("console.kb.tags_example") });
  const product = h("input", { name: "product", value: item ? item.product || "" : "" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    const data = { title: title.value, body: body.value, language: language.value.trim(),
      tags: tags.value.split(/[,，;；、]/).map((x) => x.trim()).filter(Boolean), product: product.value.trim() || null };
    try {
      if (item) await api("PATCH", `/kb/articles/${item.id}`, data);
      else await api("POST", "/kb/articles", data);
      toast(t("console.common.saved"));
      clear(area);
      reload();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const field = (label, input) => h("label", { class: "field" }, h("span", { class: "label", text: label }), input);
  clear(area, h("form", { class: "card form", id: "kb-form", on: { submit } },
    h("h3", { text: t(item ? "console.kb.edit" : "console.kb.new_title") }),
    field(t("console.kb.title"), title), field(t("console.kb.body"), body), field(t("console.kb.language_label"), language),
    field(t("console.kb.tags_label"), tags), field(t("console.kb.product"), product), error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: t("console.common.save") }),
      h("button", { type: "button", text: t("console.common.cancel"), on: { click: () => clear(area) } }))));
  title.focus();
}

async function remove(article, reload) {
  if (!confirm(t("console.kb.confirm_delete", { title: article.title }))) return;
  try { await api("DELETE", `/kb/articles/${article.id}`); reload(); } catch (err) { toast(err.message, "error"); }
}

async function importFile(file, report, reload) {
  if (!file) return;
  const format = /\.(md|markdown)$/i.test(file.name) ? "markdown" : "csv";
  const resp = await fetch(`/api/v1/kb/import?format=${format}`, {
    method: "POST", body: await file.text(),
    headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "text/plain; charset=utf-8" },
  });
  const data = await resp.json().catch(() => ({}));
  if (resp.ok) {
    clear(report, h("p", { class: "ok", text: t("console.kb.imported", { created: data.created, updated: data.updated }) }));
    reload();
    return;
  }
  const err = data.error || {};
  clear(report, h("p", { class: "error", text: t("console.kb.import_failed") }),
    err.rows ? h("ul", { class: "import-errors" }, err.rows.map((r) => h("li", { text: t("console.kb.import_row", { row: r.row, field: r.field, message: r.message }) }))) : null);
}

async function download(format) {
  const resp = await fetch(`/api/v1/kb/export?format=${format}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!resp.ok) { toast(t("console.kb.export_failed"), "error"); return; }
  const url = URL.createObjectURL(await resp.blob());
  const link = h("a", { href: "#", download: format === "csv" ? "knowledge-base.csv" : "knowledge-base.md" });
  link.href = url;
  document.body.appendChild(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

function synonymsForm() {
  const text = h("textarea", { id: "kb-synonyms", rows: "5", "aria-label": t("console.kb.synonyms_label") });
  api("GET", "/kb/synonyms").then((d) => { text.value = d.groups.map((g) => g.join(", ")).join("\n"); }, () => {});
  const save = async (e) => {
    e.preventDefault();
    const groups = text.value.split("\n").map((l) => l.split(/[,，、]/).map((x) => x.trim()).filter(Boolean)).filter((g) => g.length);
    try { await api("PUT", "/kb/synonyms", { groups }); toast(t("console.kb.synonyms_saved")); } catch (err) { toast(err.message, "error"); }
  };
  return h("form", { class: "card form", on: { submit: save } },
    h("h3", { text: t("console.kb.synonyms") }),
    h("p", { class: "muted", text: t("console.kb.synonyms_help") }),
    text, h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: t("console.kb.synonyms_save") })));
}
