// The top bar's menu on a phone: the rarely used tools (language, sound, desktop notifications,
// keyboard help, sign out) sit in #topmenu-panel, which agentux.css shows in the bar on wide
// screens and, below 700 px, only while #topmenu-button says aria-expanded="true" (a disclosure:
// Escape and a click outside close it). console.js imports this module; it needs no call.

import { $ } from "./dom.js";

const button = $("#topmenu-button");
const panel = $("#topmenu-panel");

function isOpen() {
  return button.getAttribute("aria-expanded") === "true";
}

function setMenu(open, { refocus = false } = {}) {
  button.setAttribute("aria-expanded", open ? "true" : "false");
  panel.classList.toggle("open", open);
  if (!open && refocus) button.focus();
}

button.addEventListener("click", () => setMenu(!isOpen()));

document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || !isOpen()) return;
  // The focus goes back to the button unless it is somewhere else (say the reply box).
  const at = document.activeElement;
  setMenu(false, { refocus: at === document.body || at === button || panel.contains(at) });
});

document.addEventListener("click", (e) => {
  if (!isOpen()) return;
  // The event's path, not target.closest(): the sound toggle re-renders its buttons on click,
  // so the target is no longer in the panel by the time the click reaches the document.
  const path = e.composedPath();
  if (path.includes(button)) return;
  if (!path.includes(panel)) { setMenu(false); return; }
  const id = e.target.id;
  // Sign out, the keyboard sheet and the one-time permission request lead away from the bar.
  if (id === "logout" || id === "keys-button" || id === "desktop-notify") setMenu(false);
  else if (id === "sound-toggle" && !e.target.isConnected) $("#sound-toggle")?.focus();
});
