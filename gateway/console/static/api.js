// The HTTP API client and the signed-in session (kept in localStorage).

import { explain } from "./errors.js";

const STORE = "gw.console";

export const session = (() => {
  try { return JSON.parse(localStorage.getItem(STORE) || "null") || {}; } catch { return {}; }
})();

// message: the error in the agent's language (errors.js reads code, field, reason and limits);
// serverMessage: the API's own text.
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.serverMessage = message;
    this.status = status;
    this.code = code;
    this.field = details.field;
    this.fields = details.fields;
    this.reason = details.reason;
    this.limits = details.limits;
    this.retryAfter = details.retry_after;
    this.message = explain(this);
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

export async function api(method, path, body) {
  return request(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
}

// A file as the raw request body (uploads of attachments).
export async function upload(path, file) {
  return request("POST", path, file, file.type || "application/octet-stream");
}

async function request(method, path, body, contentType) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = contentType;
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, { method, headers, body });
  } catch (err) {
    throw new ApiError(0, "network", "");
  }
  let data = {};
  try { data = await resp.json(); } catch { /* empty or not JSON */ }
  if (resp.status === 401 && path !== "/auth/login") onUnauthorized();
  if (!resp.ok) {
    const err = data.error || {};
    throw new ApiError(resp.status, err.code || "error", err.message || resp.statusText, err);
  }
  return data;
}

export async function login(email, password) {
  const data = await api("POST", "/auth/login", { email, password });
  session.token = data.token;
  session.user = data.user;
  localStorage.setItem(STORE, JSON.stringify(session));
  return data.user;
}

export async function logout() {
  if (session.token) {
    try { await api("POST", "/auth/logout"); } catch { /* expired already */ }
  }
  delete session.token;
  delete session.user;
  localStorage.removeItem(STORE);
}

export function isStaff() {
  return session.user && (session.user.role === "admin" || session.user.role === "supervisor");
}

export function isAdmin() {
  return session.user && session.user.role === "admin";
}
