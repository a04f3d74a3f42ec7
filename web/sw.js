// The handbook's service worker: what makes it an app that installs on a
// phone's home screen, opens at once on a slow connection and reads without one.
//
// - The handbook's shell (the page, its scripts, styles, icons) answers from
//   this device at once and is refreshed in the background: a repeat visit on
//   3G does not wait for the network, and a new deployment shows the next time.
// - What a member reads (the feed, articles, bookmarked documents) comes from
//   the network when there is one, and is kept on the device for when there is
//   not, and for the page to show at once while it asks again (handbook.js
//   kept()). It is the member's own: signing out forgets it (the page posts
//   {type: "forget"}).
// - Anything else (the consoles, the dashboard, every write) is not touched.
// - A push (content's notifications, web/assets/push.js) is shown as a
//   notification in the page's last language; tapping it opens what it is about.
"use strict";

const VERSION = "sotay-1";
const SHELL = `${VERSION}-shell`;
const READING = `${VERSION}-reading`;
const SHELL_FILES = ["/", "/assets/sotay.css", "/assets/common.js", "/assets/push.js", "/assets/handbook.js",
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

const SETTINGS = `${VERSION}-settings`;
const LANGUAGE = "/settings/language";  // kept as a cached answer: a service worker has no localStorage

self.addEventListener("message", (event) => {
  if (!event.data) return;
  if (event.data.type === "forget") event.waitUntil(caches.delete(READING));
  if (event.data.type === "language") {
    event.waitUntil(caches.open(SETTINGS).then((c) => c.put(LANGUAGE, new Response(String(event.data.value)))));
  }
});

// What a push says. It carries no personal data (services/content/domain/notices.py): its kind,
// the id to open and an article's (or a study topic's) title; the words are here.
const PUSH_WORDS = {
  vi: {
    article: ["Tin mới", "{title}"],
    study: ["Học tập nghị quyết", "{title}"],
    meeting: ["Lịch sinh hoạt chi bộ", "Chi bộ của đồng chí triệu tập sinh hoạt. Chạm để xem giờ và địa điểm."],
    meeting_reminder: ["Nhắc lịch sinh hoạt chi bộ", "Sắp đến buổi sinh hoạt chi bộ. Chạm để xem giờ và địa điểm."],
    account_approved: ["Tài khoản đã được phê duyệt", "Đồng chí đã đăng nhập được vào Sổ tay đảng viên điện tử."],
    account_rejected: ["Đăng ký chưa được chấp thuận", "Chạm để xem lý do khi đăng nhập, hoặc liên hệ chi bộ."],
  },
  en: {
    article: ["New article", "{title}"],
    study: ["Study", "{title}"],
    meeting: ["Cell meeting", "Your cell calls a meeting. Tap to see when and where."],
    meeting_reminder: ["Cell meeting reminder", "Your cell's meeting is coming up. Tap to see when and where."],
    account_approved: ["Account approved", "You can now sign in to the Party-member handbook."],
    account_rejected: ["Registration not accepted", "Tap to see the reason when you sign in, or contact your cell."],
  },
};

self.addEventListener("push", (event) => {
  event.waitUntil((async () => {
    let notice = {};
    try { notice = event.data ? event.data.json() : {}; } catch (unreadable) { notice = {}; }
    const kept = await (await caches.open(SETTINGS)).match(LANGUAGE);
    const lang = kept && (await kept.text()) === "en" ? "en" : "vi";
    const [title, body] = PUSH_WORDS[lang][notice.kind] || [lang === "en" ? "Notification" : "Thông báo", ""];
    const url = notice.kind === "article" ? `/#article/${notice.ref}` : notice.kind === "study" ? `/#study/${notice.ref}`
      : String(notice.kind).startsWith("meeting") ? "/#meetings" : notice.kind ? "/#notices" : "/";
    await self.registration.showNotification(title, {
      body: body.replace("{title}", notice.title || ""), icon: "/icons/icon-192.png", lang,
      tag: `notice-${notice.id}`, data: { url } });
    // An open handbook counts it in its menu at once.
    for (const client of await self.clients.matchAll({ type: "window" })) client.postMessage({ type: "notice" });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil((async () => {
    for (const client of await self.clients.matchAll({ type: "window" })) {
      if (new URL(client.url).pathname === "/" && "focus" in client) {
        await client.navigate(url);
        return client.focus();
      }
    }
    return self.clients.openWindow(url);
  })());
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
