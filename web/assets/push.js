// Notifications on this device (Web Push): the handbook asks the browser for permission, the
// browser's push service (its maker's: Google, Mozilla, Apple, Microsoft) gives a subscription,
// and content is told of it, for the member's account or, before there is one, for the
// registration waiting for approval. The service worker (web/sw.js) shows what is pushed, in
// the language the page was last read in. Signing out ends this device's subscription.
"use strict";

const SotayPush = (() => {
  const KEPT = "sotay.push";  // {id}: this device's subscription at content
  let key;  // the server's public key, or null when it pushes nothing

  const supported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  // Whether this system pushes at all (GET /push/key answers 404 push_off when not).
  async function available() {
    if (!supported()) return false;
    if (key === undefined) {
      const answer = await fetch("/api/content/v1/push/key").catch(() => null);
      key = answer && answer.ok ? (await answer.json()).public_key : null;
    }
    return Boolean(key);
  }

  const bytes = (b64) => Uint8Array.from(atob(b64.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

  // Permission, then the browser's subscription, then `register(subscription)` (content's id of it).
  // Throws {code: "push_denied"} when the person (or the browser) refuses.
  async function enable(register) {
    if (!(await available())) throw Object.assign(new Error("push off"), { code: "push_unavailable" });
    const permission = await Notification.requestPermission();
    if (permission !== "granted") throw Object.assign(new Error("denied"), { code: "push_denied" });
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.getSubscription()
      || await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(key) });
    const id = await register(subscription.toJSON());
    localStorage.setItem(KEPT, JSON.stringify({ id }));
    return id;
  }

  // This device no longer told: content forgets it (when signed in), and so does the browser.
  async function disable() {
    const kept = JSON.parse(localStorage.getItem(KEPT) || "null");
    localStorage.removeItem(KEPT);
    if (kept && kept.id && typeof Sotay !== "undefined") {
      await Sotay.api(`/api/content/v1/push-subscriptions/${kept.id}`, { method: "DELETE" }).catch(() => null);
    }
    if (!supported()) return;
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = registration && await registration.pushManager.getSubscription();
    if (subscription) await subscription.unsubscribe().catch(() => null);
  }

  const enabled = () => Boolean(localStorage.getItem(KEPT)) && supported() && Notification.permission === "granted";

  // The service worker words pushes in the page's language.
  function language(lang) {
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage({ type: "language", value: lang });
    }
  }

  return { supported, available, enable, disable, enabled, language };
})();
