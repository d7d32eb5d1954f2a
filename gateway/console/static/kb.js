// The knowledge base in the console: suggested answers beside a conversation (articles and
// canned responses for the customer's latest messages, one click inserts into the reply box)
// and the Knowledge base page for admins and supervisors (list, search, edit, import, export).

import { api, isAdmin, session } from "./api.js";
import { $, clear, h, toast } from "./dom.js";

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
  const items = [];
  if (statement) {
    items.push(h("li", { class: "suggestion statement" },
      h("button", { type: "button", class: "link", title: "Insert into the reply box",
        text: "Approved statement (incident)", on: { click: () => insert(statement) } })));
  }
  for (const { article, match } of data.articles) {
    items.push(h("li", { class: "suggestion article", dataset: { article: article.id } },
      h("button", { type: "button", class: "link", title: "Insert into the reply box",
        text: article.title, on: { click: () => insert(article.body) } }),
      h("span", { class: "muted", text: ` ${Math.round(match.confidence * 100)}%` })));
  }
  for (const c of data.canned) {
    items.push(h("li", { class: "suggestion canned", dataset: { canned: c.id } },
      h("button", { type: "button", class: "link", title: "Insert into the reply box",
        text: `/${c.shortcut} ${c.title}`, on: { click: () => insert(c.rendered || c.text) } })));
  }
  const known = [...data.customer.tags, ...data.customer.products];
  clear(box,
    h("h3", { text: "Suggested answers" }),
    items.length ? h("ul", { class: "suggestions" }, items) : h("p", { class: "muted", text: "None." }),
    known.length ? [h("h3", { text: "Earlier tags and products" }),
      h("p", { class: "known-tags" }, known.map((t) => h("span", { class: "tag", text: t })))] : null);
}

// --- the Knowledge base page ------------------------------------------------------------------
export async function kbPage() {
  const page = $("#page-kb");
  const area = h("div", { id: "kb-edit" });
  const list = h("tbody");
  const search = h("input", { type: "search", id: "kb-search", placeholder: "Search articles…", "aria-label": "Search articles" });
  const load = async () => {
    try {
      const q = search.value.trim();
      const data = await api("GET", q ? `/kb/articles?q=${encodeURIComponent(q)}` : "/kb/articles?limit=500");
      clear(list, data.articles.map((a) => h("tr", { dataset: { article: a.id } },
        h("td", { text: a.title }), h("td", { text: a.language }), h("td", { text: (a.tags || []).join(", ") }),
        h("td", { text: a.product || "" }),
        h("td", {}, h("button", { class: "link", text: "Edit", on: { click: () => articleForm(area, a, load) } }),
          h("button", { class: "link danger", text: "Delete", on: { click: () => remove(a, load) } })))));
    } catch (err) {
      toast(err.message, "error");
    }
  };
  search.addEventListener("input", () => { clearTimeout(search.timer); search.timer = setTimeout(load, 200); });
  const fileInput = h("input", { type: "file", id: "kb-import-file", accept: ".csv,.md,.markdown,text/csv,text/markdown", hidden: true });
  const report = h("div", { id: "kb-import-report", role: "status" });
  fileInput.addEventListener("change", () => { importFile(fileInput.files[0], report, load); fileInput.value = ""; });
  clear(page,
    h("h2", { text: "Knowledge base" }),
    h("p", { class: "muted", text: "Articles answer customers (self-service) and are suggested to agents. Import CSV (title, body, language, tags, product; id to update) or Markdown (one '# title' per article)." }),
    h("div", { class: "toolbar" }, search,
      h("button", { type: "button", id: "kb-new", text: "New article…", on: { click: () => articleForm(area, null, load) } }),
      h("button", { type: "button", id: "kb-import", text: "Import…", on: { click: () => fileInput.click() } }),
      h("button", { type: "button", text: "Export CSV", on: { click: () => download("csv") } }),
      h("button", { type: "button", text: "Export Markdown", on: { click: () => download("markdown") } }),
      fileInput),
    report, area,
    h("table", { class: "table", id: "kb-articles" },
      h("thead", {}, h("tr", {}, ["Title", "Language", "Tags", "Product", ""].map((t) => h("th", { text: t })))),
      list),
    isAdmin() ? synonymsForm() : null);
  await load();
}

function articleForm(area, item, reload) {
  const title = h("input", { name: "title", required: true, value: item ? item.title : "" });
  const body = h("textarea", { name: "body", required: true, rows: "8" });
  body.value = item ? item.body : "";
  const language = h("input", { name: "language", required: true, value: item ? item.language : "zh", size: "6" });
  const tags = h("input", { name: "tags", value: item ? (item.tags || []).join(", ") : "", placeholder: "打印机, 卡纸" });
  const product = h("input", { name: "product", value: item ? item.product || "" : "" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    const data = { title: title.value, body: body.value, language: language.value.trim(),
      tags: tags.value.split(/[,，;；]/).map((t) => t.trim()).filter(Boolean), product: product.value.trim() || null };
    try {
      if (item) await api("PATCH", `/kb/articles/${item.id}`, data);
      else await api("POST", "/kb/articles", data);
      toast("Saved");
      clear(area);
      reload();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const field = (label, input) => h("label", { class: "field" }, h("span", { class: "label", text: label }), input);
  clear(area, h("form", { class: "card form", id: "kb-form", on: { submit } },
    h("h3", { text: item ? "Edit article" : "New article" }),
    field("Title", title), field("Body", body), field("Language (zh, en…)", language),
    field("Tags (the words customers use)", tags), field("Product", product), error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Save" }),
      h("button", { type: "button", text: "Cancel", on: { click: () => clear(area) } }))));
  title.focus();
}

async function remove(article, reload) {
  if (!confirm(`Delete "${article.title}"?`)) return;
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
    clear(report, h("p", { class: "ok", text: `Imported: ${data.created} new, ${data.updated} updated.` }));
    reload();
    return;
  }
  const err = data.error || {};
  clear(report, h("p", { class: "error", text: err.message || resp.statusText }),
    err.rows ? h("ul", { class: "import-errors" }, err.rows.map((r) => h("li", { text: `Row ${r.row}, ${r.field}: ${r.message}` }))) : null);
}

async function download(format) {
  const resp = await fetch(`/api/v1/kb/export?format=${format}`, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!resp.ok) { toast("Export failed", "error"); return; }
  const url = URL.createObjectURL(await resp.blob());
  const link = h("a", { href: "#", download: format === "csv" ? "knowledge-base.csv" : "knowledge-base.md" });
  link.href = url;
  document.body.appendChild(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

function synonymsForm() {
  const text = h("textarea", { id: "kb-synonyms", rows: "5", "aria-label": "Synonyms, one group per line" });
  api("GET", "/kb/synonyms").then((d) => { text.value = d.groups.map((g) => g.join(", ")).join("\n"); }, () => {});
  const save = async (e) => {
    e.preventDefault();
    const groups = text.value.split("\n").map((l) => l.split(/[,，、]/).map((t) => t.trim()).filter(Boolean)).filter((g) => g.length);
    try { await api("PUT", "/kb/synonyms", { groups }); toast("Synonyms saved"); } catch (err) { toast(err.message, "error"); }
  };
  return h("form", { class: "card form", on: { submit: save } },
    h("h3", { text: "Synonyms" }),
    h("p", { class: "muted", text: "One group per line; every word of a line reads as its first: 退款, 退钱, refund" }),
    text, h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Save synonyms" })));
}
