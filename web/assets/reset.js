// Quên mật khẩu (issue 18): a member without e-mail sets a new password with
// the one-time code their cell secretary handed over in person or by phone.
// Card number (or phone), the code, the new password twice; each error shows
// under its field in the reader's language and goes once the field changes.
// The page signs nobody in: on success it links to the sign-in.
"use strict";

Sotay.words({
  vi: {
    title: "Đặt lại mật khẩu",
    intro: "Đồng chí quên mật khẩu? Đề nghị liên hệ bí thư chi bộ để được cấp mã đặt lại mật khẩu (8 chữ số), "
      + "trao tận tay hoặc đọc qua điện thoại. Mã chỉ dùng được một lần, trong thời gian ngắn.",
    username: "Số thẻ đảng viên hoặc số điện thoại", code: "Mã đặt lại mật khẩu",
    code_hint: "Gồm 8 chữ số, ví dụ: 1234 5678", new_password: "Mật khẩu mới (ít nhất 8 ký tự)",
    again: "Nhập lại mật khẩu mới", show: "Hiện mật khẩu", submit: "Đặt mật khẩu mới", sending: "Đang gửi…",
    back: "← Trở lại trang đăng nhập", done_title: "Đã đặt mật khẩu mới",
    done_text: "Đồng chí hãy đăng nhập bằng mật khẩu mới. Các phiên đăng nhập cũ trên mọi thiết bị đã kết thúc.",
    to_signin: "Đăng nhập",
    required: "Đề nghị điền mục này.", code_digits: "Mã gồm đúng 8 chữ số.",
    username_bad: "Đề nghị nhập số thẻ đảng viên hoặc số điện thoại.",
    differ: "Hai mật khẩu không giống nhau.",
    code_refused: "Mã không đúng, đã hết hạn hoặc đã được dùng. Đề nghị kiểm tra lại, hoặc nhờ bí thư chi bộ cấp mã mới.",
    too_many: "Đồng chí đã thử quá nhiều lần. Đề nghị thử lại sau {s} giây.",
    busy: "Hệ thống đang bận. Đề nghị thử lại sau {s} giây.",
    failed: "Chưa đặt được mật khẩu mới. Đề nghị thử lại sau ít phút.",
    offline: "Chưa kết nối được tới máy chủ. Đề nghị kiểm tra mạng rồi thử lại.",
    password_is: "Mật khẩu",
  },
  en: {
    title: "Reset your password",
    intro: "Forgot your password? Ask your cell secretary for a reset code (8 digits), handed over in person or "
      + "read out by phone. The code works once, for a short time.",
    username: "Party card number or phone", code: "Reset code",
    code_hint: "8 digits, for example: 1234 5678", new_password: "New password (at least 8 characters)",
    again: "New password again", show: "Show the password", submit: "Set the new password", sending: "Sending…",
    back: "← Back to signing in", done_title: "Your new password is set",
    done_text: "Sign in with your new password. Every earlier sign-in, on every device, has ended.",
    to_signin: "Sign in",
    required: "Please fill this in.", code_digits: "The code is exactly 8 digits.",
    username_bad: "Enter your party card number or your phone number.",
    differ: "The two passwords are not the same.",
    code_refused: "The code is not right, has expired or was already used. Check it, or ask your cell secretary for a new one.",
    too_many: "Too many tries. Please try again in {s} seconds.",
    busy: "The system is busy. Please try again in {s} seconds.",
    failed: "The new password could not be set. Please try again in a few minutes.",
    offline: "The server cannot be reached. Check the connection and try again.",
    password_is: "The password",
  },
});

const $ = (id) => document.getElementById(id);
const FIELDS = { username: "username", code: "code", new_password: "new-password", again: "new-password-again" };
// What is shown, kept as keys and reasons so that switching the language says it again.
let shown = {}, general = null;

function say(value) {
  if (!value) return "";
  if (value.key) return Sotay.t(value.key).replace("{s}", value.s ?? "");
  const text = Sotay.reason(value.reason);  // the common password reasons, in Vietnamese
  return `${Sotay.t("password_is")} ${text}.`;
}
function render() {
  for (const [field, id] of Object.entries(FIELDS)) {
    $(`${id}-error`).textContent = say(shown[field]);
    if (shown[field]) $(id).setAttribute("aria-invalid", "true"); else $(id).removeAttribute("aria-invalid");
  }
  $("error").textContent = say(general);
}
function clear(field) { delete shown[field]; general = null; render(); }

// What the server's problem says, field by field (its reasons are English: they become keys here).
function fromProblem(status, body) {
  const out = {};
  for (const e of body.errors || []) {
    if (e.field === "code") out.code = { key: /8 digits/.test(e.reason) ? "code_digits" : "code_refused" };
    else if (e.field === "username") out.username = { key: "username_bad" };
    else if (e.field === "new_password") out.new_password = out.new_password || { reason: e.reason };
  }
  if (Object.keys(out).length) return { fields: out, general: null };
  const s = body.retry_after || 60;
  if (status === 429) return { fields: {}, general: { key: "too_many", s } };
  if (status === 503) return { fields: {}, general: { key: "busy", s } };
  return { fields: {}, general: { key: "failed" } };
}

function check() {
  const out = {};
  const username = $("username").value.trim(), code = $("code").value.replace(/[\s.\-]/g, "");
  if (!username) out.username = { key: "required" };
  if (!code) out.code = { key: "required" }; else if (!/^\d{8}$/.test(code)) out.code = { key: "code_digits" };
  if (!$("new-password").value) out.new_password = { key: "required" };
  if (!$("new-password-again").value) out.again = { key: "required" };
  else if ($("new-password-again").value !== $("new-password").value) out.again = { key: "differ" };
  return out;
}

$("reset-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  shown = check(); general = null; render();
  const first = Object.keys(FIELDS).find((f) => shown[f]);
  if (first) { $(FIELDS[first]).focus(); return; }
  const button = $("submit");
  button.disabled = true; button.textContent = Sotay.t("sending");
  try {
    const r = await fetch("/api/identity/v1/password-resets", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value.trim(), code: $("code").value,
                             new_password: $("new-password").value }) });
    if (r.ok) {
      $("new-password").value = ""; $("new-password-again").value = ""; $("code").value = "";
      $("reset").hidden = true; $("done").hidden = false; $("to-signin").focus();
      return;
    }
    const answer = fromProblem(r.status, await r.json().catch(() => ({})));
    shown = answer.fields; general = answer.general; render();
    const field = Object.keys(FIELDS).find((f) => shown[f]);
    if (field) $(FIELDS[field]).focus();
  } catch (err) {
    general = { key: "offline" }; render();
  } finally {
    button.disabled = false; button.textContent = Sotay.t("submit");
  }
});

for (const [field, id] of Object.entries(FIELDS)) $(id).addEventListener("input", () => clear(field));
$("show").addEventListener("change", () => {
  for (const id of ["new-password", "new-password-again"]) $(id).type = $("show").checked ? "text" : "password";
});
// The language switch says everything again, in place: what was typed stays.
$("lang").value = Sotay.lang;
$("lang").addEventListener("change", () => { Sotay.setLang($("lang").value); Sotay.translate(); render(); });
Sotay.translate();
