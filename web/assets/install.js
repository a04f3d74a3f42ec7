// The handbook as an installed app: registers the service worker (web/sw.js)
// and tells the page whether it runs from the home screen. The installed app
// starts at /?source=app and runs standalone: its registrations count as
// "mobile", the browser's as "web".
"use strict";

const SotayApp = {
  installed: matchMedia("(display-mode: standalone)").matches
    || new URLSearchParams(location.search).get("source") === "app",
  // Signing out forgets what was kept on this device for reading offline.
  forget() {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "forget" });
    }
  },
};
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => null);
