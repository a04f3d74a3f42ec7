// Shared by every page: the language switch, signing in (identity's token
// endpoint), calls to the APIs, and server-sent events read with fetch
// (EventSource cannot send the Authorization header). No library, nothing
// loaded from elsewhere.
//
// A sign-in lasts: identity keeps its refresh token in an HttpOnly cookie
// that only the token endpoint receives, so no script of the page can read
// it; the short-lived access token lives in this page's memory only and is
// renewed a minute before it expires. A new tab, or the page reloaded,
// renews it from the cookie: a dashboard left open on a wall stays live.
"use strict";

const Sotay = (() => {
  const dictionaries = {};
  let lang = localStorage.getItem("sotay.lang") || "vi";

  // Words every page uses; a page adds its own with words().
  const common = {
    vi: { signin: "Đăng nhập", signout: "Đăng xuất", card: "Số thẻ đảng viên", password: "Mật khẩu",
          offline: "Chưa kết nối", online: "Trực tiếp", saved: "Đã lưu.", cancel: "Huỷ",
          party_card_no: "Số thẻ đảng viên", full_name: "Họ và tên", date_of_birth: "Ngày sinh",
          phone: "Số điện thoại", citizen_id: "Số căn cước", reason: "Lý do", unit: "Đơn vị", file: "Tệp" },
    en: { signin: "Sign in", signout: "Sign out", card: "Party card number", password: "Password",
          offline: "Not connected", online: "Live", saved: "Saved.", cancel: "Cancel",
          party_card_no: "Party card number", full_name: "Full name", date_of_birth: "Date of birth",
          phone: "Phone", citizen_id: "Citizen ID", reason: "Reason", unit: "Unit", file: "File" },
  };

  // The services answer in English (problem+json); the pages say it in the
  // reader's language: the usual field reasons one by one, the rest by status.
  const REASONS_VI = [
    [/^is required.*$/, "cần điền"],
    [/^must be 8 to 12 digits$/, "phải gồm 8 đến 12 chữ số"],
    [/^must be exactly 12 digits$/, "phải gồm đúng 12 chữ số"],
    [/^must start with 0, 84 or \+84$/, "phải bắt đầu bằng 0, 84 hoặc +84"],
    [/^must be a Vietnamese phone number.*$/, "phải là số điện thoại Việt Nam, ví dụ 0912345678"],
    [/^must be 2 to 120 characters$/, "phải dài từ 2 đến 120 ký tự"],
    [/^must not contain digits$/, "không được có chữ số"],
    [/^must contain a letter$/, "phải có chữ cái"],
    [/^must be a valid date written YYYY-MM-DD$/, "phải là ngày hợp lệ, dạng năm-tháng-ngày (1960-05-01)"],
    [/^must be at least (\d+) characters$/, "phải có ít nhất $1 ký tự"],
    [/^must be at most (\d+) characters$/, "không được quá $1 ký tự"],
    [/^is too common; choose another$/, "quá dễ đoán, đề nghị chọn mật khẩu khác"],
    [/^must not be your card or phone number$/, "không được trùng số thẻ hoặc số điện thoại"],
    [/^is in the future$/, "không được là ngày trong tương lai"],
    [/^is not a unit of the registry.*$/, "không phải đơn vị có trong hồ sơ"],
    [/^is outside the units you administer$/, "nằm ngoài các đơn vị đồng chí quản lý"],
    // Feed import: why a source address is refused (when it is added, or as a source's recorded error).
    [/^refused address: (.+) is a (.+) address$/, (_, host, kind) =>
      `địa chỉ bị chặn: ${host} là địa chỉ ${ADDRESS_KINDS_VI[kind] || kind}, không phải Internet công cộng`],
    [/^refused host: (\S+) is not among the allowed feed hosts.*$/, "máy chủ $1 không có trong danh sách nguồn tin được phép"],
    [/^only http and https feeds$/, "chỉ nhận nguồn tin http hoặc https"],
    [/^HTTP (\d+)$/, "máy chủ nguồn tin trả lời lỗi HTTP $1"],
    [/^not an RSS or Atom feed.*$/, "không phải nguồn tin RSS hoặc Atom"],
    [/^too many redirects.*$/, "nguồn tin chuyển hướng quá nhiều lần"],
    [/^larger than (\d+) bytes$/, "nguồn tin lớn quá $1 byte"],
    [/^unreachable: TimeoutError.*$/, "không lấy được nguồn tin: quá thời gian chờ"],
    [/^unreachable: .*$/, "không kết nối được tới máy chủ nguồn tin"],
  ];
  const ADDRESS_KINDS_VI = {
    loopback: "nội bộ của máy chủ (loopback)", private: "mạng riêng", "link-local": "liên kết cục bộ (link-local)",
    "shared (CGNAT)": "dùng chung của nhà mạng (CGNAT)", unspecified: "không xác định", multicast: "multicast",
    reserved: "dành riêng", documentation: "dành cho tài liệu",
  };
  const STATUS_VI = {
    401: "Số thẻ hoặc mật khẩu không đúng, hoặc phiên đăng nhập đã hết.",
    403: "Việc này nằm ngoài các đơn vị đồng chí phụ trách.", 404: "Không tìm thấy.",
    409: "Việc này đã được xử lý trước đó.", 413: "Tệp quá lớn.",
    429: "Đồng chí thao tác quá nhanh, đề nghị thử lại sau ít phút.", 500: "Hệ thống đang gặp sự cố, đề nghị thử lại sau.",
  };
  function reason(text) {
    if (lang !== "vi") return text;
    const known = REASONS_VI.find(([re]) => re.test(text));
    return known ? text.replace(known[0], known[1]) : text;
  }
  function explain(err) {
    const errors = (err.problem && err.problem.errors) || [];
    if (errors.length) return errors.map((x) => `${t(x.field)}: ${reason(x.reason)}`).join("; ");
    const status = err.status >= 500 ? 500 : err.status;
    return (lang === "vi" && STATUS_VI[status]) || err.message;
  }
  function problem(r, answer) {
    const error = new Error(answer.detail || answer.title || r.statusText);
    error.status = r.status; error.problem = answer;
    return error;
  }
  function words(page) { dictionaries.page = page; }
  function t(key) {
    const d = dictionaries.page || {};
    return (d[lang] && d[lang][key]) || (common[lang] && common[lang][key]) || (d.vi && d.vi[key])
      || common.vi[key] || key;
  }

  // The sign-in form every page shows in its (empty) <section id="signin">.
  function signInForm(onSignedIn) {
    const section = document.getElementById("signin");
    section.replaceChildren(el("h2", { "data-t": "signin" }), el("form", { id: "signin-form" },
      el("label", { for: "card", "data-t": "card" }),
      el("input", { id: "card", autocomplete: "username", inputmode: "numeric", required: "" }),
      el("label", { for: "password", "data-t": "password" }),
      el("input", { id: "password", type: "password", autocomplete: "current-password", required: "" }),
      el("p", {}, el("button", { type: "submit", "data-t": "signin" })),
      el("p", { id: "signin-error", class: "error", role: "alert" })));
    section.querySelector("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await signIn(document.getElementById("card").value.trim(), document.getElementById("password").value);
        (document.getElementById("welcome") || section).hidden = true;
        await onSignedIn();
      } catch (err) { document.getElementById("signin-error").textContent = explain(err); }
    });
  }

  // What every page does first: the language switch, signing out, the sign-in
  // form; then the page itself (`onSignedIn`) if the tab already has a token.
  function start(onSignedIn) {
    const lang = document.getElementById("lang");
    lang.value = Sotay.lang;
    lang.addEventListener("change", () => { setLang(lang.value); location.reload(); });
    document.getElementById("signout").addEventListener("click", signOut);
    signInForm(onSignedIn);
    translate();
    renew().then((ok) => {
      if (ok) onSignedIn();
      else (document.getElementById("welcome") || document.getElementById("signin")).hidden = false;
    });
  }
  function setLang(next) { lang = next; localStorage.setItem("sotay.lang", next); document.documentElement.lang = next; }
  function translate(root = document) {
    document.documentElement.lang = lang;
    root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    root.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
  }
  // A date as people here write it: dd/mm/yyyy (an ISO date, or a moment, in Hanoi's time).
  const date = (iso) => new Intl.DateTimeFormat("vi-VN", { day: "2-digit", month: "2-digit", year: "numeric",
    timeZone: "Asia/Ho_Chi_Minh" }).format(new Date(iso.length === 10 ? `${iso}T12:00:00+07:00` : iso));
  const number = (n) => new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB").format(n);
  const percent = (p) => new Intl.NumberFormat(lang === "vi" ? "vi-VN" : "en-GB",
    { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(p) + "%";

  const TOKEN_URL = "/api/identity/v1/token";
  let accessToken = null, renewal = null;
  function token() { return accessToken; }

  // Keep the access token of an answer of the token endpoint, and renew it before it expires.
  function keep(answer) {
    accessToken = answer.access_token;
    clearTimeout(renewal);
    renewal = setTimeout(renew, Math.max(10, (answer.expires_in || 900) - 60) * 1000);
  }

  // A new access token from the refresh cookie (and a new cookie: each is used once). Tabs of
  // the same site renew one at a time, so two never present the same cookie.
  async function renew() {
    const ask = async () => {
      const body = new URLSearchParams({ grant_type: "refresh_token", refresh_delivery: "cookie" });
      const r = await fetch(TOKEN_URL, { method: "POST", body, credentials: "same-origin" }).catch(() => null);
      if (!r || !r.ok) { accessToken = null; return false; }
      keep(await r.json());
      return true;
    };
    return navigator.locks ? navigator.locks.request("sotay-token-renewal", ask) : ask();
  }

  async function signIn(card, password) {
    const body = new URLSearchParams({ grant_type: "password", username: card, password, refresh_delivery: "cookie" });
    const r = await fetch(TOKEN_URL, { method: "POST", body, credentials: "same-origin" });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) throw problem(r, answer);
    keep(answer);
    return answer;
  }

  async function signOut() {
    accessToken = null;
    await fetch(`${TOKEN_URL}/revoke`, { method: "POST", credentials: "same-origin" }).catch(() => null);
    location.reload();
  }

  async function api(path, options = {}, renewed = false) {
    const headers = { ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}), ...(options.headers || {}) };
    const r = await fetch(path, { ...options, headers });
    if (r.status === 401) {
      if (!renewed && await renew()) return api(path, options, true);
      signOut();
      throw new Error("signed out");
    }
    if (!r.ok) throw problem(r, await r.json().catch(() => ({})));
    return r;
  }
  const json = async (path, options) => (await api(path, options)).json();
  // A JSON POST; a retried one (the same click sent twice) is answered once (Idempotency-Key).
  const post = (path, body) => json(path, { method: "POST", body: JSON.stringify(body || {}),
    headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() } });

  async function download(path, filename) {
    const blob = await (await api(path)).blob();
    const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // Server-sent events over fetch: calls onEvent(data) for each `data:` line;
  // reconnects after a pause when the stream ends. Returns a stop function.
  function stream(path, onEvent, onState) {
    let stopped = false, controller = null;
    async function run() {
      while (!stopped) {
        controller = new AbortController();
        try {
          const r = await api(path, { signal: controller.signal, headers: { Accept: "text/event-stream" } });
          onState && onState(true);
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
              const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
              if (data) onEvent(JSON.parse(data));
            }
          }
        } catch (e) { if (stopped) return; }
        onState && onState(false);
        await new Promise((ok) => setTimeout(ok, 2000));
      }
    }
    run();
    return () => { stopped = true; controller && controller.abort(); };
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  return { words, t, translate, setLang, start, explain, reason, get lang() { return lang; }, date, number, percent, token, signIn, signOut,
           api, json, post, download, stream, el };
})();
