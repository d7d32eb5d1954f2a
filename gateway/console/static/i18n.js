// The console's words: the catalogue of one language (GET /console/i18n/<lang>.json, the same
// gettext catalogues the server uses), t(key, params), and dates, times and sorting in that
// language. The page's <html lang> is what the server negotiated from Accept-Language; an agent's
// own choice (profile setting) is kept in localStorage so that the next page opens in it at once.

const STORE = "gw.lang";
export const LANGUAGES = ["zh-CN", "en", "zh-TW"];
let table = {};
let current = "zh-CN";

export function language() { return current; }

// The language to open in: the agent's saved choice, else what the server read from the browser.
export function initialLanguage() {
  const saved = localStorage.getItem(STORE);
  if (LANGUAGES.includes(saved)) return saved;
  const lang = document.documentElement.lang;
  return LANGUAGES.includes(lang) ? lang : "zh-CN";
}

export function remember(lang) {
  if (lang) localStorage.setItem(STORE, lang); else localStorage.removeItem(STORE);
}

export async function loadLanguage(lang) {
  const wanted = LANGUAGES.includes(lang) ? lang : "zh-CN";
  try {
    const resp = await fetch(`/console/i18n/${wanted}.json`);
    if (resp.ok) table = await resp.json();
  } catch { /* the gateway is unreachable: the page still works and says so when it calls */ }
  current = wanted;
  document.documentElement.lang = wanted;
  translatePage(document);
  return wanted;
}

// "Hello {name}" with { name: "李伟" }; an unknown key shows as the key (a test keeps the
// catalogues complete, so none reaches a person).
// A number that picks the words: with params.count, a language's own form of the key wins when
// its catalogue has one ("<key>#one" in English: "1 conversation held"); the key itself is the
// other form, and the only one in Chinese.
export function t(key, params = {}) {
  let text = Object.prototype.hasOwnProperty.call(table, key) ? table[key] : key;
  if (params.count !== undefined && params.count !== "") {
    const form = `${key}#${new Intl.PluralRules(current).select(Number(params.count))}`;
    if (Object.prototype.hasOwnProperty.call(table, form)) text = table[form];
  }
  return text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function has(key) { return Object.prototype.hasOwnProperty.call(table, key); }

// Static HTML carries keys: data-i18n (text), data-i18n-placeholder / -title / -aria-label.
export function translatePage(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const attr of ["placeholder", "title", "aria-label"]) {
    const name = `data-i18n-${attr}`;
    for (const node of root.querySelectorAll(`[${name}]`)) node.setAttribute(attr, t(node.getAttribute(name)));
  }
  if (root === document && table["console.title"] && document.body?.dataset.titleKey) {
    document.title = t(document.body.dataset.titleKey);
  }
}

// Times in the viewer's zone (the browser's) and language.
export function formatDateTime(ms, options = { dateStyle: "medium", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(current, options).format(new Date(ms));
}

export function formatTime(ms) {
  return new Intl.DateTimeFormat(current, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(ms));
}

export function formatDate(ms) {
  return new Intl.DateTimeFormat(current, { dateStyle: "medium" }).format(new Date(ms));
}

export function formatNumber(value, options) {
  return new Intl.NumberFormat(current, options).format(value);
}

// Sorting names, shortcuts, tags and teams (Chinese by pinyin in zh-CN).
let collatorCache = null;
export function compareText(a, b) {
  if (!collatorCache || collatorCache.lang !== current) {
    collatorCache = { lang: current, collator: new Intl.Collator(current, { numeric: true, sensitivity: "base" }) };
  }
  return collatorCache.collator.compare(String(a ?? ""), String(b ?? ""));
}

// Every module that imports this one waits until the catalogue is here (top-level await), so
// t() always has its words.
await loadLanguage(initialLanguage());
