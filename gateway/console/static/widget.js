/* Web chat widget. Embed with:
 *   <script src="https://cs.example.com/widget.js" data-channel="CHANNEL_ID" async></script>
 * Plain JavaScript, no dependencies. Everything lives in a Shadow DOM, so the host page's CSS
 * cannot restyle it and ours cannot leak out. Text from visitors and agents is only ever set
 * with textContent: it is shown as text, never parsed as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-channel")) return;
  var channel = script.getAttribute("data-channel");
  var base = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var wsUrl = base.replace(/^http/, "ws") + "/channels/" + encodeURIComponent(channel) + "/webchat/ws";
  var uploadUrl = base + "/channels/" + encodeURIComponent(channel) + "/webchat/upload";
  var textsUrl = base + "/channels/" + encodeURIComponent(channel) + "/webchat/texts";
  var storeKey = "gwchat:" + channel;
  // Before the first welcome says the channel's limit: the gateway's default (config.py).
  var DEFAULT_MAX = 2000;
  var PING_EVERY = 20000;      // the protocol's ping on a quiet socket...
  var PONG_WITHIN = 10000;     // ...answered within this, or the connection is taken as dead
  var OPEN_WITHIN = 10000;     // a socket not welcomed within this is given up (and retried)
  var HEALTHY_AFTER = 10000;   // the reconnect backoff restarts only after this long connected
  var SHARE_AFTER = 3000;      // another tab's queued message, not sent by it meanwhile, is sent here

  // The host element is styled inline with !important (inline beats any page rule); inside,
  // .root resets everything the page could make us inherit (color, fonts, line height).
  var CSS = [
    ".root{all:initial;display:block;font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,",
    "'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Source Han Sans SC',",
    "'PingFang TC','Microsoft JhengHei','Noto Sans CJK TC',sans-serif;",
    "color:#111;text-align:left;letter-spacing:normal;word-spacing:normal;text-transform:none}",
    ":where(.root *){box-sizing:border-box;font:inherit;color:inherit;margin:0;",
    "letter-spacing:inherit;text-transform:none;text-shadow:none;float:none}",
    ".launcher{width:56px;height:56px;border-radius:50%;border:0;background:var(--accent);",
    "color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);position:relative;padding:0;",
    "display:flex;align-items:center;justify-content:center}",
    ".launcher svg{width:28px;height:28px;fill:#fff}",
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;",
    "background:#dc2626;color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}",
    ".panel{position:absolute;right:0;bottom:70px;width:340px;max-width:calc(100vw - 40px);",
    "height:480px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;",
    "box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden}",
    "[hidden]{display:none!important}",
    ".head{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center}",
    ".head .title{flex:1;font-weight:600}",
    ".head button{background:none;border:0;color:#fff;font-size:20px;cursor:pointer;padding:0 4px}",
    ".status{font-size:12px;color:#6b7280;padding:4px 14px;background:#f9fafb}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}",
    ".msg{max-width:80%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;",
    "overflow-wrap:anywhere}",
    ".msg.visitor{align-self:flex-end;background:var(--accent);color:#fff}",
    ".msg.agent,.msg.greeting{align-self:flex-start;background:#f3f4f6;color:#111}",
    ".msg.system{align-self:center;background:#fef3c7;font-size:13px}",
    ".msg.bot{align-self:flex-start;background:#eef2ff;color:#111}",
    ".bot-actions{display:flex;gap:6px;align-self:flex-start}",
    ".bot-actions button{border:1px solid var(--accent);border-radius:8px;background:#fff;",
    "color:var(--accent);padding:4px 12px;cursor:pointer;min-height:32px}",
    ".who{font-size:11px;font-weight:600;color:#374151;margin-bottom:2px}",
    ".state{font-size:11px;opacity:.8;margin-top:2px;text-align:right}",
    ".state button{background:none;border:0;color:inherit;text-decoration:underline;cursor:pointer;padding:0}",
    ".typing{font-size:12px;color:#6b7280;padding:0 14px 4px;min-height:18px}",
    "form{padding:10px 12px;border-top:1px solid #e5e7eb;display:flex;gap:6px;flex-wrap:wrap}",
    "form p{margin:0 0 4px;width:100%;font-size:13px}",
    "input,textarea{flex:1;min-width:0;border:1px solid #d1d5db;border-radius:8px;padding:8px;",
    "color:#111;background:#fff}",
    "textarea{resize:none;height:40px}",
    "form button{border:0;border-radius:8px;background:var(--accent);color:#fff;padding:0 14px;",
    "cursor:pointer;min-height:36px}",
    ".prechat input{width:100%;flex-basis:100%}",
    "form button.attach{background:#f3f4f6;color:#374151;padding:0 10px;font-size:16px}",
    ".files{display:flex;flex-direction:column;gap:2px;margin-top:4px}",
    ".files a{color:inherit;text-decoration:underline;overflow-wrap:anywhere}",
    ".survey{align-self:stretch;border:1px solid #e5e7eb;border-radius:10px;padding:10px;",
    "background:#fff;display:flex;flex-direction:column;gap:8px}",
    ".survey .rates{display:flex;gap:6px}",
    ".survey .rate{flex:1;min-height:36px;border:1px solid #d1d5db;border-radius:8px;background:#fff;",
    "color:#111;cursor:pointer;font-weight:600}",
    ".survey .rate[aria-pressed=true]{background:var(--accent);border-color:var(--accent);color:#fff}",
    ".survey textarea{width:100%;height:56px;flex:none}",
    ".survey .survey-send{align-self:flex-end;border:0;border-radius:8px;background:var(--accent);",
    "color:#fff;padding:0 14px;min-height:32px;cursor:pointer}",
    ".survey .survey-send:disabled{opacity:.5;cursor:default}",
    ".survey .survey-note{font-size:13px;color:#374151}",
  ].join("");

  // --- words: the channel's language, or the visitor's browser's (adapters/webchat/texts.py);
  // fetched at once, and again with every welcome. Until they arrive the widget shows no text,
  // unless fetching them failed or the gateway cannot be reached (a site's Content-Security-
  // Policy, a network down): then these built-in words, so the chat never stays blank.
  var texts = {};
  var FALLBACK = {
    "en": { title: "Chat with us", open_chat: "Open chat", close_chat: "Close chat",
      connecting: "Connecting…", reconnecting: "Reconnecting…",
      connection_lost: "Connection lost. Reconnecting…", write_message: "Write a message…",
      message: "Message", send: "Send", sending: "Sending…", not_sent: "Not sent", retry: "Retry",
      message_too_long: "The message is too long.", something_wrong: "Something went wrong",
      too_long: "Your message has {count} characters; at most {max} can be sent. Shorten it and send again." },
    "zh-CN": { title: "在线客服", open_chat: "打开聊天", close_chat: "关闭聊天", connecting: "连接中…",
      reconnecting: "正在重新连接…", connection_lost: "连接已断开，正在重新连接…",
      write_message: "输入消息…", message: "消息", send: "发送", sending: "发送中…",
      not_sent: "未发送", retry: "重试", message_too_long: "消息太长了。", something_wrong: "出了点问题",
      too_long: "您的消息有 {count} 个字符，最多可发送 {max} 个字符。请缩短后再发送。" },
    "zh-TW": { title: "線上客服", open_chat: "開啟聊天", close_chat: "關閉聊天", connecting: "連線中…",
      reconnecting: "正在重新連線…", connection_lost: "連線已中斷，正在重新連線…",
      write_message: "輸入訊息…", message: "訊息", send: "傳送", sending: "傳送中…",
      not_sent: "未傳送", retry: "重試", message_too_long: "訊息太長了。", something_wrong: "出了點問題",
      too_long: "您的訊息有 {count} 個字元，最多可傳送 {max} 個字元。請縮短後再傳送。" }
  };
  var fallback = null;   // the built-in words in use, once needed
  function useFallback() {
    if (fallback) return;
    var lang = String(document.documentElement.lang || navigator.language || "").toLowerCase();
    fallback = /^zh-(tw|hk|mo|hant)/.test(lang) ? FALLBACK["zh-TW"] :
      /^zh/.test(lang) ? FALLBACK["zh-CN"] : FALLBACK.en;
    applyTexts();
    render();
  }
  function T(name, params) {
    var text = texts[name] != null ? String(texts[name]) :
      fallback && fallback[name] != null ? fallback[name] : "";
    return text.replace(/\{([A-Za-z_]+)\}/g, function (whole, key) {
      return params && params[key] != null ? String(params[key]) : whole;
    });
  }
  function setTexts(next, lang) {
    if (!next) return;
    texts = next;
    if (lang) root.setAttribute("lang", lang);
    applyTexts();
    render();
  }
  function loadTexts() {
    fetch(textsUrl).then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (data) {
        if (data && data.texts) { if (!state.welcome) setTexts(data.texts, data.language); }
        else if (!state.welcome) useFallback();
      }, function () { if (!state.welcome) useFallback(); });   // else the welcome brings them
  }

  // --- DOM helpers: text only -----------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function bubbleIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  // localStorage is shared by every tab of the site: {token, max, pending}. A tab never
  // overwrites another tab's queued messages: it merges, and removes only the ones it saw
  // acknowledged (by client id). Refused ones stay, marked failed, and are never resent by
  // themselves (not after a reload either).
  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { return {}; }
  }
  function stored(p) {
    var out = { client_id: p.client_id, text: p.text, attachments: p.attachments };
    if (p.status === "failed") { out.status = "failed"; out.code = p.code || null; }
    return out;
  }
  function save() {
    try {
      var before = load();
      var mine = {};
      state.pending.forEach(function (p) { mine[p.client_id] = true; });
      var others = (Array.isArray(before.pending) ? before.pending : []).filter(function (p) {
        return p && typeof p.client_id === "string" && !mine[p.client_id] && !state.acked[p.client_id];
      });
      localStorage.setItem(storeKey, JSON.stringify({
        token: state.token || before.token || null, max: state.max,
        pending: others.concat(state.pending.map(stored)).slice(-100)
      }));
    } catch (e) { /* private mode: the chat still works for this page */ }
  }
  function queued(p) {
    return { client_id: p.client_id, text: typeof p.text === "string" ? p.text : "",
             attachments: p.attachments || [], status: p.status === "failed" ? "failed" : "sending",
             code: p.code || null };
  }
  // Messages other tabs queued (or refused) that this tab does not have yet; returns the new ones.
  function adoptStored() {
    var data = load();
    if (!state.token && data.token) state.token = data.token;
    var known = {};
    state.pending.forEach(function (p) { known[p.client_id] = p; });
    Object.keys(state.messages).forEach(function (seq) {
      var m = state.messages[seq];
      if (m.client_id) known[m.client_id] = m;
    });
    var added = [];
    (Array.isArray(data.pending) ? data.pending : []).forEach(function (p) {
      if (!p || typeof p.client_id !== "string" || state.acked[p.client_id]) return;
      var mine = known[p.client_id];
      if (!mine) {
        mine = queued(p);
        state.pending.push(mine);
        known[p.client_id] = mine;
        added.push(mine);
      } else if (p.status === "failed" && mine.status === "sending" && state.pending.indexOf(mine) >= 0) {
        mine.status = "failed";   // refused in another tab
        mine.code = p.code || null;
      }
    });
    return added;
  }
  function newClientId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var saved = load();
  var state = {
    token: saved.token || null,
    conversationId: null,
    messages: {},        // seq -> message
    pending: (Array.isArray(saved.pending) ? saved.pending : []).filter(function (p) {
      return p && typeof p.client_id === "string";
    }).map(queued),
    acked: {},           // client ids acknowledged while this page lived
    // The longest message the channel takes: the last welcome's (kept), or the default.
    max: saved.max > 0 ? saved.max : DEFAULT_MAX,
    ready: false,        // the socket is welcomed and its history replayed
    agentRead: 0,
    readSent: 0,
    welcome: null,
    open: false,
    unread: 0,
    ws: null,
    retries: 0,
    typingSentAt: 0,
    typingTimer: null,
    agentTypingTimer: null,
    surveys: {},         // survey token -> {score, comment, note, done, expired, sending}
    surveyCards: {},     // survey token -> {key, node}: kept across renders (focus, typing)
  };

  // --- the UI -----------------------------------------------------------------------------
  var host = document.createElement("gateway-chat");
  host.setAttribute("data-gateway-chat", channel);
  var HOST_STYLE = { all: "initial", position: "fixed", right: "20px", bottom: "20px",
    "z-index": "2147483000", display: "block", margin: "0", padding: "0", border: "0" };
  Object.keys(HOST_STYLE).forEach(function (k) { host.style.setProperty(k, HOST_STYLE[k], "important"); });
  var shadow = host.attachShadow({ mode: "open" });
  var root = el("div", "root");
  shadow.appendChild(root);
  if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.insertBefore(el("style", null, CSS), root);
  }
  root.style.setProperty("--accent", "#2563eb");

  var launcher = el("button", "launcher");
  launcher.appendChild(bubbleIcon());
  var badge = el("span", "badge");
  badge.hidden = true;
  launcher.appendChild(badge);

  var panel = el("div", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  var head = el("div", "head");
  var title = el("span", "title");
  var closeBtn = el("button", "close", "×");
  head.appendChild(title);
  head.appendChild(closeBtn);
  var status = el("div", "status");
  var log = el("div", "log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "typing");

  var prechat = el("form", "prechat");
  prechat.hidden = true;
  var prechatIntro = el("p");
  prechat.appendChild(prechatIntro);
  var preName = el("input");
  preName.name = "name"; preName.required = true; preName.maxLength = 100;
  var preEmail = el("input");
  preEmail.name = "email"; preEmail.type = "email";
  var preStart = el("button");
  prechat.appendChild(preName);
  prechat.appendChild(preEmail);
  prechat.appendChild(preStart);

  var offline = el("form", "offline");
  offline.hidden = true;
  var offlineText = el("p");
  var offEmail = el("input");
  offEmail.name = "email"; offEmail.type = "email"; offEmail.required = true;
  var offSave = el("button");
  offline.appendChild(offlineText);
  offline.appendChild(offEmail);
  offline.appendChild(offSave);

  var composer = el("form", "composer");
  var input = el("textarea");
  input.name = "message";
  var sendBtn = el("button");
  var fileInput = el("input");
  fileInput.type = "file";
  fileInput.hidden = true;
  var attachBtn = el("button", "attach", "+");
  attachBtn.type = "button";
  attachBtn.hidden = true;
  composer.appendChild(attachBtn);
  composer.appendChild(fileInput);
  composer.appendChild(input);
  composer.appendChild(sendBtn);

  [head, status, log, typing, prechat, offline, composer].forEach(function (n) { panel.appendChild(n); });
  root.appendChild(panel);
  root.appendChild(launcher);

  // Every fixed text of the widget, from the current texts.
  function applyTexts() {
    launcher.setAttribute("aria-label", T(state.open ? "close_chat" : "open_chat"));
    closeBtn.setAttribute("aria-label", T("close_chat"));
    title.textContent = T("title");
    if (!state.welcome && state.ws && !state.refused) setStatus(T(state.retries ? "reconnecting" : "connecting"));
    prechatIntro.textContent = T("prechat_intro");
    preName.placeholder = T("your_name");
    preEmail.placeholder = T("email_optional");
    preStart.textContent = T("start_chat");
    offEmail.placeholder = T("your_email");
    offSave.textContent = T("save");
    input.placeholder = T("write_message");
    input.setAttribute("aria-label", T("message"));
    sendBtn.textContent = T("send");
    attachBtn.setAttribute("aria-label", T("send_file"));
    attachBtn.title = T("send_file");
  }

  // --- rendering --------------------------------------------------------------------------
  function render() {
    var w = state.welcome || {};
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    var focused = shadow.activeElement;   // a survey comment being typed keeps its focus
    log.textContent = "";
    if (w.greeting || w.offline_message) {
      log.appendChild(el("div", "msg greeting", w.online === false ? w.offline_message : w.greeting));
    }
    var seqs = Object.keys(state.messages).map(Number).sort(function (a, b) { return a - b; });
    seqs.forEach(function (seq, i) {
      var m = state.messages[seq];
      var bot = botAnswer(m);
      var node = el("div", "msg " + (bot ? "bot" : m.from));
      node.setAttribute("data-seq", String(seq));
      if (m.from === "agent") node.appendChild(el("div", "who", m.author_name || T("agent")));
      if (bot) node.appendChild(el("div", "who", bot.label));
      if (m.text) node.appendChild(el("div", "text", bot ? bot.text : m.text));
      if (m.attachments && m.attachments.length) node.appendChild(fileLinks(m.attachments));
      if (m.from === "visitor") {
        node.appendChild(el("div", "state", T(state.agentRead >= seq ? "seen" : "sent")));
      }
      log.appendChild(node);
      if (m.survey && m.survey.token) log.appendChild(surveyCard(m.survey));
      // The latest message is the bot's answer: "solved" or "a person", one click each.
      if (bot && i === seqs.length - 1 && !state.pending.length) log.appendChild(botActions(bot));
    });
    state.pending.forEach(function (p) {
      var node = el("div", "msg visitor pending");
      if (p.text) node.appendChild(el("div", "text", p.text));
      if (p.attachments && p.attachments.length) node.appendChild(fileLinks(p.attachments));
      if (p.status === "failed") node.classList.add("failed");
      var st = el("div", "state", p.status === "failed" ? failedText(p) + " · " : T("sending"));
      if (p.status === "failed") {
        var retry = el("button", null, T("retry"));
        retry.type = "button";
        retry.addEventListener("click", function () {
          p.status = "sending";
          p.code = null;
          if (!fits(p)) refuse(p, "too_long");
          save();
          transmit(p);
          render();
        });
        st.appendChild(retry);
      }
      node.appendChild(st);
      log.appendChild(node);
    });
    if (focused && focused.isConnected && shadow.activeElement !== focused) focused.focus();
    if (atBottom || state.justSent) log.scrollTop = log.scrollHeight;
    state.justSent = false;
    prechat.hidden = !(w.prechat);
    offline.hidden = !(w.online === false && w.email_capture !== false &&
                       !(w.profile && w.profile.email)) || !prechat.hidden;
    if (!offline.hidden) offlineText.textContent = T("offline_email_prompt");
    composer.hidden = !prechat.hidden;
    attachBtn.hidden = !(w.max_upload_bytes > 0);
    badge.hidden = state.unread === 0;
    badge.textContent = String(state.unread);
  }

  // --- self-service answers (gateway/kb/selfservice.py): the gateway flags the bot's message
  // (bot, bot_language; the text comes without the label): the text never decides. Label and
  // buttons are in the answer's language (texts bot_en_* / bot_zh_*); a button sends the word
  // the bot understands in that language (a command).
  var BOT_WORDS = {
    zh: { solved: "已解决", human: "转人工" },
    en: { solved: "solved", human: "human" }
  };
  function botAnswer(m) {
    if (m.bot !== true) return null;
    var lang = BOT_WORDS[m.bot_language] ? m.bot_language : "zh";
    return { label: T("bot_" + lang + "_label"), text: m.text, kind: BOT_WORDS[lang], lang: lang };
  }

  function botActions(bot) {
    var box = el("div", "bot-actions");
    [["bot-solved", T("bot_" + bot.lang + "_solved"), bot.kind.solved],
     ["bot-human", T("bot_" + bot.lang + "_human"), bot.kind.human]
    ].forEach(function (spec) {
      var b = el("button", spec[0], spec[1]);
      b.type = "button";
      b.addEventListener("click", function () { sendText(spec[2]); });
      box.appendChild(b);
    });
    return box;
  }

  // Files as links (opened in a new tab); only http(s) URLs, the gateway's own.
  function fileLinks(files) {
    var box = el("div", "files");
    files.forEach(function (f) {
      var href = f.link || f.url || "";
      if (!/^https?:\/\//i.test(href)) return;
      var a = el("a", null, f.name || T("file"));
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      box.appendChild(a);
    });
    return box;
  }

  // --- the satisfaction survey: 1-5 and a comment, answered once over the socket ----------
  function surveyLocal(token) {
    if (!state.surveys[token]) state.surveys[token] = { score: 0, comment: "", note: "" };
    return state.surveys[token];
  }

  function surveyState(survey) {
    var local = surveyLocal(survey.token);
    if (local.done) return "answered";
    if (local.expired) return "expired";
    return survey.state;
  }

  function surveyCard(survey) {
    var local = surveyLocal(survey.token);
    var shown = surveyState(survey);
    var key = shown + "|" + local.note + "|" + (local.sending ? 1 : 0);
    var cached = state.surveyCards[survey.token];
    if (cached && cached.key === key) return cached.node;
    var labels = (state.welcome && state.welcome.survey) || {};
    var card = el("div", "survey");
    card.setAttribute("data-survey-state", shown);
    if (shown === "pending") {
      var rates = el("div", "rates");
      rates.setAttribute("role", "group");
      rates.setAttribute("aria-label", T("rating"));
      var submit = el("button", "survey-send", labels.send || T("survey_send"));
      submit.type = "button";
      submit.disabled = !local.score || !!local.sending;
      [1, 2, 3, 4, 5].forEach(function (n) {
        var b = el("button", "rate", String(n));
        b.type = "button";
        b.setAttribute("data-score", String(n));
        b.setAttribute("aria-pressed", local.score === n ? "true" : "false");
        b.addEventListener("click", function () {
          local.score = n;
          Array.prototype.forEach.call(rates.children, function (other) {
            other.setAttribute("aria-pressed", other === b ? "true" : "false");
          });
          submit.disabled = !!local.sending;
        });
        rates.appendChild(b);
      });
      var comment = el("textarea", "survey-comment");
      comment.maxLength = labels.max_comment || 2000;
      comment.placeholder = labels.comment_prompt || T("survey_comment");
      comment.setAttribute("aria-label", comment.placeholder);
      comment.value = local.comment;
      comment.addEventListener("input", function () { local.comment = comment.value; });
      submit.addEventListener("click", function () {
        if (!local.score || local.sending) return;
        local.note = "";
        local.sending = send({ type: "survey_answer", token: survey.token, score: local.score,
          comment: local.comment });
        if (!local.sending) local.note = T("survey_not_connected");
        render();
      });
      card.appendChild(rates);
      card.appendChild(comment);
      card.appendChild(submit);
    }
    var note = local.note || (shown === "answered" ? labels.thanks || T("survey_thanks") :
      shown === "expired" ? T("survey_expired") : "");
    if (note) card.appendChild(el("div", "survey-note", note));
    state.surveyCards[survey.token] = { key: key, node: card };
    return card;
  }

  function surveyResult(f) {
    if (typeof f.token !== "string") { setStatus(T("something_wrong")); return; }
    var local = surveyLocal(f.token);
    local.sending = false;
    local.note = f.ok ? T("survey_thanks") : T(f.code === "used" ? "survey_used" :
      f.code === "expired" ? "survey_expired" : f.code === "forged" ? "survey_invalid" : "something_wrong");
    if (f.ok || f.code === "used") local.done = true;     // answered here, in another tab, or before
    else if (f.code === "expired") local.expired = true;
  }

  function failedText(p) {
    if (p.code && T(p.code)) return T(p.code, { count: Array.from(p.text || "").length, max: state.max });
    return T("not_sent");
  }
  function fits(p) { return Array.from(p.text || "").length <= state.max; }
  // A message the gateway refused (or would): shown failed, with Retry; never resent by itself.
  function refuse(p, code) {
    p.status = "failed";
    p.code = code || null;
  }

  function setStatus(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function addMessage(m, replayed) {
    if (!m || typeof m.seq !== "number") return;
    if (state.conversationId && m.conversation_id && m.conversation_id !== state.conversationId) {
      state.messages = {};   // a new conversation started (the old one was closed long ago)
    }
    state.conversationId = m.conversation_id || state.conversationId;
    var isNew = !state.messages[m.seq];
    state.messages[m.seq] = m;
    if (m.from === "visitor" && m.client_id) {
      state.acked[m.client_id] = true;
      state.pending = state.pending.filter(function (p) { return p.client_id !== m.client_id; });
      save();
    }
    if (isNew && !replayed && m.from !== "visitor" && !state.open) state.unread += 1;
    if (m.from === "agent" && !replayed) showAgentTyping(null);
  }

  function lastSeq() {
    var seqs = Object.keys(state.messages).map(Number);
    return seqs.length ? Math.max.apply(null, seqs) : 0;
  }

  function markRead() {
    if (!state.open || document.hidden) return;
    var seq = 0;
    Object.keys(state.messages).forEach(function (k) {
      if (state.messages[k].from !== "visitor") seq = Math.max(seq, Number(k));
    });
    if (seq > state.readSent) {
      state.readSent = seq;
      send({ type: "read", seq: seq });
    }
  }

  function showAgentTyping(name) {
    clearTimeout(state.agentTypingTimer);
    typing.textContent = name ? T("typing", { name: name }) : "";
    if (name) state.agentTypingTimer = setTimeout(function () { typing.textContent = ""; }, 6000);
  }

  // --- the socket -------------------------------------------------------------------------
  function send(frame) {
    if (state.ws && state.ws.readyState === 1) {
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Only on a welcomed socket (the history's replay resends the rest), and never a failed one.
  function transmit(p) {
    if (p.status === "failed" || !state.ready || !state.ws) return;
    var frame = { type: "message", client_id: p.client_id, text: p.text };
    if (p.attachments && p.attachments.length) {
      frame.attachments = p.attachments.map(function (a) { return { url: a.url }; });
    }
    var data = JSON.stringify(frame);
    var ws = state.ws;
    if (ws.readyState !== 1) return;
    ws.send(data);
    ws.gwSent[p.client_id] = data.length;   // until acknowledged or refused
  }

  // A picked file goes up over HTTP (the session token proves the visitor), then is sent as
  // a message of its own.
  function sendFile(file) {
    var limit = (state.welcome && state.welcome.max_upload_bytes) || 0;
    if (!state.token || !limit) return;
    if (file.size > limit) {
      setStatus(T("file_too_large", { name: file.name, mb: Math.floor(limit / 1048576) }));
      return;
    }
    setStatus(T("file_sending", { name: file.name }));
    fetch(uploadUrl + "?name=" + encodeURIComponent(file.name), {
      method: "POST", body: file,
      headers: { "Authorization": "Bearer " + state.token,
                 "Content-Type": file.type || "application/octet-stream" }
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok || !data.attachment) {
          throw new Error(T("file_failed", { name: file.name }));
        }
        return data.attachment;
      });
    }).then(function (a) {
      setStatus("");
      var p = { client_id: newClientId(), text: "", status: "sending",
                attachments: [{ url: a.url, link: a.link, name: a.name }] };
      state.pending.push(p);
      save();
      state.justSent = true;
      transmit(p);
      render();
    }, function (err) {
      setStatus(err.message);
    });
  }

  function connect() {
    if (state.ws || state.refused) return;
    state.started = true;
    clearTimeout(state.reconnectTimer);
    var ws;
    try {
      ws = new WebSocket(wsUrl);   // throws e.g. when the page's CSP forbids the address
    } catch (e) {
      console.error("GatewayChat: cannot connect to " + wsUrl + ": " + e);
      return lost(null, 0);
    }
    ws.gwSent = {};     // client id -> frame length of messages sent on it, not yet answered
    state.ws = ws;
    state.ready = false;
    setStatus(T(state.retries ? "reconnecting" : "connecting"));
    // Not welcomed in time (a blocked or black-holed address): given up, and retried.
    state.openTimer = setTimeout(function () { if (!state.ready) lost(ws, 0); }, OPEN_WITHIN);
    ws.onopen = function () {
      send({
        type: "hello", token: state.token, conversation_id: state.conversationId,
        last_seq: lastSeq(), page: location.href
      });
    };
    ws.onmessage = function (event) {
      var f;
      try { f = JSON.parse(event.data); } catch (e) { return; }
      if (ws !== state.ws) return;
      state.lastHeard = Date.now();
      handle(f);
      render();
      markRead();
    };
    ws.onclose = function (event) { lost(ws, event.code); };
  }

  // The socket closed, failed to open, or stopped answering: say so, and reconnect with backoff.
  function lost(ws, code) {
    if (ws && ws !== state.ws) return;   // already given up
    clearTimeout(state.openTimer);
    clearTimeout(state.healthyTimer);
    clearTimeout(state.pongTimer);
    clearInterval(state.pingTimer);
    state.pongTimer = null;
    state.ws = null;
    state.ready = false;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState < 2) { try { ws.close(); } catch (e) { /* already closing */ } }
      if (code === 1009) tooBig(ws);
    }
    if (code === 4403) return;   // origin refused: final
    if (!Object.keys(texts).length) useFallback();
    state.retries += 1;
    setStatus(T("connection_lost"));
    render();
    var delay = Math.min(15000, 500 * Math.pow(2, Math.min(state.retries, 5))) * (0.75 + Math.random() / 2);
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  // Closed with 1009 (a frame over the gateway's limit): the biggest message sent on that
  // socket and never answered was it. Marked failed, so it is not resent after reconnecting.
  function tooBig(ws) {
    var biggest = null;
    Object.keys(ws.gwSent).forEach(function (id) {
      if (!biggest || ws.gwSent[id] > ws.gwSent[biggest]) biggest = id;
    });
    state.pending.forEach(function (p) {
      if (p.client_id === biggest) refuse(p, "message_too_long");
    });
    save();
  }

  // The protocol's ping (adapters/webchat/protocol.py): a connection that silently died (a
  // NAT's timeout, a sleeping laptop) answers no pong, and is replaced.
  function ping() {
    var ws = state.ws;
    if (!ws || !state.ready || state.pongTimer) return;
    if (!send({ type: "ping" })) return;
    var asked = Date.now();
    state.pongTimer = setTimeout(function () {
      state.pongTimer = null;
      if (ws === state.ws && !(state.lastHeard >= asked)) lost(ws, 0);
    }, PONG_WITHIN);
  }

  // Back online, or the page shown again: reconnect now rather than when the backoff says; a
  // socket that looks open is checked with a ping.
  function wake() {
    if (!state.started || state.refused) return;
    if (!state.ws) connect(); else ping();
  }

  function handle(f) {
    if (f.type === "welcome") {
      state.welcome = f;
      state.token = f.token;
      // The backoff restarts only once this socket has lasted (a socket the gateway closes at
      // once, again and again, must not be retried at full speed).
      clearTimeout(state.healthyTimer);
      state.healthyTimer = setTimeout(function () { state.retries = 0; }, HEALTHY_AFTER);
      if (f.texts) { texts = f.texts; root.setAttribute("lang", f.language || ""); applyTexts(); }
      title.textContent = f.title || T("title");
      if (f.color) root.style.setProperty("--accent", f.color);
      if (f.max_message_length > 0) state.max = f.max_message_length;   // checked on send, never cut
      // What was queued before this limit was known: too long now is refused here, not sent.
      state.pending.forEach(function (p) { if (p.status === "sending" && !fits(p)) refuse(p, "too_long"); });
      save();
      setStatus("");
    } else if (f.type === "history") {
      if (f.reset) state.messages = {};
      state.conversationId = f.conversation_id || state.conversationId;
      (f.messages || []).forEach(function (m) { addMessage(m, true); });
      state.agentRead = Math.max(state.agentRead, f.read_seq || 0);
      clearTimeout(state.openTimer);
      state.ready = true;
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(ping, PING_EVERY);
      adoptStored();                     // other tabs' queued messages too
      state.pending.forEach(transmit);   // resend what was never acknowledged; deduplicated
      // An answer lost with the old socket may be sent again; the replay says if it counted.
      Object.keys(state.surveys).forEach(function (t) { state.surveys[t].sending = false; });
    } else if (f.type === "message") {
      addMessage(f.message);
    } else if (f.type === "pong") {
      clearTimeout(state.pongTimer);
      state.pongTimer = null;
    } else if (f.type === "ack") {
      if (state.ws) delete state.ws.gwSent[f.client_id];
      state.acked[f.client_id] = true;
      state.pending.forEach(function (p) {
        if (p.client_id === f.client_id && !state.messages[f.seq]) {
          addMessage({ seq: f.seq, conversation_id: f.conversation_id, from: "visitor",
            client_id: p.client_id, text: p.text, attachments: p.attachments,
            created_at: Date.now() });
        }
      });
      state.pending = state.pending.filter(function (p) { return p.client_id !== f.client_id; });
      save();
      if (state.welcome && typeof f.online === "boolean") state.welcome.online = f.online;
    } else if (f.type === "typing") {
      showAgentTyping(f.on ? f.name || T("support") : null);
    } else if (f.type === "read") {
      state.agentRead = Math.max(state.agentRead, f.seq || 0);
    } else if (f.type === "profile") {
      if (state.welcome) {
        state.welcome.profile = f.profile;
        state.welcome.prechat = false;
      }
    } else if (f.type === "survey_result") {
      surveyResult(f);
    } else if (f.code === "origin_not_allowed") {
      state.refused = 1;
      setStatus(f.text);
      console.error("GatewayChat: " + f.message);
    } else if (f.type === "error") {
      var p = state.pending.filter(function (x) { return x.client_id === f.client_id; })[0];
      if (state.ws && f.client_id) delete state.ws.gwSent[f.client_id];
      if (p) {
        refuse(p, texts[f.code] ? f.code : null);
        if (f.code === "rate_limited" && f.retry_after) {
          setTimeout(function () { p.status = "sending"; p.code = null; save(); transmit(p); render(); }, f.retry_after * 1000);
        }
        save();
      } else {
        setStatus(texts[f.code] ? T(f.code) : T("something_wrong"));
      }
    }
  }

  // --- events -----------------------------------------------------------------------------
  function openPanel() {
    state.open = true;
    state.unread = 0;
    panel.hidden = false;
    launcher.setAttribute("aria-label", T("close_chat"));
    connect();
    render();
    markRead();
    (prechat.hidden ? input : preName).focus();
  }
  function closePanel() {
    state.open = false;
    panel.hidden = true;
    launcher.setAttribute("aria-label", T("open_chat"));
  }
  launcher.addEventListener("click", function () { state.open ? closePanel() : openPanel(); });
  closeBtn.addEventListener("click", closePanel);

  function sendText(text) {
    var p = { client_id: newClientId(), text: text, status: "sending" };
    state.pending.push(p);
    save();
    state.justSent = true;
    transmit(p);
    render();
  }

  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    var n = Array.from(text).length;
    if (n > state.max) return setStatus(T("too_long", { count: n, max: state.max }), state.long = 1);
    if (state.long) {
      state.long = 0;
      setStatus(state.ready ? "" : T(state.ws ? (state.retries ? "reconnecting" : "connecting") : "connection_lost"));
    }
    var p = { client_id: newClientId(), text: text, status: "sending" };
    state.pending.push(p);
    save();
    input.value = "";
    state.justSent = true;
    clearTimeout(state.typingTimer);
    if (state.typingSentAt) { send({ type: "typing", on: false }); state.typingSentAt = 0; }
    transmit(p);
    render();
  });
  attachBtn.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    Array.prototype.forEach.call(fileInput.files, sendFile);
    fileInput.value = "";
  });
  input.addEventListener("keydown", function (e) {
    // An Enter that ends an input method's composition (pinyin, zhuyin, kana) only commits
    // the text; Safari reports it after compositionend with keyCode 229.
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - state.typingSentAt > 2500 && input.value) {
      state.typingSentAt = now;
      send({ type: "typing", on: true });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () {
      if (state.typingSentAt) { send({ type: "typing", on: false }); state.typingSentAt = 0; }
    }, 4000);
  });
  prechat.addEventListener("submit", function (e) {
    e.preventDefault();
    send({ type: "profile", name: preName.value, email: preEmail.value || null });
  });
  offline.addEventListener("submit", function (e) {
    e.preventDefault();
    send({ type: "profile", email: offEmail.value });
  });
  document.addEventListener("visibilitychange", function () {
    markRead();
    if (!document.hidden) wake();
  });
  window.addEventListener("online", wake);
  // Another tab queued (or refused) a message: shown here too; sent from here when that tab
  // has not sent it meanwhile (it may be offline or closed). A message sent twice is stored
  // once: the gateway deduplicates by the message's client id.
  window.addEventListener("storage", function (e) {
    if (e.key !== storeKey) return;
    var added = adoptStored();
    if (!added.length) return;
    render();
    setTimeout(function () {
      added.forEach(function (p) { if (state.pending.indexOf(p) >= 0) transmit(p); });
    }, SHARE_AFTER + Math.random() * SHARE_AFTER);
  });

  function mount() {
    document.body.appendChild(host);
    loadTexts();
    if (state.token) connect();   // a returning visitor: replies and the unread badge at once
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  window.GatewayChat = { open: openPanel, close: closePanel };
})();
