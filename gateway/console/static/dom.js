// Small DOM helpers. Every piece of text goes in with textContent: whatever a customer or an
// agent wrote is shown as text and never parsed as HTML.

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

// "3m", "2h 05m", "1d 4h"
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function clock(ms) {
  const d = new Date(ms);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toDateString() === today.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

// Short text badges rather than emoji: they render the same on every system font.
export const CHANNEL_ICONS = {
  webchat: ["Chat", "#2563eb"], email: ["Mail", "#7c3aed"], wechat_oa: ["WX", "#16a34a"],
  wecom_kf: ["KF", "#0d9488"], x: ["X", "#111827"], mastodon: ["Mast", "#6364ff"],
  weibo: ["WB", "#dc2626"], api: ["API", "#64748b"],
};

export function channelIcon(type) {
  const [label, color] = CHANNEL_ICONS[type] || [String(type || "?").slice(0, 4), "#64748b"];
  const node = h("span", { class: "chan", title: type || "channel", text: label });
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
    toast("Copied");
  } catch {
    toast("Select the text and copy it", "error");
  }
}
