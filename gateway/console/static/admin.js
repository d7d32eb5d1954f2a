// Admin pages: channels (a form per channel type, built from its JSON schema), users and canned
// responses. Credentials are write-only: the API never returns them, the form never shows them.

import { api } from "./api.js";
import { $, channelIcon, clear, copy, h, toast } from "./dom.js";
import { explain } from "./errors.js";
import { compareText, has, language, t } from "./i18n.js";

// --- forms from JSON schema -------------------------------------------------------------------
function resolve(schema, root) {
  if (schema && schema.$ref) return root.$defs[schema.$ref.split("/").pop()] || {};
  return schema || {};
}

function fieldKind(prop, root) {
  let p = resolve(prop, root);
  let nullable = false;
  if (p.anyOf) {
    const real = p.anyOf.map((s) => resolve(s, root)).filter((s) => s.type !== "null");
    nullable = real.length < p.anyOf.length;
    p = real[0] || {};
  }
  if (p.enum) return { kind: "enum", options: p.enum, nullable };
  if (p.type === "boolean") return { kind: "boolean", nullable };
  if (p.type === "integer" || p.type === "number") return { kind: "number", step: p.type === "integer" ? "1" : "any", min: p.minimum, max: p.maximum, nullable };
  if (p.type === "array" && resolve(p.items, root).type === "string") return { kind: "lines", nullable };
  if (p.type === "string") return { kind: (p.maxLength || 0) >= 500 ? "text" : "string", nullable };
  return { kind: "json", nullable };
}

// A field's label and help in the agent's language: console.field.<name> and
// console.help.<channel type>.<name>; a field without a translation shows its name, no help.
function label(name, prop) {
  return has(`console.field.${name}`) ? t(`console.field.${name}`) : prop.title || name.replace(/_/g, " ");
}

function help(type, name, prop) {
  if (has(`console.help.${type}.${name}`)) return t(`console.help.${type}.${name}`);
  if (has(`console.help.any.${name}`)) return t(`console.help.any.${name}`);  // every channel's
  return language() === "en" ? prop.description || null : null;  // not translated yet: English only
}

// Returns {node, collect}; collect() gives the config to send (only what changed when editing).
export function schemaForm(schema, secretFields, current, type) {
  const required = new Set(schema.required || []);
  const fields = [];
  const node = h("div", { class: "schema-form" });
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const kind = fieldKind(prop, schema);
    const secret = secretFields.includes(name);
    const value = current ? current.config[name] : prop.default;
    const isSet = current && current.credentials_set.includes(name);
    let input;
    if (kind.kind === "boolean") {
      input = h("input", { type: "checkbox", name, checked: !!value });
    } else if (kind.kind === "enum") {
      input = h("select", { name }, kind.nullable ? h("option", { value: "", text: "—" }) : null,
        kind.options.map((o) => h("option", { value: String(o), text: String(o) })));
      input.value = value == null ? "" : String(value);
    } else if (kind.kind === "lines") {
      input = h("textarea", { name, rows: "3", placeholder: t("console.form.one_per_line") });
      input.value = Array.isArray(value) ? value.join("\n") : "";
    } else if (kind.kind === "json") {
      input = h("textarea", { name, rows: "3", placeholder: "JSON" });
      input.value = value == null ? "" : JSON.stringify(value);
    } else if (kind.kind === "text") {
      input = h("textarea", { name, rows: "3" });
      input.value = secret || value == null ? "" : String(value);
    } else {
      input = h("input", {
        name, type: secret ? "password" : kind.kind === "number" ? "number" : "text",
        autocomplete: secret ? "new-password" : "off",
        step: kind.step, min: kind.min, max: kind.max,
        placeholder: secret && isSet ? t("console.form.secret_set") : "",
      });
      input.value = secret || value == null ? "" : String(value);
    }
    const original = input.type === "checkbox" ? input.checked : input.value;
    fields.push({ name, kind, input, secret, original });
    node.appendChild(h("label", { class: `field field-${kind.kind}` },
      h("span", { class: "label" }, label(name, prop), required.has(name) ? h("b", { text: " *" }) : null, secret ? h("span", { class: "muted", text: ` ${t("console.form.secret")}` }) : null),
      input,
      help(type, name, prop) ? h("small", { class: "muted", text: help(type, name, prop) }) : null));
  }
  const collect = () => {
    const out = {};
    for (const f of fields) {
      const raw = f.input.type === "checkbox" ? f.input.checked : f.input.value;
      if (current && raw === f.original && !(f.secret && raw)) continue;
      if (f.secret && raw === "") continue;
      if (f.kind.kind === "boolean") out[f.name] = raw;
      else if (raw === "") { if (current && f.kind.nullable) out[f.name] = null; else if (current) out[f.name] = ""; }
      else if (f.kind.kind === "number") out[f.name] = Number(raw);
      else if (f.kind.kind === "lines") out[f.name] = raw.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (f.kind.kind === "json") {
        try { out[f.name] = JSON.parse(raw); } catch { throw new Error(t("console.form.not_json", { field: label(f.name, {}) })); }
      } else out[f.name] = raw;
    }
    return out;
  };
  return { node, collect };
}

// --- channels ---------------------------------------------------------------------------------
let channelTypes = null;

export async function channelsPage() {
  const page = $("#page-channels");
  clear(page, h("p", { text: t("console.common.loading") }));
  try {
    channelTypes = channelTypes || (await api("GET", "/channel-types")).types;
    const { channels } = await api("GET", "/channels");
    renderChannels(page, channels);
  } catch (err) {
    clear(page, h("p", { class: "error", text: err.message }));
  }
}

function renderChannels(page, channels) {
  const formArea = h("div", { id: "channel-form-area" });
  const typeSelect = h("select", { id: "new-channel-type", "aria-label": t("console.channels.type") },
    channelTypes.map((ct) => h("option", { value: ct.type, text: t(`console.channel_type.${ct.type}`) })));
  const sorted = [...channels].sort((a, b) => compareText(a.name, b.name));
  clear(page,
    h("h2", { text: t("console.nav.channels") }),
    h("ul", { class: "cards", id: "channel-list" }, sorted.length ? sorted.map(channelCard) : h("li", { class: "muted", text: t("console.channels.none") })),
    h("h3", { text: t("console.channels.add") }),
    h("div", { class: "row-form" }, typeSelect,
      h("button", { id: "new-channel", text: t("console.channels.new"), on: { click: () => channelForm(formArea, typeSelect.value, null) } })),
    formArea);
}

function channelCard(c) {
  const state = !c.enabled ? "disabled" : c.running ? "running" : "not running";
  const verify = async (button, result) => {
    button.disabled = true;
    result.textContent = t("console.channels.checking");
    try {
      const r = await api("POST", `/channels/${c.id}/verify`);
      result.textContent = r.ok ? t("console.channels.credentials_ok") : t("console.channels.rejected", { reason: r.reason });
      result.className = r.ok ? "ok" : "error";
    } catch (err) {
      result.textContent = err.message;
      result.className = "error";
    }
    button.disabled = false;
  };
  const result = h("span", { class: "muted" });
  const verifyBtn = h("button", { text: t("console.channels.verify"), on: { click: () => verify(verifyBtn, result) } });
  const snippet = c.info && c.info.widget_snippet;
  const formArea = h("div");
  return h("li", { class: "card channel", dataset: { channel: c.id } },
    h("div", { class: "card-head" }, channelIcon(c.type), h("strong", { text: c.name }), h("span", { class: "muted", text: ` ${t(`console.channel_type.${c.type}`)} · ${c.id}` }),
      h("span", { class: `state state-${state.replace(" ", "-")}`, text: t(`console.channels.state.${state.replace(" ", "_")}`) })),
    h("div", { class: "copyline" }, h("span", { class: "muted", text: `${t("console.channels.webhook_base")} ` }),
      h("code", { text: c.webhook_base }), h("button", { class: "link", text: t("console.common.copy"), on: { click: () => copy(c.webhook_base) } })),
    snippet ? h("div", { class: "copyline" }, h("span", { class: "muted", text: `${t("console.channels.embed")} ` }),
      h("code", { class: "snippet", text: snippet }), h("button", { class: "link", text: t("console.common.copy"), on: { click: () => copy(snippet) } })) : null,
    c.credentials_set.length ? h("div", { class: "muted", text: t("console.channels.credentials_set", { names: c.credentials_set.map((n) => label(n, {})).join(t("console.common.list_sep")) }) }) : null,
    h("div", { class: "buttons" }, verifyBtn,
      h("button", { text: t("console.common.edit"), on: { click: () => channelForm(formArea, c.type, c) } }),
      h("button", { text: t(c.enabled ? "console.channels.disable" : "console.channels.enable"), on: { click: () => patchChannel(c.id, { enabled: !c.enabled }) } }),
      h("button", { class: "danger", text: t("console.common.delete"), on: { click: () => deleteChannel(c) } }),
      result),
    formArea);
}

function channelForm(area, type, current) {
  const spec = channelTypes.find((ct) => ct.type === type);
  const form = schemaForm(spec.schema, spec.secret_fields, current, type);
  const name = h("input", { name: "channel_name", required: true, value: current ? current.name : "" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const config = form.collect();
      if (current) await api("PATCH", `/channels/${current.id}`, { name: name.value, config });
      else await api("POST", "/channels", { type, name: name.value, config });
      toast(t(current ? "console.channels.saved" : "console.channels.created"));
      channelsPage();
    } catch (err) {
      error.textContent = explain(err, (field) => label(field, {}));
    }
  };
  clear(area, h("form", { class: "card form", id: current ? `edit-${current.id}` : "channel-form", on: { submit } },
    h("h3", { text: current ? t("console.channels.edit", { name: current.name }) : t("console.channels.new_of", { type: t(`console.channel_type.${type}`) }) }),
    h("label", { class: "field" }, h("span", { class: "label", text: `${t("console.channels.name")} *` }), name),
    form.node,
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: t(current ? "console.common.save" : "console.channels.create") }),
      h("button", { type: "button", text: t("console.common.cancel"), on: { click: () => clear(area) } }))));
}

async function patchChannel(id, body) {
  try { await api("PATCH", `/channels/${id}`, body); channelsPage(); } catch (err) { toast(err.message, "error"); }
}

async function deleteChannel(c) {
  if (!confirm(t("console.channels.confirm_delete", { name: c.name }))) return;
  try { await api("DELETE", `/channels/${c.id}`); channelsPage(); } catch (err) { toast(err.message, "error"); }
}

// --- users ------------------------------------------------------------------------------------
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

export async function usersPage() {
  const page = $("#page-users");
  try {
    const { users } = await api("GET", "/users");
    const area = h("div");
    const heads = ["name", "email", "role", "capacity", "teams", "skills", "languages", "status"];
    const sep = t("console.common.list_sep");
    clear(page, h("h2", { text: t("console.nav.users") }),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, heads.map((k) => h("th", { text: t(`console.users.${k}`) })), h("th", {}))),
        h("tbody", {}, [...users].sort((a, b) => compareText(a.name, b.name)).map((u) => h("tr", { dataset: { user: u.id } },
          h("td", { text: u.name }), h("td", { text: u.email }), h("td", { text: t(`console.role.${u.role}`) }), h("td", { text: u.capacity }),
          h("td", { text: u.teams.join(sep) }), h("td", { text: u.skills.join(sep) }), h("td", { text: u.languages.join(sep) }),
          h("td", { text: u.status ? t(`console.status.${u.status}`) : "" }),
          h("td", {}, h("button", { class: "link", text: t("console.common.edit"), on: { click: () => userForm(area, u) } }),
            h("button", { class: "link danger", text: t("console.common.delete"), on: { click: () => deleteUser(u) } })))))),
      h("button", { text: t("console.users.new"), on: { click: () => userForm(area, null) } }),
      area);
  } catch (err) {
    clear(page, h("p", { class: "error", text: err.message }));
  }
}

function userForm(area, user) {
  const f = {
    email: h("input", { name: "email", type: "email", required: !user, value: user ? user.email : "", disabled: !!user }),
    name: h("input", { name: "name", required: true, value: user ? user.name : "" }),
    password: h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: "10", required: !user, placeholder: t(user ? "console.users.password_keep" : "console.users.password_min") }),
    role: h("select", { name: "role" }, ["agent", "supervisor", "admin"].map((r) => h("option", { value: r, text: t(`console.role.${r}`) }))),
    capacity: h("input", { name: "capacity", type: "number", min: "0", max: "100", value: user ? String(user.capacity) : "5" }),
    teams: h("input", { name: "teams", value: user ? user.teams.join(", ") : "", placeholder: t("console.users.comma_separated") }),
    skills: h("input", { name: "skills", value: user ? user.skills.join(", ") : "" }),
    languages: h("input", { name: "languages", value: user ? user.languages.join(", ") : "" }),
  };
  f.role.value = user ? user.role : "agent";
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    const body = {
      name: f.name.value, role: f.role.value, capacity: Number(f.capacity.value),
      teams: list(f.teams.value), skills: list(f.skills.value), languages: list(f.languages.value),
    };
    if (f.password.value) body.password = f.password.value;
    try {
      if (user) await api("PATCH", `/users/${user.id}`, body);
      else await api("POST", "/users", { ...body, email: f.email.value });
      toast(t("console.users.saved"));
      usersPage();
    } catch (err) {
      error.textContent = explain(err, (field) => t(`console.users.${field}`));
    }
  };
  clear(area, h("form", { class: "card form", id: "user-form", on: { submit } },
    h("h3", { text: user ? t("console.users.edit", { name: user.name }) : t("console.users.new_title") }),
    Object.entries(f).map(([k, input]) => h("label", { class: "field" }, h("span", { class: "label", text: t(`console.users.${k}`) }), input)),
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: t("console.common.save") }),
      h("button", { type: "button", text: t("console.common.cancel"), on: { click: () => clear(area) } }))));
}

async function deleteUser(u) {
  if (!confirm(t("console.users.confirm_delete", { name: u.name }))) return;
  try { await api("DELETE", `/users/${u.id}`); usersPage(); } catch (err) { toast(err.message, "error"); }
}

// --- canned responses -------------------------------------------------------------------------
export async function cannedPage() {
  const page = $("#page-canned");
  try {
    const { canned } = await api("GET", "/canned");
    const area = h("div");
    clear(page, h("h2", { text: t("console.nav.canned") }),
      h("p", { class: "muted", text: t("console.canned.help") }),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["shortcut", "title", "text"].map((k) => h("th", { text: t(`console.canned.${k}`) })), h("th", {}))),
        h("tbody", {}, [...canned].sort((a, b) => compareText(a.shortcut, b.shortcut)).map((c) => h("tr", { dataset: { canned: c.id } },
          h("td", { text: `/${c.shortcut}` }), h("td", { text: c.title }), h("td", { class: "pre", text: c.text }),
          h("td", {}, h("button", { class: "link", text: t("console.common.edit"), on: { click: () => cannedForm(area, c) } }),
            h("button", { class: "link danger", text: t("console.common.delete"), on: { click: () => deleteCanned(c) } })))))),
      h("button", { text: t("console.canned.new"), on: { click: () => cannedForm(area, null) } }),
      area);
  } catch (err) {
    clear(page, h("p", { class: "error", text: err.message }));
  }
}

function cannedForm(area, item) {
  const shortcut = h("input", { name: "shortcut", required: true, value: item ? item.shortcut : "" });
  const title = h("input", { name: "title", required: true, value: item ? item.title : "" });
  const text = h("textarea", { name: "text", required: true, rows: "4" });
  text.value = item ? item.text : "";
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    const body = { shortcut: shortcut.value, title: title.value, text: text.value };
    try {
      if (item) await api("PATCH", `/canned/${item.id}`, body);
      else await api("POST", "/canned", body);
      toast(t("console.common.saved"));
      cannedPage();
    } catch (err) {
      error.textContent = explain(err, (field) => t(`console.canned.${field}`));
    }
  };
  clear(area, h("form", { class: "card form", id: "canned-form", on: { submit } },
    h("h3", { text: item ? t("console.canned.edit", { shortcut: item.shortcut }) : t("console.canned.new_title") }),
    h("label", { class: "field" }, h("span", { class: "label", text: t("console.canned.shortcut_label") }), shortcut),
    h("label", { class: "field" }, h("span", { class: "label", text: t("console.canned.title") }), title),
    h("label", { class: "field" }, h("span", { class: "label", text: t("console.canned.text") }), text),
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: t("console.common.save") }),
      h("button", { type: "button", text: t("console.common.cancel"), on: { click: () => clear(area) } }))));
}

async function deleteCanned(c) {
  if (!confirm(t("console.canned.confirm_delete", { shortcut: c.shortcut }))) return;
  try { await api("DELETE", `/canned/${c.id}`); cannedPage(); } catch (err) { toast(err.message, "error"); }
}
