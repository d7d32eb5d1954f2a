// Errors in words: an API error (its machine-readable code, field and reason) said in the
// agent's language, naming the field as the form labels it and saying what to do, e.g.
// "会话密钥至少需要 16 个字符" for { code: "invalid_field", field: "config.session_secret",
// reason: "string_too_short", limits: { min_length: 16 } }.

import { has, language, t } from "./i18n.js";

const REASONS = {
  missing: "errors.field.missing",
  string_too_short: "errors.field.too_short",
  string_too_long: "errors.field.too_long",
  too_short: "errors.field.too_few",
  too_long: "errors.field.too_many",
  greater_than_equal: "errors.field.min",
  greater_than: "errors.field.min",
  less_than_equal: "errors.field.max",
  less_than: "errors.field.max",
  string_pattern_mismatch: "errors.field.pattern",
  int_parsing: "errors.field.number",
  int_type: "errors.field.number",
  float_parsing: "errors.field.number",
  float_type: "errors.field.number",
  int_from_float: "errors.field.whole_number",
  bool_parsing: "errors.field.boolean",
  bool_type: "errors.field.boolean",
  string_type: "errors.field.text",
  list_type: "errors.field.list",
  enum: "errors.field.choice",
  literal_error: "errors.field.choice",
  value_error: "errors.field.invalid",
  url_parsing: "errors.field.url",
  url_scheme: "errors.field.url",
  value_error_email: "errors.field.email",
  extra_forbidden: "errors.field.unknown",
  https_required: "errors.field.https",
};

// labelOf(name) -> the form's label of a field (its last path segment, "config." dropped).
const fieldLabel = (name) => (has(`console.field.${name}`) ? t(`console.field.${name}`) : name);

export function explain(err, labelOf = fieldLabel) {
  if (!err) return "";
  if (!err.code) return err.message || "";  // not from the API: already in words
  if (err.code === "invalid_field" || err.code === "credentials_required") {
    const path = String(err.field || "");
    const name = path.replace(/^config\./, "").split(".")[0] || path;
    const field = labelOf(name) || name;
    if (err.code === "credentials_required") {
      const names = (err.fields || [path]).map((f) => labelOf(f.replace(/^config\./, ""))).join(t("console.common.list_sep"));
      return t("errors.credentials_required", { fields: names });
    }
    const key = REASONS[err.reason] || "errors.field.invalid";
    const limits = err.limits || {};
    const limit = limits.min_length ?? limits.max_length ?? limits.ge ?? limits.gt ?? limits.le ?? limits.lt ?? "";
    // English keeps the server's own explanation of a rule it cannot name.
    if (key === "errors.field.invalid" && language() === "en" && err.serverMessage) return err.serverMessage;
    return t(key, { field, limit, count: limit });
  }
  const byCode = `errors.code.${err.code}`;
  if (err.code && has(byCode)) return t(byCode, { retry_after: err.retryAfter ?? "", count: err.retryAfter ?? "" });
  if (err.status >= 500 || err.status === 0) return t(err.status === 0 ? "errors.code.network" : "errors.server");
  return language() === "en" && err.serverMessage ? err.serverMessage : t("errors.generic", { status: err.status });
}
