// Resolving while the customer's last message has no answer (issue 17): the Resolve button asks
// first, in place ("Resolve anyway" / "Cancel"), instead of closing the customer's question
// unanswered. Notes and event lines are no answer; a reply (ours or the bot's) is.

import { h } from "./dom.js";
import { t } from "./i18n.js";

export function unanswered(messages) {
  let last = null;
  for (const m of messages) {
    if ((m.direction === "in" || m.direction === "out") && (!last || m.seq > last.seq)) last = m;
  }
  return !!last && last.direction === "in";
}

export function guardResolve(button, messages, resolve) {
  if (!unanswered(messages)) { resolve(); return; }
  const old = button.parentNode.querySelector(".resolve-confirm");
  if (old) { old.querySelector("button.confirm").focus(); return; }
  const box = h("span", { class: "resolve-confirm", role: "alertdialog", "aria-label": t("settings.resolve.title") },
    h("span", { class: "resolve-question", text: t("settings.resolve.question") }));
  const yes = h("button", { type: "button", class: "confirm danger", text: t("settings.resolve.anyway") });
  const no = h("button", { type: "button", class: "cancel", text: t("settings.resolve.cancel") });
  yes.addEventListener("click", () => { box.remove(); resolve(); });
  no.addEventListener("click", () => { box.remove(); button.focus(); });
  box.append(yes, no);
  button.after(box);
  yes.focus();
}
