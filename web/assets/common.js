// Shared by every page: the language switch, signing in (identity's token
// endpoint), calls to the APIs and files they answer. No library, nothing
// loaded from elsewhere. (The dashboard reads its server-sent events itself:
// web/assets/dashboard.js follow().)
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
          skip: "Bỏ qua, đến nội dung chính", forgot: "Quên mật khẩu?", menu: "Trình đơn", field: "Thông tin", invalid_reason: "chưa hợp lệ",
          session_ended_keep: "Phiên đăng nhập đã hết. Đề nghị đồng chí đăng nhập lại; những gì đồng chí đang nhập vẫn được giữ nguyên.",
          signed_in_again: "Đồng chí đã đăng nhập lại. Đề nghị bấm gửi lại.",
          date_hint: "Ngày/tháng/năm, ví dụ 01/05/1960", date_placeholder: "ngày/tháng/năm",
          offline: "Chưa kết nối", online: "Trực tiếp", saved: "Đã lưu.", cancel: "Huỷ", consoles: "Bàn làm việc",
          party_card_no: "Số thẻ đảng viên", full_name: "Họ và tên", date_of_birth: "Ngày sinh",
          phone: "Số điện thoại", citizen_id: "Số căn cước", reason: "Lý do", unit: "Đơn vị", file: "Tệp" },
    en: { signin: "Sign in", signout: "Sign out", card: "Party card number", password: "Password",
          skip: "Skip to the main content", forgot: "Forgot your password?", menu: "Menu", field: "A detail", invalid_reason: "is not valid",
          session_ended_keep: "Your session has ended. Please sign in again; what you were typing is kept.",
          signed_in_again: "You are signed in again. Please press send again.",
          date_hint: "Day/month/year, e.g. 01/05/1960", date_placeholder: "dd/mm/yyyy",
          offline: "Not connected", online: "Live", saved: "Saved.", cancel: "Cancel", consoles: "Consoles",
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
    [/^must be a real date written day\/month\/year.*$/, "phải là ngày có thật, viết ngày/tháng/năm (ví dụ 01/05/1960)"],
    [/^cannot be corrected by a request$/, "không sửa được bằng đề nghị"],
    [/^must propose at least one field$/, "cần đề nghị sửa ít nhất một thông tin"],
    [/^Field required$/, "cần điền"],
    [/^String should have at least (\d+) characters?$/, "phải có ít nhất $1 ký tự"],
    [/^String should have at most (\d+) characters?$/, "không được quá $1 ký tự"],
    [/^must be at least (\d+) characters$/, "phải có ít nhất $1 ký tự"],
    [/^must be at most (\d+) characters$/, "không được quá $1 ký tự"],
    [/^is too common; choose another$/, "quá dễ đoán, đề nghị chọn mật khẩu khác"],
    [/^must not be your card or phone number$/, "không được trùng số thẻ hoặc số điện thoại"],
    [/^is in the future$/, "không được là ngày trong tương lai"],
    [/^is not a unit of the registry.*$/, "không phải đơn vị có trong hồ sơ"],
    [/^is outside the units you administer$/, "nằm ngoài các đơn vị đồng chí quản lý"],
    [/^a member who is \S+ cannot be transferred$/, "không còn sinh hoạt nên không chuyển sinh hoạt được"],
    // The privacy notice and consents (identity, issue 19).
    [/^must include the required purpose: .*$/, "cần đánh dấu đồng ý mục bắt buộc này thì mới lập được tài khoản"],
    [/^is not the current notice.*$/, "thông báo đã được cập nhật: đề nghị đọc bản mới và đánh dấu lại"],
    [/^is not a purpose of the notice: .*$/, "không có trong thông báo"],
    [/^is already given: .*$/, "đồng chí đã đồng ý mục này rồi"],
    [/^was not given: .*$/, "đồng chí chưa đồng ý mục này"],
    // Cell meetings (content, issue 20): a meeting planned, who came, its minutes.
    [/^is in the past$/, "đã qua, đề nghị chọn ngày giờ sắp tới"],
    [/^\S+ is not a party cell$/, "không phải là chi bộ"],
    [/^\S+ is not a member of this cell$/, "có người không phải đảng viên của chi bộ"],
    [/^\S+ is marked present$/, "một đồng chí vừa được đánh dấu có mặt vừa có lý do vắng"],
    [/^\S+: the reason is empty$/, "lý do vắng còn để trống"],
    [/^\S+ is not a document of the library$/, "không có trong thư viện tài liệu mà đồng chí xem được"],
    [/^must be one of (\.\w+(, )?)+$/, "phải là tệp PDF, Word, Excel, ODT, văn bản hoặc ảnh (PNG, JPG)"],
    [/^is empty$/, "còn để trống"],
    [/^is larger than (\d+) MB$/, "lớn quá $1 MB"],
    [/^cannot be in the future$/, "không được là ngày trong tương lai"],
    // Study topics and their quiz (content, issue 20).
    [/^needs at least one question$/, "cần ít nhất một câu hỏi"],
    [/^needs (\d+) to (\d+) options$/, "cần từ $1 đến $2 phương án"],
    [/^holds the same option twice$/, "có hai phương án giống nhau"],
    [/^must be the number of one of its options.*$/, "cần đánh dấu một phương án đúng"],
    [/^\S+ is outside the author unit's subtree$/, "có đơn vị nằm ngoài đơn vị đăng tin"],
    [/^\S+ is not a unit$/, "có đơn vị không có trong hệ thống"],
    [/^needs at least one unit.*$/, "cần chọn ít nhất một đơn vị"],
    [/^needs one answer for each of the (\d+) questions$/, "cần trả lời đủ $1 câu hỏi"],
    [/^List should have at least (\d+) items?.*$/, "cần ít nhất $1 mục"],
    [/^List should have at most (\d+) items?.*$/, "không được quá $1 mục"],
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
  // A problem's stable `code` (kit Problem.code) said in the reader's language; `{n}` is its retry_after.
  const CODES = {
    vi: {
      bad_credentials: "Số thẻ (hoặc số điện thoại) hoặc mật khẩu không đúng.",
      registration_not_found: "Không tìm thấy đăng ký nào với số thẻ và mật khẩu này.",
      session_ended: "Phiên đăng nhập đã hết, đề nghị đồng chí đăng nhập lại.",
      unauthenticated: "Phiên đăng nhập đã hết, đề nghị đồng chí đăng nhập lại.",
      rate_limited: "Đồng chí đã thử quá nhiều lần. Đề nghị thử lại sau {n} giây.",
      rate_limited_later: "Đồng chí đã thử quá nhiều lần. Đề nghị thử lại sau ít phút.",
      busy: "Hệ thống đang bận, đề nghị thử lại sau {n} giây.",
      in_progress: "Yêu cầu trước của đồng chí đang được xử lý, đề nghị chờ giây lát.",
      invalid: "Thông tin chưa hợp lệ, đề nghị kiểm tra lại.",
      meeting_not_started: "Buổi sinh hoạt chưa bắt đầu: ghi nhận được khi buổi sinh hoạt đã bắt đầu.",
      network: "Chưa kết nối được tới máy chủ. Đề nghị kiểm tra mạng rồi thử lại; những gì đồng chí đã nhập vẫn được giữ.",
      error: "Chưa thực hiện được, đề nghị thử lại sau.",
    },
    en: {
      bad_credentials: "The card number, phone or password is not right.",
      registration_not_found: "No registration matches this card number and password.",
      session_ended: "Your session has ended; please sign in again.",
      unauthenticated: "Your session has ended; please sign in again.",
      rate_limited: "Too many attempts. Please try again in {n} seconds.",
      rate_limited_later: "Too many attempts. Please try again in a few minutes.",
      busy: "The system is busy; please try again in {n} seconds.",
      in_progress: "Your earlier request is still being handled; please wait a moment.",
      invalid: "Some details are not valid; please check them.",
      meeting_not_started: "The meeting has not started: it is recorded once it has started.",
      network: "Cannot reach the server. Check the connection and try again; what you typed is kept.",
      error: "That did not work; please try again later.",
    },
  };
  const STATUS_VI = {
    401: "Số thẻ hoặc mật khẩu không đúng, hoặc phiên đăng nhập đã hết.",
    403: "Việc này nằm ngoài các đơn vị đồng chí phụ trách.", 404: "Không tìm thấy.",
    409: "Việc này đã được xử lý trước đó.", 413: "Tệp quá lớn.",
    429: "Đồng chí thao tác quá nhanh, đề nghị thử lại sau ít phút.", 500: "Hệ thống đang gặp sự cố, đề nghị thử lại sau.",
  };
  // A server's field reason in the reader's language; in Vietnamese a reason not known here is
  // said as "chưa hợp lệ", never in English.
  function reason(text) {
    if (lang !== "vi") return text;
    const known = REASONS_VI.find(([re]) => re.test(text));
    return known ? text.replace(known[0], known[1]) : t("invalid_reason");
  }
  // A field's name as the reader knows it ("changes.phone" is the phone); an unknown one is "Thông tin".
  function fieldName(field) {
    const key = String(field || "").replace(/^changes\./, "");
    const said = t(key);
    return said === key && lang === "vi" ? t("field") : said;
  }
  // What to tell a person about a failed call: each field and its reason, else the problem's
  // stable code, else its status, in the reader's language. The English `title`/`detail` of a
  // problem reaches only an English page, and only when no code is known.
  function explain(err) {
    const errors = (err.problem && err.problem.errors) || [];
    if (errors.length) return errors.map((x) => `${fieldName(x.field)}: ${reason(x.reason)}`).join("; ");
    const code = err.code || (err.problem && err.problem.code);
    const n = err.problem && err.problem.retry_after;
    const said = CODES[lang] || CODES.vi;
    if (code === "rate_limited" && !n) return said.rate_limited_later;
    if (code && said[code]) return said[code].replace("{n}", n || "");
    const status = err.status >= 500 ? 500 : err.status;
    if (lang === "vi") return STATUS_VI[status] || said.error;
    return err.message || said.error;
  }
  function problem(r, answer) {
    const error = new Error(answer.detail || answer.title || r.statusText);
    error.status = r.status; error.problem = answer; error.code = answer.code;
    return error;
  }
  function failure(code) { const error = new Error(code); error.code = code; return error; }
  // fetch, with a lost connection said as the `network` problem (not the browser's English).
  async function send(url, options) {
    try { return await fetch(url, options); } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw failure("network");
    }
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
      options.reset ? el("p", {}, el("a", { href: options.reset, class: "target", id: "forgot", "data-t": "forgot" })) : "",
      el("p", { id: "signin-note", class: "notice", role: "status" }),
      el("p", { id: "signin-error", class: "error", role: "alert" })));
    const form = section.querySelector("form");
    sending(form, async () => {
      document.getElementById("signin-error").textContent = "";
      document.getElementById("signin-note").textContent = "";
      const card = document.getElementById("card").value.trim(), password = document.getElementById("password").value;
      try {
        await signIn(card, password);
      } catch (err) {
        // A page may say more about a refused sign-in (the handbook: a registration still waiting).
        const said = options.refused && err.code === "bad_credentials" ? await options.refused(card, password, err) : null;
        throw said ? Object.assign(failure("said"), { said }) : err;
      }
      document.getElementById("password").value = "";
      section.hidden = true;
      const welcome = document.getElementById("welcome");
      if (welcome) welcome.hidden = true;
      if (signedInOnce) {  // the session had ended: the page, and what was typed in it, is still there
        const note = document.getElementById("session-note");
        if (note) note.textContent = t("signed_in_again");
        return;
      }
      signedInOnce = true;
      await onSignedIn();
    }, (err) => {  // where a registration stands is news, not an error: said as a notice
      document.getElementById("signin-note").textContent = err.said || "";
      document.getElementById("signin-error").textContent = err.said ? "" : explain(err);
    });
  }

  // A form sent once per submission: its buttons are disabled while it is sent, and it keeps one
  // Idempotency-Key (given to `submit`) from its first try until one succeeds or the form is
  // changed, so a double tap or a retry after a lost answer is done once. `failed(err)` says why not.
  function sending(form, submit, failed) {
    let key = null;
    const changed = () => { key = null; };
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      key = key || crypto.randomUUID();
      const buttons = [...form.querySelectorAll("button")];
      form.setAttribute("aria-busy", "true");
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await submit(key);
        key = null;
      } catch (err) {
        if (failed) failed(err); else throw err;
      } finally {
        form.removeAttribute("aria-busy");
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  // Errors next to their fields: each problem error whose field `inputOf(field)` finds is shown
  // under that input (in the reader's language) until the input is changed.
  function showFieldErrors(form, err, inputOf) {
    clearFieldErrors(form);
    const errors = (err && err.problem && err.problem.errors) || [];
    for (const x of errors) {
      const input = inputOf(x.field);
      if (!input) continue;
      fieldError(input, reason(x.reason));
    }
  }
  // A checkbox inside its label has the note after the label, not between the box and its words.
  function fieldError(input, text) {
    const id = `${input.id}-error`;
    let note = document.getElementById(id);
    if (!note) {
      note = el("p", { id, class: "field-error error" });
      (input.closest("label") || input).after(note);
      input.addEventListener("input", () => { note.remove(); input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby"); }, { once: true });
    }
    note.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
  }
  function clearFieldErrors(form) {
    form.querySelectorAll(".field-error").forEach((n) => n.remove());
    form.querySelectorAll("[aria-invalid]").forEach((i) => { i.removeAttribute("aria-invalid"); i.removeAttribute("aria-describedby"); });
  }

  // A date typed as people here write it, dd/mm/yyyy (or d/m/yyyy, with / . or -; an ISO date
  // is taken too), as the ISO date the APIs take; null when it is no real date.
  function isoDate(typed) {
    const text = String(typed || "").trim();
    let m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(text), y, mo, d;
    if (m) [, d, mo, y] = m.map(Number);
    else if ((m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text))) [, y, mo, d] = m.map(Number);
    else return null;
    const at = new Date(Date.UTC(y, mo - 1, d));
    if (at.getUTCFullYear() !== y || at.getUTCMonth() !== mo - 1 || at.getUTCDate() !== d) return null;
    return `${String(y).padStart(4, "0")}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  }
  // A phone as people write it: +84971102705 → 0971 102 705.
  function phone(value) {
    if (!value) return "";
    let digits = String(value).replace(/[^\d+]/g, "");
    if (digits.startsWith("+84")) digits = "0" + digits.slice(3);
    else if (digits.startsWith("84") && digits.length === 11) digits = "0" + digits.slice(2);
    if (!/^0\d{9}$/.test(digits)) return String(value).includes("*") ? String(value) : digits;
    return `${digits.slice(0, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}`;
  }

  // The session ended (its renewal refused): say so above the page and offer the sign-in form
  // again, without reloading: what was being typed stays where it was.
  function sessionEnded() {
    accessToken = null;
    const section = document.getElementById("signin");
    if (!section) return;
    section.hidden = false;
    const note = document.getElementById("session-note") || document.getElementById("signin-note");
    if (note) note.textContent = t("session_ended_keep");
    section.scrollIntoView({ block: "start" });
  }

  // What every page does first: the language switch, signing out, the sign-in
  // form; then the page itself (`onSignedIn`) if the tab already has a token.
  // `options.language()`, when a page gives it, redraws the page in the new language in place
  // (what was typed stays); without it the page is reloaded in it. `options.refused(card,
  // password, err)` may say more about a refused sign-in (a sentence, or null).
  let signedInOnce = false, options = {};
  function start(onSignedIn, pageOptions = {}) {
    options = pageOptions;
    const lang = document.getElementById("lang");
    lang.value = Sotay.lang;
    lang.addEventListener("change", () => {
      setLang(lang.value);
      if (!options.language) { location.reload(); return; }
      translate();
      options.language();
    });
    document.getElementById("signout").addEventListener("click", signOut);
    signInForm(onSignedIn);
    translate();
    const showSignIn = () => {
      document.getElementById("signin").hidden = false;
      const welcome = document.getElementById("welcome");
      if (welcome) welcome.hidden = false;
    };
    // A page that keeps something to read on this device shows it to a browser signed in when last
    // seen (options.kept(why), true when there is some): at once, "updating" while the sign-in is
    // renewed, and "offline_reading" while there is no connection, signing in by itself once it is
    // back. A browser signed out is shown nothing kept.
    const signedInBefore = localStorage.getItem(SIGNED_IN) === "1";
    const kept = (why) => (signedInBefore && options.kept ? options.kept(why) : false);
    if (!signedInBefore) showSignIn();  // most likely signed out: no need to wait
    const shown = kept("updating");
    renew().then(async (ok) => {
      await shown;  // drawn first, so that what follows replaces it
      if (ok) {
        document.getElementById("signin").hidden = true;
        const welcome = document.getElementById("welcome");
        if (welcome) welcome.hidden = true;
        signedInOnce = true; onSignedIn(); return;
      }
      if (ok === null && await kept("offline_reading")) {
        window.addEventListener("online", async function back() {
          if (await renew()) { window.removeEventListener("online", back); signedInOnce = true; onSignedIn(); }
        });
        return;
      }
      if (await shown) options.kept(null);  // the session ended: the sign-in form replaces what was kept,
      if (typeof SotayApp !== "undefined") SotayApp.forget();  // and the device forgets it
      showSignIn();
    });
  }
  function setLang(next) { lang = next; localStorage.setItem("sotay.lang", next); document.documentElement.lang = next; }
  function translate(root = document) {
    document.documentElement.lang = lang;
    root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    root.querySelectorAll("[data-t-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.tPlaceholder); });
    root.querySelectorAll("[data-t-label]").forEach((el) => { el.setAttribute("aria-label", t(el.dataset.tLabel)); });
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
  // Whether this browser was signed in when last seen (no secret: the refresh token is in the
  // HttpOnly cookie). Without it the sign-in form shows at once, not after asking the token
  // endpoint, a round trip that takes seconds on a slow phone connection.
  const SIGNED_IN = "sotay.signedIn";
  function keep(answer) {
    accessToken = answer.access_token;
    localStorage.setItem(SIGNED_IN, "1");
    clearTimeout(renewal);
    renewal = setTimeout(renew, Math.max(10, (answer.expires_in || 900) - 60) * 1000);
  }

  // A new access token from the refresh cookie (and a new cookie: each is used once). Tabs of
  // the same site renew one at a time, so two never present the same cookie.
  async function renew() {
    const ask = async () => {
      const body = new URLSearchParams({ grant_type: "refresh_token", refresh_delivery: "cookie" });
      const r = await fetch(TOKEN_URL, { method: "POST", body, credentials: "same-origin" }).catch(() => null);
      if (!r) return null;  // no connection (null, not false): the token may still be good; the next call tells
      if (!r.ok) { accessToken = null; localStorage.removeItem(SIGNED_IN); return false; }
      keep(await r.json());
      return true;
    };
    return navigator.locks ? navigator.locks.request("sotay-token-renewal", ask) : ask();
  }

  async function signIn(card, password) {
    const body = new URLSearchParams({ grant_type: "password", username: card, password, refresh_delivery: "cookie" });
    const r = await send(TOKEN_URL, { method: "POST", body, credentials: "same-origin" });
    const answer = await r.json().catch(() => ({}));
    if (!r.ok) throw problem(r, answer);
    keep(answer);
    return answer;
  }

  async function signOut() {
    if (typeof SotayPush !== "undefined") await SotayPush.disable();  // this device is no longer told of this member's notices
    accessToken = null;
    localStorage.removeItem(SIGNED_IN);
    if (typeof SotayApp !== "undefined") SotayApp.forget();  // what the installed handbook kept for reading offline
    await fetch(`${TOKEN_URL}/revoke`, { method: "POST", credentials: "same-origin" }).catch(() => null);
    location.reload();
  }

  async function api(path, options = {}, renewed = false) {
    const headers = { ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}), ...(options.headers || {}) };
    const r = await send(path, { ...options, headers });
    if (r.status === 401) {
      if (!renewed && await renew()) return api(path, options, true);
      sessionEnded();
      throw failure("session_ended");
    }
    if (!r.ok) throw problem(r, await r.json().catch(() => ({})));
    return r;
  }
  const json = async (path, options) => (await api(path, options)).json();

  // Units by name, never by code: members' org tree is public, and each unit is asked for once per
  // page. orgUnit gives the promise of the unit (null when it cannot be had: asked again next time),
  // unitName the promise of its name, knownUnitName the name at once if it has arrived already.
  const orgUnits = new Map();
  const knownNames = new Map();
  function orgUnit(code) {
    if (!code) return Promise.resolve(null);
    if (!orgUnits.has(code)) {
      orgUnits.set(code, json(`/api/members/v1/org-units/${encodeURIComponent(code)}`)
        .then((u) => { knownNames.set(code, u.name); return u; })
        .catch(() => { orgUnits.delete(code); return null; }));
    }
    return orgUnits.get(code);
  }
  const unitName = (code) => orgUnit(code).then((u) => (u ? u.name : null));
  const knownUnitName = (code) => knownNames.get(code);
  // A JSON POST; a retried one is answered once (Idempotency-Key). `key` is the submission's own
  // (sending() keeps one per form submission); without one, each call is its own submission.
  const post = (path, body, key) => json(path, { method: "POST", body: JSON.stringify(body || {}),
    headers: { "Content-Type": "application/json", "Idempotency-Key": key || crypto.randomUUID() } });

  // A file the API answers (to a GET, or to the request `options` describe), saved under the name
  // the server gives it (Content-Disposition), else `filename`.
  async function download(path, filename, options = {}) {
    const r = await api(path, options);
    const named = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
    const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await r.blob()),
      download: named ? named[1] : filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
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
           api, json, post, download, orgUnit, unitName, knownUnitName, el, sending, showFieldErrors, fieldError, clearFieldErrors, isoDate, phone };
})();
