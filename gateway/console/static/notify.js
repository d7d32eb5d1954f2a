// Telling the agent something happened: a short tone (WebAudio, no file; can be turned off, the
// choice kept in localStorage), a desktop notification (permission asked only when the agent
// clicks the button, never on load), for offers and for customer messages in conversations not
// on screen. The controls sit in the top bar.

import { $, h, toast } from "./dom.js";
import { t } from "./i18n.js";

const SOUND = "gw.sound";
let audio = null;

export function soundOn() { return localStorage.getItem(SOUND) !== "off"; }

function setSound(on) {
  localStorage.setItem(SOUND, on ? "on" : "off");
  renderControls();
}

// Two short sine notes; the context is made on the agent's first click (browsers start audio
// only after a gesture) and reused.
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const start = audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.16, 1320]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.14);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.15);
    }
  } catch { /* no audio on this device */ }
}

function desktopAllowed() {
  return "Notification" in window && Notification.permission === "granted";
}

async function askDesktop() {
  if (!("Notification" in window)) return;
  const answer = await Notification.requestPermission();
  if (answer === "granted") toast(t("console.notify.desktop_on"));
  else toast(t("console.notify.desktop_denied"), "error");
  renderControls();
}

export function chime() {
  if (soundOn()) beep();
}

// A desktop notification; id: the conversation (a click on the notification opens it).
export function desktop({ title, body, id }) {
  if (!desktopAllowed()) return;
  try {
    const note = new Notification(title, { body: body || "", tag: `gw-${id}`, lang: document.documentElement.lang });
    note.onclick = () => {
      window.focus();
      location.hash = `#/inbox/${encodeURIComponent(id)}`;
      if (note.close) note.close();
    };
  } catch { /* some browsers allow notifications only from a service worker */ }
}

export function initNotifyControls() {
  if ($("#notify-controls")) return;
  const holder = h("span", { id: "notify-controls", class: "notify-controls" });
  $("#logout").before(holder);
  renderControls();
  // The first click anywhere lets the tone play later (autoplay rules).
  document.addEventListener("click", () => {
    if (!audio && soundOn()) {
      try { audio = new (window.AudioContext || window.webkitAudioContext)(); } catch { /* none */ }
    }
  }, { once: true });
}

function renderControls() {
  const holder = $("#notify-controls");
  if (!holder) return;
  const on = soundOn();
  holder.textContent = "";
  holder.append(h("button", {
    type: "button", id: "sound-toggle", class: "link", "aria-pressed": on ? "true" : "false",
    title: t("console.notify.sound_title"), text: t(on ? "console.notify.sound_on" : "console.notify.sound_off"),
    on: { click: () => setSound(!soundOn()) },
  }));
  if ("Notification" in window && Notification.permission !== "granted") {
    holder.append(h("button", {
      type: "button", id: "desktop-notify", class: "link", title: t("console.notify.desktop_title"),
      text: t("console.notify.desktop"), on: { click: askDesktop },
    }));
  }
}
