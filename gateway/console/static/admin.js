// Admin pages: channels (a form per channel type, built from its JSON schema), users and canned
// responses. Credentials are write-only: the API never returns them, the form never shows them.

import { api } from "./api.js";
import { $, channelIcon, clear, copy, h, toast } from "./dom.js";

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

function label(name, prop) {
  return prop.title || name.replace(/_/g, " ");
}

// Returns {node, collect}; collect() gives the config to send (only what changed when editing).
export function schemaForm(schema, secretFields, current) {
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
      input = h("textarea", { name, rows: "3", placeholder: "one per line" });
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
        placeholder: secret && isSet ? "set — leave empty to keep" : "",
      });
      input.value = secret || value == null ? "" : String(value);
    }
    const original = input.type === "checkbox" ? input.checked : input.value;
    fields.push({ name, kind, input, secret, original });
    node.appendChild(h("label", { class: `field field-${kind.kind}` },
      h("span", { class: "label" }, label(name, prop), required.has(name) ? h("b", { text: " *" }) : null, secret ? h("span", { class: "muted", text: " (secret)" }) : null),
      input,
      prop.description ? h("small", { class: "muted", text: prop.description }) : null));
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
        try { out[f.name] = JSON.parse(raw); } catch { throw new Error(`${f.name}: not valid JSON`); }
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
  clear(page, h("p", { text: "Loading…" }));
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
  const typeSelect = h("select", { id: "new-channel-type", "aria-label": "Channel type" },
    channelTypes.map((t) => h("option", { value: t.type, text: t.type })));
  clear(page,
    h("h2", { text: "Channels" }),
    h("ul", { class: "cards", id: "channel-list" }, channels.length ? channels.map(channelCard) : h("li", { class: "muted", text: "No channels yet." })),
    h("h3", { text: "Add a channel" }),
    h("div", { class: "row-form" }, typeSelect,
      h("button", { id: "new-channel", text: "New channel…", on: { click: () => channelForm(formArea, typeSelect.value, null) } })),
    formArea);
}

function channelCard(c) {
  const state = !c.enabled ? "disabled" : c.running ? "running" : "not running";
  const verify = async (button, result) => {
    button.disabled = true;
    result.textContent = "Checking…";
    try {
      const r = await api("POST", `/channels/${c.id}/verify`);
      result.textContent = r.ok ? "Credentials OK" : `Rejected: ${r.reason}`;
      result.className = r.ok ? "ok" : "error";
    } catch (err) {
      result.textContent = err.message;
      result.className = "error";
    }
    button.disabled = false;
  };
  const result = h("span", { class: "muted" });
  const verifyBtn = h("button", { text: "Verify", on: { click: () => verify(verifyBtn, result) } });
  const snippet = c.info && c.info.widget_snippet;
  const formArea = h("div");
  return h("li", { class: "card channel", dataset: { channel: c.id } },
    h("div", { class: "card-head" }, channelIcon(c.type), h("strong", { text: c.name }), h("span", { class: "muted", text: ` ${c.type} · ${c.id}` }),
      h("span", { class: `state state-${state.replace(" ", "-")}`, text: state })),
    h("div", { class: "copyline" }, h("span", { class: "muted", text: "Webhook base " }),
      h("code", { text: c.webhook_base }), h("button", { class: "link", text: "Copy", on: { click: () => copy(c.webhook_base) } })),
    snippet ? h("div", { class: "copyline" }, h("span", { class: "muted", text: "Embed " }),
      h("code", { class: "snippet", text: snippet }), h("button", { class: "link", text: "Copy", on: { click: () => copy(snippet) } })) : null,
    c.credentials_set.length ? h("div", { class: "muted", text: `Credentials set: ${c.credentials_set.join(", ")} (never shown again)` }) : null,
    h("div", { class: "buttons" }, verifyBtn,
      h("button", { text: "Edit", on: { click: () => channelForm(formArea, c.type, c) } }),
      h("button", { text: c.enabled ? "Disable" : "Enable", on: { click: () => patchChannel(c.id, { enabled: !c.enabled }) } }),
      h("button", { class: "danger", text: "Delete", on: { click: () => deleteChannel(c) } }),
      result),
    formArea);
}

function channelForm(area, type, current) {
  const spec = channelTypes.find((t) => t.type === type);
  const form = schemaForm(spec.schema, spec.secret_fields, current);
  const name = h("input", { name: "channel_name", required: true, value: current ? current.name : "" });
  const error = h("p", { class: "error", role: "alert" });
  const submit = async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const config = form.collect();
      if (current) await api("PATCH", `/channels/${current.id}`, { name: name.value, config });
      else await api("POST", "/channels", { type, name: name.value, config });
      toast(current ? "Channel saved" : "Channel created");
      channelsPage();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  clear(area, h("form", { class: "card form", id: current ? `edit-${current.id}` : "channel-form", on: { submit } },
    h("h3", { text: current ? `Edit ${current.name}` : `New ${type} channel` }),
    h("label", { class: "field" }, h("span", { class: "label", text: "Name *" }), name),
    form.node,
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: current ? "Save" : "Create channel" }),
      h("button", { type: "button", text: "Cancel", on: { click: () => clear(area) } }))));
}

async function patchChannel(id, body) {
  try { await api("PATCH", `/channels/${id}`, body); channelsPage(); } catch (err) { toast(err.message, "error"); }
}

async function deleteChannel(c) {
  if (!confirm(`Delete the channel ${c.name}? Its conversations stay.`)) return;
  try { await api("DELETE", `/channels/${c.id}`); channelsPage(); } catch (err) { toast(err.message, "error"); }
}

// --- users ------------------------------------------------------------------------------------
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

export async function usersPage() {
  const page = $("#page-users");
  try {
    const { users } = await api("GET", "/users");
    const area = h("div");
    clear(page, h("h2", { text: "Users" }),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Name", "Email", "Role", "Capacity", "Teams", "Skills", "Languages", "Status", ""].map((t) => h("th", { text: t })))),
        h("tbody", {}, users.map((u) => h("tr", { dataset: { user: u.id } },
          h("td", { text: u.name }), h("td", { text: u.email }), h("td", { text: u.role }), h("td", { text: u.capacity }),
          h("td", { text: u.teams.join(", ") }), h("td", { text: u.skills.join(", ") }), h("td", { text: u.languages.join(", ") }),
          h("td", { text: u.status }),
          h("td", {}, h("button", { class: "link", text: "Edit", on: { click: () => userForm(area, u) } }),
            h("button", { class: "link danger", text: "Delete", on: { click: () => deleteUser(u) } })))))),
      h("button", { text: "New user…", on: { click: () => userForm(area, null) } }),
      area);
  } catch (err) {
    clear(page, h("p", { class: "error", text: err.message }));
  }
}

function userForm(area, user) {
  const f = {
    email: h("input", { name: "email", type: "email", required: !user, value: user ? user.email : "", disabled: !!user }),
    name: h("input", { name: "name", required: true, value: user ? user.name : "" }),
    password: h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: "10", required: !user, placeholder: user ? "leave empty to keep" : "10 characters or more" }),
    role: h("select", { name: "role" }, ["agent", "supervisor", "admin"].map((r) => h("option", { value: r, text: r }))),
    capacity: h("input", { name: "capacity", type: "number", min: "0", max: "100", value: user ? String(user.capacity) : "5" }),
    teams: h("input", { name: "teams", value: user ? user.teams.join(", ") : "", placeholder: "comma separated" }),
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
      toast("User saved");
      usersPage();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  clear(area, h("form", { class: "card form", id: "user-form", on: { submit } },
    h("h3", { text: user ? `Edit ${user.name}` : "New user" }),
    Object.entries(f).map(([k, input]) => h("label", { class: "field" }, h("span", { class: "label", text: k }), input)),
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Save" }),
      h("button", { type: "button", text: "Cancel", on: { click: () => clear(area) } }))));
}

async function deleteUser(u) {
  if (!confirm(`Delete ${u.name}?`)) return;
  try { await api("DELETE", `/users/${u.id}`); usersPage(); } catch (err) { toast(err.message, "error"); }
}

// --- canned responses -------------------------------------------------------------------------
export async function cannedPage() {
  const page = $("#page-canned");
  try {
    const { canned } = await api("GET", "/canned");
    const area = h("div");
    clear(page, h("h2", { text: "Canned responses" }),
      h("p", { class: "muted", text: "Agents type /shortcut in the reply box. Variables: {{customer.name}}, {{customer.email}}, {{agent.name}}, {{channel.name}}, {{conversation.id}}; a fallback after | e.g. {{customer.name|there}}." }),
      h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Shortcut", "Title", "Text", ""].map((t) => h("th", { text: t })))),
        h("tbody", {}, canned.map((c) => h("tr", { dataset: { canned: c.id } },
          h("td", { text: `/${c.shortcut}` }), h("td", { text: c.title }), h("td", { class: "pre", text: c.text }),
          h("td", {}, h("button", { class: "link", text: "Edit", on: { click: () => cannedForm(area, c) } }),
            h("button", { class: "link danger", text: "Delete", on: { click: () => deleteCanned(c) } })))))),
      h("button", { text: "New canned response…", on: { click: () => cannedForm(area, null) } }),
      area);
  } catch (err) {
    clear(page, h("p", { class: "error", text: err.message }));
  }
}

function cannedForm(area, item) {
  const shortcut = h("input", { name: "shortcut", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,39}", value: item ? item.shortcut : "" });
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
      toast("Saved");
      cannedPage();
    } catch (err) {
      error.textContent = err.message;
    }
  };
  clear(area, h("form", { class: "card form", id: "canned-form", on: { submit } },
    h("h3", { text: item ? `Edit /${item.shortcut}` : "New canned response" }),
    h("label", { class: "field" }, h("span", { class: "label", text: "Shortcut (lower case, digits, - _)" }), shortcut),
    h("label", { class: "field" }, h("span", { class: "label", text: "Title" }), title),
    h("label", { class: "field" }, h("span", { class: "label", text: "Text" }), text),
    error,
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", text: "Save" }),
      h("button", { type: "button", text: "Cancel", on: { click: () => clear(area) } }))));
}

async function deleteCanned(c) {
  if (!confirm(`Delete /${c.shortcut}?`)) return;
  try { await api("DELETE", `/canned/${c.id}`); cannedPage(); } catch (err) { toast(err.message, "error"); }
}
