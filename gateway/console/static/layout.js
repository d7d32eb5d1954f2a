// Phone and tablet: the inbox shows one pane at a time on a phone (list -> conversation ->
// customer panel) and the list beside the conversation on a tablet. The pane shown is
// #page-inbox's data-pane (list, conv, side), set from the address (#/inbox/<id>: the
// conversation) and by the bar's buttons; layout.css decides what each width shows.

import { $, h } from "./dom.js";
import { t } from "./i18n.js";

function openId() {
  return (location.hash.match(/^#\/inbox\/(.+)$/) || [])[1] || null;
}

function show(pane) {
  const page = $("#page-inbox");
  if (!page) return;
  page.dataset.pane = pane;
  $("#pane-customer").hidden = pane !== "conv";
  $("#pane-conversation").hidden = pane !== "side";
}

export function initLayout() {
  const page = $("#page-inbox");
  if (!page || $("#pane-bar")) return;
  const bar = h("nav", { id: "pane-bar", class: "pane-bar" },
    h("button", { type: "button", id: "pane-back", text: `← ${t("console.layout.back")}`, on: { click: () => { location.hash = "#/inbox"; } } }),
    h("span", { class: "spacer" }),
    h("button", { type: "button", id: "pane-customer", text: `${t("console.layout.customer")} →`, on: { click: () => show("side") } }),
    h("button", { type: "button", id: "pane-conversation", text: `← ${t("console.layout.conversation")}`, on: { click: () => show("conv") } }));
  page.prepend(bar);
  const follow = () => show(openId() ? "conv" : "list");
  window.addEventListener("hashchange", follow);
  follow();
  keepLogAtBottom();
}

// The message log stays at its last message when the panes around it change size (the header
// wraps, a pane appears, the phone's keyboard opens), unless the agent scrolled up.
function keepLogAtBottom() {
  let stick = true;
  const resized = new ResizeObserver(() => {
    const log = $("#log");
    if (log && stick) log.scrollTop = log.scrollHeight;
  });
  document.addEventListener("scroll", (e) => {
    const log = e.target;
    if (log && log.id === "log") stick = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  }, true);
  const pane = $("#conversation");
  new MutationObserver(() => {
    const log = $("#log");
    if (log && !log.dataset.observed) {
      log.dataset.observed = "1";
      stick = true;
      resized.observe(log);
    }
  }).observe(pane, { childList: true, subtree: true });
}
