// Small DOM helpers. Every piece of text goes in with textContent: whatever a customer or an
// agent wrote is shown as text and never parsed as HTML.

import { formatDate, formatTime, t } from "./i18n.js";

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value" || key === "checked" || key === "hidden" || key === "disabled") node[key] = value;
    else if (key === "href") node.setAttribute("href", safeHref(value));
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function safeHref(url) {
  const text = String(url || "");
  return /^(https?:|\/|#)/i.test(text) ? text : "#";
}

export function clear(node, ...children) {
  node.textContent = "";
  append(node, children);
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// "45s", "3m 05s", "2h 05m", "1d 4h" (in the agent's language)
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t("console.dur.s", { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("console.dur.ms", { m, s: String(s % 60).padStart(2, "0") });
  const hours = Math.floor(m / 60);
  if (hours < 48) return t("console.dur.hm", { h: hours, m: String(m % 60).padStart(2, "0") });
  return t("console.dur.dh", { d: Math.floor(hours / 24), h: hours % 24 });
}

// A time in the viewer's zone and language; the date too when it is not today.
export function clock(ms) {
  const d = new Date(ms);
  const time = formatTime(ms);
  return d.toDateString() === new Date().toDateString() ? time : `${formatDate(ms)} ${time}`;
}

// Short text badges rather than emoji: they render the same on every system font.
export const CHANNEL_ICONS = {
  webchat: "#2563eb", email: "#7c3aed", wechat_oa: "#16a34a", wecom_kf: "#0d9488", x: "#111827",
  mastodon: "#6364ff", weibo: "#dc2626", api: "#64748b", qq: "#0ea5e9",
};

export function channelIcon(type) {
  const color = CHANNEL_ICONS[type] || "#64748b";
  const label = CHANNEL_ICONS[type] ? t(`console.channel_badge.${type}`) : String(type || "?").slice(0, 4);
  const title = CHANNEL_ICONS[type] ? t(`console.channel_type.${type}`) : type || "?";
  const node = h("span", { class: "chan", title, text: label });
  node.style.background = color;
  return node;
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.className = `toast ${kind}`;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 5000);
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("console.common.copied"));
  } catch {
    toast(t("console.common.copy_failed"), "error");
  }
}
