// Settings pages (issue 17) at #/settings/<tab>: SLA classes and targets, priority rules with a
// "test this text" box, business hours, survey and follow-up, teams. Admins edit; supervisors
// read every tab and try texts against the rules. Each form is checked here first (errors in
// words beside the field), then by the server (errors.js says its answer in the same words).

import { api, isAdmin } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { explain } from "./errors.js";
import { compareText, has, t } from "./i18n.js";

const TABS = ["sla", "rules", "hours", "survey", "teams"];
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const TARGETS = ["first_response", "next_response", "resolution", "max_wait"];
const MAX_MINUTES = 365 * 24 * 60;
const MAX_TTL_HOURS = 90 * 24;
const RANGES = /^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/;

export const className = (name) => (has(`console.priority.${name}`) ? t(`console.priority.${name}`) : name);

// The tab the address shows. A save re-renders its tab when it finishes; by then the admin may
// have moved to another tab or page, which must stay where it is.
function tabShown() {
  const [, page, id] = location.hash.match(/^#\/([a-z]+)(?:\/(.+))?$/) || [];
  return page === "settings" ? (TABS.includes(id) ? id : "sla") : null;
}

export async function settingsPage(id) {
  const tab = TABS.includes(id) ? id : "sla";
  if (tabShown() !== tab) return;
  const page = $("#page-settings");
  const body = h("div", { class: "settings-body", id: `settings-${tab}` });
  clear(page, h("h2", { text: t("settings.title") }),
    h("nav", { class: "settings-tabs", "aria-label": t("settings.title") }, TABS.map((name) => h("a", {
      href: `#/settings/${name}`, class: name === tab ? "active" : null, "aria-current": name === tab ? "page" : null,
      text: t(`settings.tab.${name}`),
    }))),
    isAdmin() ? null : h("p", { class: "muted read-only", text: t("settings.read_only") }),
    body);
  try {
    await RENDER[tab](body);
  } catch (err) {
    clear(body, h("p", { class: "error", role: "alert", text: err.message }));
  }
}

// --- form helpers: a problem is shown beside its field, and counted above the Save button ----
function field(labelKey, input, hint) {
  return h("label", { class: "field" }, h("span", { class: "label", text: t(labelKey) }), input,
    hint ? h("span", { class: "muted hint", text: hint }) : null);
}

function showProblems(form, problems) {
  for (const node of form.querySelectorAll(".field-error")) node.remove();
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const summary = $(".form-error", form);
  summary.textContent = problems.length ? t("settings.fix", { count: problems.length }) : "";
  for (const { input, message } of problems) {
    input.setAttribute("aria-invalid", "true");
    input.after(h("span", { class: "field-error", text: message }));
  }
  if (problems.length) problems[0].input.focus();
  return problems.length === 0;
}

// The server's refusal: beside the field it names when the form has it, else above Save.
function showServerError(form, err, labelOf) {
  showProblems(form, []);
  const message = explain(err, labelOf);
  const path = String(err.field || "");
  const input = path && [...form.querySelectorAll("[data-path]")].find((n) => path === n.dataset.path || path.startsWith(`${n.dataset.path}.`));
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.after(h("span", { class: "field-error", text: message }));
  }
  $(".form-error", form).textContent = message;
}

function actions(form, onReset) {
  if (!isAdmin()) return h("p", { class: "form-error error", role: "alert" });
  return h("div", { class: "form-actions" },
    h("button", { type: "submit", class: "primary", text: t("settings.save") }),
    onReset ? h("button", { type: "button", class: "link", text: t("settings.reset"), on: { click: onReset } }) : null,
    h("p", { class: "form-error error", role: "alert" }));
}

function lockIfReadOnly(form) {
  if (isAdmin()) return form;
  for (const node of form.querySelectorAll("input, select, textarea, button")) {
    if (!node.closest(".rule-test")) node.disabled = true;
  }
  return form;
}

const lines = (text) => String(text || "").split(/[\n,，]/).map((s) => s.trim()).filter(Boolean);
// Patterns one a line only: a comma is regular-expression syntax (".{0,30}", "[,，]").
const patternLines = (text) => String(text || "").split("\n").map((s) => s.trim()).filter(Boolean);

function minutesInput(seconds, path) {
  return h("input", { type: "number", min: "0", step: "any", inputmode: "decimal", value: seconds == null ? "" : String(+(seconds / 60).toFixed(2)), dataset: { path } });
}

function checkMinutes(input, problems, required) {
  const raw = input.value.trim();
  if (!raw) {
    if (required) problems.push({ input, message: t("settings.err.required") });
    return null;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > MAX_MINUTES) {
    problems.push({ input, message: t("settings.err.minutes", { max: MAX_MINUTES }) });
    return null;
  }
  return Math.round(value * 60);
}

async function resetTo(path, confirmKey, again) {
  if (!confirm(t(confirmKey))) return;
  try { await api("DELETE", path); toast(t("settings.reset_done")); again(); } catch (err) { toast(err.message, "error"); }
}

// --- SLA classes and their targets (the "default" channel; per-channel values are kept) -------
async function renderSla(body) {
  const { policy, source } = await api("GET", "/sla/classes");
  const calendars = ["always", ...Object.keys(policy.calendars || {})];
  const rows = policy.classes.map((cls) => {
    const inputs = Object.fromEntries(TARGETS.map((key) => [key, minutesInput(cls[key] ? cls[key].default : null, `classes.${cls.name}.${key}`)]));
    const calendar = h("select", { dataset: { path: `classes.${cls.name}.calendar` } }, calendars.map((c) => h("option", { value: c, text: c === "always" ? t("settings.hours.always") : c })));
    calendar.value = (cls.calendar && cls.calendar.default) || "always";
    const supervisor = h("input", { type: "checkbox", checked: !!cls.supervisor });
    const others = TARGETS.flatMap((key) => Object.entries(cls[key] || {}).filter(([ch]) => ch !== "default")
      .map(([ch, s]) => t("settings.sla.override", { target: t(`settings.sla.${key}`), channel: ch, minutes: +(s / 60).toFixed(2) })));
    return { cls, inputs, calendar, supervisor, row: h("tr", { dataset: { cls: cls.name } },
      h("th", { scope: "row" }, h("span", { class: `prio prio-${cls.name}`, text: className(cls.name) }),
        cls.description ? h("div", { class: "muted", text: cls.description }) : null,
        others.length ? h("div", { class: "muted small", text: others.join(t("console.common.list_sep")) }) : null),
      TARGETS.map((key) => h("td", {}, h("label", { class: "cell" }, h("span", { class: "sr-only", text: `${className(cls.name)} ${t(`settings.sla.${key}`)}` }), inputs[key]))),
      h("td", {}, calendar), h("td", {}, h("label", {}, supervisor, h("span", { class: "sr-only", text: t("settings.sla.supervisor") })))) };
  });
  const submit = async (e) => {
    e.preventDefault();
    const problems = [];
    const doc = structuredClone(policy);
    rows.forEach(({ inputs, calendar, supervisor }, i) => {
      const cls = doc.classes[i];
      for (const key of TARGETS) {
        const seconds = checkMinutes(inputs[key], problems, key !== "max_wait");
        if (seconds === null) { if (key === "max_wait" && !inputs[key].value.trim()) delete cls.max_wait; continue; }
        cls[key] = { ...(cls[key] || {}), default: seconds };
      }
      const fr = cls.first_response && cls.first_response.default;
      if (fr != null && cls.resolution && cls.resolution.default < fr) problems.push({ input: inputs.resolution, message: t("settings.err.resolution_first") });
      cls.calendar = { ...(cls.calendar || {}), default: calendar.value };
      cls.supervisor = supervisor.checked;
    });
    if (!showProblems(form, problems)) return;
    try {
      await api("PUT", "/sla/classes", doc);
      toast(t("settings.saved"));
      settingsPage("sla");
    } catch (err) { showServerError(form, err, (name) => t(`settings.sla.${name}`)); }
  };
  const form = h("form", { class: "card form settings-form", id: "sla-form", novalidate: true, on: { submit } },
    h("p", { class: "muted", text: t("settings.sla.help") }),
    h("p", { class: "muted small", text: t(`settings.source.${source}`) }),
    h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", { text: t("settings.sla.class") }), TARGETS.map((k) => h("th", { text: t(`settings.sla.${k}`) })),
        h("th", { text: t("settings.sla.calendar") }), h("th", { text: t("settings.sla.supervisor") }))),
      h("tbody", {}, rows.map((r) => r.row)))),
    actions(null, source === "redis" ? () => resetTo("/sla/classes", "settings.reset_confirm", () => settingsPage("sla")) : null));
  clear(body, lockIfReadOnly(form));
}

// --- priority rules, and the "test this text" box (which rule matches, with the form's rules) --
async function renderRules(body) {
  const [{ rules: doc, source }, { policy }] = await Promise.all([api("GET", "/sla/rules"), api("GET", "/sla/classes")]);
  const classes = policy.classes.map((c) => c.name);
  const list = h("ol", { class: "rules", id: "rules-list" });
  const editors = [];
  const classSelect = (value, path, hintsOnly) => {
    const select = h("select", { dataset: { path } },
      hintsOnly ? h("option", { value: "", text: t("settings.rules.hints_only") }) : null,
      classes.map((c) => h("option", { value: c, text: className(c) })));
    select.value = value || "";
    return select;
  };
  const addRule = (rule) => {
    const i = editors.length;
    const ed = {
      rule,
      name: h("input", { value: rule.name || "", maxlength: "100", dataset: { path: `rules.${i}.name` } }),
      cls: classSelect(rule.class, `rules.${i}.class`, true),
      keywords: h("textarea", { rows: "2", value: (rule.keywords || []).join("\n"), dataset: { path: `rules.${i}.keywords` } }),
      patterns: h("textarea", { rows: "2", value: (rule.patterns || []).join("\n"), dataset: { path: `rules.${i}.patterns` } }),
      tiers: h("input", { value: (rule.tiers || []).join(", "), dataset: { path: `rules.${i}.tiers` } }),
    };
    ed.node = h("li", { class: "rule card", dataset: { rule: rule.name || "" } },
      h("div", { class: "rule-head" }, field("settings.rules.name", ed.name), field("settings.rules.class", ed.cls),
        h("button", { type: "button", class: "link remove", text: t("settings.rules.remove"), on: { click: () => { ed.removed = true; ed.node.remove(); } } })),
      field("settings.rules.keywords", ed.keywords, t("settings.rules.one_a_line")),
      field("settings.rules.patterns", ed.patterns, t("settings.rules.patterns_hint")),
      field("settings.rules.tiers", ed.tiers),
      rule.meta_flags || rule.repeat || rule.channels || rule.team
        ? h("p", { class: "muted small", text: t("settings.rules.kept") }) : null);
    editors.push(ed);
    list.appendChild(ed.node);
  };
  for (const rule of doc.rules || []) addRule(rule);
  const defaultClass = classSelect(doc.default_class || "normal", "default_class", false);

  // The rules as the form has them now (for Save and for the test box); problems listed.
  const draft = (problems) => {
    const out = structuredClone(doc);
    out.default_class = defaultClass.value;
    const names = new Set();
    out.rules = editors.filter((ed) => !ed.removed).map((ed) => {
      const rule = { ...ed.rule };
      rule.name = ed.name.value.trim();
      if (!rule.name) problems.push({ input: ed.name, message: t("settings.err.required") });
      else if (names.has(rule.name.toLowerCase())) problems.push({ input: ed.name, message: t("settings.err.rule_name_taken") });
      names.add(rule.name.toLowerCase());
      if (ed.cls.value) rule.class = ed.cls.value; else delete rule.class;
      for (const key of ["keywords", "patterns", "tiers"]) {
        const values = key === "patterns" ? patternLines(ed[key].value) : lines(ed[key].value);
        if (values.length) rule[key] = values; else delete rule[key];
      }
      for (const pattern of rule.patterns || []) {
        try { new RegExp(pattern.replace(/\(\?P</g, "(?<")); } catch { problems.push({ input: ed.patterns, message: t("settings.err.pattern", { pattern }) }); break; }
      }
      if (!rule.keywords && !rule.patterns && !rule.tiers && !rule.meta_flags && !rule.repeat && !rule.channels) {
        problems.push({ input: ed.keywords, message: t("settings.err.rule_condition") });
      }
      return rule;
    });
    return out;
  };

  const submit = async (e) => {
    e.preventDefault();
    const problems = [];
    const out = draft(problems);
    if (!showProblems(form, problems)) return;
    try {
      await api("PUT", "/sla/rules", out);
      toast(t("settings.saved"));
      settingsPage("rules");
    } catch (err) { showServerError(form, err, (name) => t(`settings.rules.${name}`)); }
  };
  const form = h("form", { class: "card form settings-form", id: "rules-form", novalidate: true, on: { submit } },
    h("p", { class: "muted", text: t("settings.rules.help") }),
    h("p", { class: "muted small", text: t(`settings.source.${source}`) }),
    field("settings.rules.default_class", defaultClass),
    list,
    h("button", { type: "button", class: "add-rule", text: t("settings.rules.add"), on: { click: () => addRule({ name: "" }) } }),
    actions(null, source === "redis" ? () => resetTo("/sla/rules", "settings.reset_confirm", () => settingsPage("rules")) : null));

  // The test box: the text, the customer's tier; the answer names the rule and the class.
  const text = h("textarea", { id: "rule-test-text", rows: "3", maxlength: "20000", placeholder: t("settings.test.placeholder") });
  const tier = h("input", { id: "rule-test-tier", maxlength: "50", placeholder: t("settings.test.tier_placeholder") });
  const result = h("div", { class: "rule-result", id: "rule-result", "aria-live": "polite" });
  const run = async (e) => {
    e.preventDefault();
    for (const node of list.querySelectorAll(".matched")) node.classList.remove("matched");
    if (!text.value.trim()) { clear(result, h("p", { class: "error", text: t("settings.test.empty") })); text.focus(); return; }
    const problems = [];
    const rules = draft(problems);
    if (!showProblems(form, problems)) { clear(result, h("p", { class: "error", text: t("settings.test.fix_rules") })); return; }
    try {
      const got = await api("POST", "/priority-rules/test", { text: text.value, tier: tier.value.trim() || null, rules });
      clear(result,
        h("p", { class: "verdict" }, got.rule
          ? t("settings.test.matches", { rule: got.rule, class: className(got.class) })
          : t("settings.test.no_match", { class: className(got.class) })),
        got.matched.length > 1 ? h("p", { class: "muted", text: t("settings.test.also", { rules: got.matched.filter((r) => r !== got.rule).join(t("console.common.list_sep")) }) }) : null);
      for (const ed of editors) if (!ed.removed && got.matched.includes(ed.name.value.trim())) ed.node.classList.add("matched");
    } catch (err) { clear(result, h("p", { class: "error", text: err.message })); }
  };
  const tester = h("form", { class: "card form rule-test", id: "rule-test", on: { submit: run } },
    h("h3", { text: t("settings.test.title") }),
    field("settings.test.text", text), field("settings.test.tier", tier),
    h("button", { type: "submit", class: "primary", text: t("settings.test.run") }), result);
  clear(body, h("div", { class: "rules-layout" }, lockIfReadOnly(form), tester));
}

// --- business hours: the SLA policy's calendars ----------------------------------------------
async function renderHours(body) {
  const { policy } = await api("GET", "/sla/classes");
  const editors = [];
  const list = h("div", { class: "calendars" });
  const addCalendar = (name, spec) => {
    const ed = { name, zone: h("input", { value: spec.timezone || "", placeholder: "Asia/Shanghai", dataset: { path: `calendars.${name}.timezone` } }) };
    ed.days = Object.fromEntries(DAYS.map((d) => [d, h("input", { value: (spec.hours || {})[d] || "", placeholder: t("settings.hours.closed"), dataset: { path: `calendars.${name}.hours.${d}` } })]));
    ed.holidays = h("textarea", { rows: "3", value: (spec.holidays || []).join("\n"), dataset: { path: `calendars.${name}.holidays` } });
    ed.node = h("fieldset", { class: "calendar card", dataset: { calendar: name } }, h("legend", { text: name }),
      field("settings.hours.timezone", ed.zone),
      h("div", { class: "days" }, DAYS.map((d) => field(`settings.day.${d}`, ed.days[d]))),
      field("settings.hours.holidays", ed.holidays, t("settings.hours.holidays_hint")));
    editors.push(ed);
    list.appendChild(ed.node);
  };
  for (const [name, spec] of Object.entries(policy.calendars || {})) addCalendar(name, spec);
  const newName = h("input", { id: "new-calendar", maxlength: "40", placeholder: t("settings.hours.new_placeholder") });
  const add = () => {
    const name = newName.value.trim();
    const problems = [];
    if (!/^[a-z0-9_-]{1,40}$/.test(name)) problems.push({ input: newName, message: t("settings.err.calendar_name") });
    else if (name === "always" || editors.some((ed) => ed.name === name)) problems.push({ input: newName, message: t("settings.err.calendar_taken") });
    if (!showProblems(form, problems)) return;
    addCalendar(name, { hours: {} });
    newName.value = "";
  };
  const submit = async (e) => {
    e.preventDefault();
    const problems = [];
    const doc = structuredClone(policy);
    doc.calendars = {};
    for (const ed of editors) {
      const zone = ed.zone.value.trim();
      if (!zone) problems.push({ input: ed.zone, message: t("settings.err.required") });
      else {
        try { new Intl.DateTimeFormat("en", { timeZone: zone }); } catch { problems.push({ input: ed.zone, message: t("settings.err.timezone", { zone }) }); }
      }
      const hours = {};
      for (const d of DAYS) {
        const value = ed.days[d].value.replace(/\s+/g, "").replace(/，/g, ",");
        if (!value) continue;
        const parts = value.split(",").filter(Boolean);
        const bad = parts.find((p) => !RANGES.test(p) || p.split("-")[1] <= p.split("-")[0]);
        if (bad) problems.push({ input: ed.days[d], message: t("settings.err.hours", { value: bad }) });
        hours[d] = parts.join(",");
      }
      if (!Object.keys(hours).length) problems.push({ input: ed.days.mon, message: t("settings.err.no_hours") });
      const holidays = lines(ed.holidays.value);
      const badDay = holidays.find((d) => !/^\d{4}-\d{2}-\d{2}$/.test(d) || Number.isNaN(Date.parse(`${d}T00:00:00Z`)));
      if (badDay) problems.push({ input: ed.holidays, message: t("settings.err.date", { value: badDay }) });
      doc.calendars[ed.name] = { timezone: zone, hours, holidays };
    }
    if (!showProblems(form, problems)) return;
    try {
      await api("PUT", "/sla/classes", doc);
      toast(t("settings.saved"));
      settingsPage("hours");
    } catch (err) { showServerError(form, err, (name) => t(`settings.hours.${name}`)); }
  };
  const form = h("form", { class: "card form settings-form", id: "hours-form", novalidate: true, on: { submit } },
    h("p", { class: "muted", text: t("settings.hours.help") }),
    list,
    h("div", { class: "add-calendar" }, field("settings.hours.new", newName),
      h("button", { type: "button", text: t("settings.hours.add"), on: { click: add } })),
    actions());
  clear(body, lockIfReadOnly(form));
}

// --- survey and follow-up (the report settings) ------------------------------------------------
const SURVEY_TEXTS = [
  ["survey_text", 2000, true], ["survey_webchat_text", 500, true], ["survey_comment_prompt", 200, false],
  ["survey_send_label", 40, false], ["survey_thanks_text", 500, true], ["followup_text", 2000, true],
];

async function renderSurvey(body) {
  const [settings, { policy }] = await Promise.all([api("GET", "/reports/settings"), api("GET", "/sla/classes")]);
  const enabled = h("input", { type: "checkbox", checked: settings.survey_enabled, dataset: { path: "survey_enabled" } });
  const publicChannels = h("input", { type: "checkbox", checked: settings.survey_public_channels, dataset: { path: "survey_public_channels" } });
  const ttl = h("input", { type: "number", min: "1", step: "any", value: String(settings.survey_ttl_hours), dataset: { path: "survey_ttl_hours" } });
  const texts = Object.fromEntries(SURVEY_TEXTS.map(([key, max, long]) => [key, h(long ? "textarea" : "input", {
    rows: long ? "2" : null, value: settings[key] || "", placeholder: t("settings.survey.default_text"), dataset: { path: key }, "data-max": String(max),
  })]));
  const classes = policy.classes.map((c) => c.name);
  const followups = Object.fromEntries(classes.map((c) => {
    const seconds = settings.followup_seconds[c];
    return [c, h("input", { type: "number", min: "0", step: "any", value: seconds ? String(+(seconds / 3600).toFixed(2)) : "", placeholder: t("settings.survey.no_followup"), dataset: { path: `followup_seconds.${c}` } })];
  }));
  const submit = async (e) => {
    e.preventDefault();
    const problems = [];
    const out = { ...settings, survey_enabled: enabled.checked, survey_public_channels: publicChannels.checked };
    const hours = Number(ttl.value);
    if (!ttl.value.trim() || !Number.isFinite(hours) || hours <= 0 || hours > MAX_TTL_HOURS) problems.push({ input: ttl, message: t("settings.err.ttl", { max: MAX_TTL_HOURS }) });
    out.survey_ttl_hours = hours;
    for (const [key, max] of SURVEY_TEXTS) {
      const value = texts[key].value.trim();
      if (value.length > max) problems.push({ input: texts[key], message: t("settings.err.too_long", { max, count: value.length }) });
      out[key] = value;
    }
    if (out.survey_text && !out.survey_text.includes("{link}")) problems.push({ input: texts.survey_text, message: t("settings.err.link") });
    out.followup_seconds = {};
    for (const c of classes) {
      const raw = followups[c].value.trim();
      if (!raw) continue;
      const value = Number(raw);
      if (!Number.isFinite(value) || value <= 0 || value > MAX_TTL_HOURS) { problems.push({ input: followups[c], message: t("settings.err.followup", { max: MAX_TTL_HOURS }) }); continue; }
      out.followup_seconds[c] = Math.round(value * 3600);
    }
    if (!showProblems(form, problems)) return;
    try {
      await api("PUT", "/reports/settings", out);
      toast(t("settings.saved"));
      settingsPage("survey");
    } catch (err) { showServerError(form, err, (name) => t(`settings.survey.${name}`)); }
  };
  const form = h("form", { class: "card form settings-form", id: "survey-form", novalidate: true, on: { submit } },
    h("p", { class: "muted", text: t("settings.survey.help") }),
    h("label", { class: "check" }, enabled, h("span", { text: t("settings.survey.survey_enabled") })),
    h("label", { class: "check" }, publicChannels, h("span", { text: t("settings.survey.survey_public_channels") })),
    field("settings.survey.survey_ttl_hours", ttl),
    SURVEY_TEXTS.map(([key]) => field(`settings.survey.${key}`, texts[key], key === "survey_text" ? t("settings.survey.link_hint") : null)),
    h("fieldset", { class: "followups" }, h("legend", { text: t("settings.survey.followup_seconds") }),
      h("p", { class: "muted small", text: t("settings.survey.followup_help") }),
      classes.map((c) => h("label", { class: "field" }, h("span", { class: "label", text: className(c) }), followups[c]))),
    actions());
  clear(body, lockIfReadOnly(form));
}

// --- teams: who is in which (a user's teams field) -----------------------------------------------
async function renderTeams(body) {
  const { users } = await api("GET", "/users");
  const teams = [...new Set(users.flatMap((u) => u.teams || []))].sort(compareText);
  const setTeams = async (user, next, form) => {
    try {
      await api("PATCH", `/users/${user.id}`, { teams: next });
      toast(t("settings.saved"));
      settingsPage("teams");
    } catch (err) { showServerError(form, err, (name) => t(`settings.teams.${name}`)); }
  };
  const userOptions = (exclude) => [h("option", { value: "", text: t("settings.teams.pick") }),
    ...users.filter((u) => !exclude.includes(u.id)).sort((a, b) => compareText(a.name, b.name)).map((u) => h("option", { value: u.id, text: u.name }))];
  const cards = teams.map((team) => {
    const members = users.filter((u) => (u.teams || []).includes(team));
    const pick = h("select", { "aria-label": t("settings.teams.add_to", { team }) }, userOptions(members.map((u) => u.id)));
    const form = h("form", { class: "card form team", dataset: { team }, on: { submit: (e) => {
      e.preventDefault();
      const user = users.find((u) => u.id === pick.value);
      if (!showProblems(form, user ? [] : [{ input: pick, message: t("settings.err.pick_user") }])) return;
      setTeams(user, [...(user.teams || []), team], form);
    } } },
    h("h3", { text: team }),
    h("ul", { class: "members" }, members.map((u) => h("li", { dataset: { user: u.id } }, h("span", { text: u.name }),
      h("span", { class: "muted", text: ` · ${t(`console.role.${u.role}`)} · ${t(`console.status.${u.status}`)}` }),
      isAdmin() ? h("button", { type: "button", class: "link", text: t("settings.teams.remove"), on: { click: () => setTeams(u, u.teams.filter((x) => x !== team), form) } }) : null))),
    isAdmin() ? h("div", { class: "group" }, pick, h("button", { type: "submit", text: t("settings.teams.add") })) : null,
    h("p", { class: "form-error error", role: "alert" }));
    return form;
  });
  const name = h("input", { id: "new-team", maxlength: "100", dataset: { path: "teams" } });
  const first = h("select", { id: "new-team-member" }, userOptions([]));
  const create = h("form", { class: "card form", id: "new-team-form", novalidate: true, on: { submit: (e) => {
    e.preventDefault();
    const problems = [];
    const value = name.value.trim();
    if (!value) problems.push({ input: name, message: t("settings.err.required") });
    else if (teams.some((x) => x.toLowerCase() === value.toLowerCase())) problems.push({ input: name, message: t("settings.err.team_taken", { team: value }) });
    const user = users.find((u) => u.id === first.value);
    if (!user) problems.push({ input: first, message: t("settings.err.pick_user") });
    if (!showProblems(create, problems)) return;
    setTeams(user, [...(user.teams || []), value], create);
  } } },
  h("h3", { text: t("settings.teams.new") }),
  field("settings.teams.name", name), field("settings.teams.first_member", first),
  h("button", { type: "submit", class: "primary", text: t("settings.teams.create") }),
  h("p", { class: "form-error error", role: "alert" }));
  clear(body, h("p", { class: "muted", text: t("settings.teams.help") }),
    teams.length ? null : h("p", { class: "muted", text: t("settings.teams.none") }),
    h("div", { class: "teams" }, cards), isAdmin() ? create : null);
}

const RENDER = { sla: renderSla, rules: renderRules, hours: renderHours, survey: renderSurvey, teams: renderTeams };
