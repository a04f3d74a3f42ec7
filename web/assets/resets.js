// Quên mật khẩu, the staff side (issue 18): a cell secretary or unit admin
// finds a member of their units by card number and issues a one-time reset
// code, shown large, once, with when it expires (Hanoi time), to hand over in
// person or read out by phone. Issuing another voids the one before. The API
// refuses anyone outside the member's units; the page says so in words.
"use strict";

Sotay.words({
  vi: {
    title: "Cấp mã đặt lại mật khẩu", consoles: "Bàn làm việc",
    find_title: "Tìm đảng viên theo số thẻ",
    find_note: "Dành cho đảng viên không dùng thư điện tử đã quên mật khẩu. Chỉ tìm được đảng viên trong các đơn vị đồng chí phụ trách.",
    find: "Tìm", cell: "Chi bộ", issue: "Cấp mã đặt lại mật khẩu", issuing: "Đang cấp mã…",
    live_code: "Đảng viên này đang có một mã dùng được đến {t}. Cấp mã mới thì mã đó hết hiệu lực.",
    code_title: "Mã đặt lại mật khẩu", for_whom: "Cho đồng chí {n}, số thẻ {c}", valid_until: "Dùng được đến",
    handover: "Trao mã này tận tay, hoặc gọi điện thoại và đọc cho chính đồng chí đảng viên. Không gửi mã qua người khác. "
      + "Mã chỉ dùng được một lần; cấp mã mới thì mã cũ hết hiệu lực. Mã chỉ hiện một lần, trên màn hình này.",
    member_goes: "Đảng viên mở trang “Quên mật khẩu” (/reset), nhập số thẻ, mã này và mật khẩu mới.",
    another: "Tìm đảng viên khác", required: "Đề nghị nhập số thẻ đảng viên.",
    not_found: "Không có tài khoản nào với số thẻ này. Đảng viên cần đăng ký và được phê duyệt trước.",
    outside: "Đảng viên này không thuộc đơn vị đồng chí phụ trách.",
    above: "Tài khoản này giữ vai trò cán bộ: chỉ cấp trên của họ mới cấp mã được.",
    staff: "Đây là tài khoản cán bộ, không cấp mã theo cách này.", disabled: "Tài khoản này đã bị khoá.",
  },
  en: {
    title: "Issue a password reset code", consoles: "Consoles",
    find_title: "Find the member by card number",
    find_note: "For members without e-mail who forgot their password. Only members of the units you look after are found.",
    find: "Find", cell: "Cell", issue: "Issue a reset code", issuing: "Issuing…",
    live_code: "This member has a code valid until {t}. A new code voids it.",
    code_title: "Password reset code", for_whom: "For {n}, card {c}", valid_until: "Valid until",
    handover: "Hand this code over in person, or call the member and read it out to them. Never pass it through "
      + "someone else. It works once; a new code voids it. It is shown once, on this screen.",
    member_goes: "The member opens the “Forgot password” page (/reset) and types the card number, this code and a new password.",
    another: "Find another member", required: "Enter a party card number.",
    not_found: "No account has this card number. The member must register and be approved first.",
    outside: "This member is not in the units you look after.",
    above: "This account holds a staff role: only someone above them can issue a code.",
    staff: "This is a staff account: it is not reset this way.", disabled: "This account is disabled.",
  },
});

const $ = (id) => document.getElementById(id);
let found = null;

// A moment as HH:mm dd/mm/yyyy in Hanoi's time.
function moment(iso) {
  const time = new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    timeZone: "Asia/Ho_Chi_Minh" }).format(new Date(iso));
  return `${time} ${Sotay.date(iso)}`;
}

// The name is a courtesy: the code stays hidden, the dash says unknown.
const unitName = (code) => Sotay.unitName(code).then((name) => name || "—");

// The API's refusal in words for this page (its details are English).
function refusal(err) {
  const reason = ((err.problem && err.problem.errors) || [])[0];
  if (err.status === 404) return Sotay.t("not_found");
  if (err.status === 403) return /above them/.test(err.message) ? Sotay.t("above") : Sotay.t("outside");
  if (err.status === 409) return reason && /disabled/.test(reason.reason) ? Sotay.t("disabled") : Sotay.t("staff");
  return Sotay.explain(err);
}

function show(member, unit) {
  found = member;
  $("m-name").textContent = member.full_name || "—";
  $("m-card").textContent = member.party_card_no;
  $("m-unit").textContent = unit;
  $("m-live").textContent = member.live_code_expires_at
    ? Sotay.t("live_code").replace("{t}", moment(member.live_code_expires_at)) : "";
  $("member").hidden = false;
}

$("find-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").textContent = ""; $("find-card-error").textContent = ""; $("member").hidden = true; found = null;
  const card = $("find-card").value.trim();
  if (!card) { $("find-card-error").textContent = Sotay.t("required"); $("find-card").focus(); return; }
  $("find").disabled = true;
  try {
    const member = await Sotay.json("/api/identity/v1/password-resets/lookup", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ party_card_no: card }) });
    show(member, await unitName(member.unit));
  } catch (err) {
    const field = ((err.problem && err.problem.errors) || []).find((x) => x.field === "party_card_no");
    if (err.status === 422 && field) $("find-card-error").textContent = Sotay.reason(field.reason);
    else $("find-card-error").textContent = refusal(err);
  } finally { $("find").disabled = false; }
});

$("issue-code").addEventListener("click", async () => {
  if (!found) return;
  const button = $("issue-code");
  button.disabled = true; button.textContent = Sotay.t("issuing");
  $("error").textContent = "";
  try {
    // Not Sotay.post: a replayed answer (Idempotency-Key) would have to keep the code; a second
    // click is kept out by the disabled button, and would only void the first code.
    const issued = await Sotay.json(`/api/identity/v1/accounts/${found.account_id}/password-reset-codes`,
                                    { method: "POST" });
    $("for-whom").textContent = Sotay.t("for_whom").replace("{n}", found.full_name || "—")
      .replace("{c}", found.party_card_no);
    $("code").textContent = `${issued.code.slice(0, 4)} ${issued.code.slice(4)}`;
    $("expires").textContent = moment(issued.expires_at);
    $("find-section").hidden = true; $("result").hidden = false;
    $("result").scrollIntoView({ block: "start" });
  } catch (err) { $("error").textContent = refusal(err); }
  finally { button.disabled = false; button.textContent = Sotay.t("issue"); }
});

$("another").addEventListener("click", () => {
  $("code").textContent = ""; $("expires").textContent = "";  // the code leaves the screen
  $("result").hidden = true; $("member").hidden = true; $("find-section").hidden = false;
  $("find-card").value = ""; $("find-card").focus(); found = null;
});

Sotay.start(() => { $("find-section").hidden = false; $("signout").hidden = false; $("find-card").focus(); });
