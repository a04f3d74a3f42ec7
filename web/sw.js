// The handbook's service worker: what makes it an app that installs on a
// phone's home screen, opens at once on a slow connection and reads without one.
//
// - The handbook's shell (the page, its scripts, styles, icons) answers from
//   this device at once and is refreshed in the background: a repeat visit on
//   3G does not wait for the network, and a new deployment shows the next time.
// - What a member reads (the feed, articles, bookmarked documents) comes from
//   the network when there is one, and is kept on the device for when there is
//   not. It is the member's own: signing out forgets it (the page posts
//   {type: "forget"}).
// - Anything else (the consoles, the dashboard, every write) is not touched.
"use strict";

const VERSION = "sotay-1";
const SHELL = `${VERSION}-shell`;
const READING = `${VERSION}-reading`;
const SHELL_FILES = ["/", "/assets/sotay.css", "/assets/common.js", "/assets/handbook.js",
  "/manifest.webmanifest", "/icons/icon-192.png", "/icons/icon-512.png"];
// The feed, an article, the library (bookmarks are ?bookmarked=true), a document and its file.
const READ_OFFLINE = /^\/api\/content\/v1\/(feed|articles\/[^/]+|documents(\/[^/]+(\/file)?)?)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (!name.startsWith(VERSION)) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "forget") event.waitUntil(caches.delete(READING));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/") {
    event.respondWith(fromDeviceThenRefresh(event, new Request("/")));
  } else if (SHELL_FILES.includes(url.pathname) || url.pathname.startsWith("/icons/")) {
    event.respondWith(fromDeviceThenRefresh(event, request));
  } else if (READ_OFFLINE.test(url.pathname)) {
    event.respondWith(fromNetworkElseDevice(request));
  }
});

// The copy on this device at once (the network's when there is none yet); the
// network's copy replaces it for next time.
async function fromDeviceThenRefresh(event, request) {
  const cache = await caches.open(SHELL);
  const kept = await cache.match(request, { ignoreSearch: true });
  const fresh = fetch(request).then((response) => {
    if (response.ok) cache.put(request, response.clone());
    return response;
  });
  if (kept) {
    event.waitUntil(fresh.catch(() => null));
    return kept;
  }
  return fresh;
}

// The network's answer (kept for later when it is a success); without a
// network, the answer kept last time, else the failure.
async function fromNetworkElseDevice(request) {
  const cache = await caches.open(READING);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (offline) {
    const kept = await cache.match(request, { ignoreVary: true });  // kept with the token it was asked with
    if (kept) return kept;
    throw offline;
  }
}
