// The consents console (issue 19): a cell secretary or unit admin sees, for a unit of theirs, how
// many members with an account agreed to the current version of the privacy notice, an older
// one, none yet, or withdrew the required purpose (asked for their account to be closed), and how
// many hold each optional purpose, unit by unit below it (a unit opens the ones below it); then
// each member by name with the version, the day (dd/mm/yyyy) and the device they agreed on.
// Units by name, never a code. The API refuses anything outside the caller's units and records
// every read (it shows names).
"use strict";

Sotay.words({
  vi: {
    title: "Sự đồng ý xử lý dữ liệu cá nhân", consoles: "Bàn làm việc", unit_choice: "Đơn vị", up: "← Đơn vị cấp trên",
    note: "Đảng viên có tài khoản trong đơn vị, đã đồng ý với phiên bản nào của Thông báo về xử lý dữ liệu cá nhân và những mục tùy chọn nào. Danh sách có họ tên đảng viên: mỗi lần xem đều được ghi lại.",
    version: "Thông báo hiện hành: phiên bản {v}.", people: "Từng đảng viên", more: "Xem thêm",
    no_accounts: "Chưa có đảng viên nào có tài khoản trong đơn vị này.",
    unit_col: "Đơn vị", accounts: "Có tài khoản", current: "Đồng ý bản hiện hành", older: "Mới đồng ý bản cũ",
    none: "Chưa ghi nhận", closing: "Đề nghị đóng tài khoản", open: "Xem đơn vị này", own: "(đảng viên trực tiếp)",
    agreed: "Đồng ý bản {v} ngày {d}, trên {m}", not_agreed: "Chưa đồng ý bản nào", holding: "Đồng ý “{p}”",
    optional: "Mục tùy chọn đã đồng ý", no_optional: "không", web: "máy tính", mobile: "điện thoại",
    closure: "Đã rút lại mục bắt buộc: đề nghị đóng tài khoản. Đề nghị liên hệ với đồng chí này.",
    outdated: "Chưa đồng ý bản hiện hành", never: "Chưa ghi nhận sự đồng ý (tài khoản lập trước khi có sổ ghi nhận)",
    not_staff: "Trang này dành cho bí thư chi bộ và cán bộ quản trị đơn vị.",
  },
  en: {
    title: "Consent to personal data processing", consoles: "Consoles", unit_choice: "Unit", up: "← Unit above",
    note: "Members with an account in the unit: which version of the privacy notice they agreed to, and which optional purposes. The list holds members' names: each time it is opened is recorded.",
    version: "Current notice: version {v}.", people: "Each member", more: "Show more",
    no_accounts: "No member of this unit has an account yet.",
    unit_col: "Unit", accounts: "With an account", current: "Agreed to the current version", older: "Agreed to an older version only",
    none: "None recorded", closing: "Asked to close the account", open: "Open this unit", own: "(members of the unit itself)",
    agreed: "Agreed to version {v} on {d}, on {m}", not_agreed: "Has agreed to no version", holding: "Agreed to “{p}”",
    optional: "Optional purposes agreed", no_optional: "none", web: "a computer", mobile: "a phone",
    closure: "Withdrew the required purpose: asked for the account to be closed. Please contact them.",
    outdated: "Has not agreed to the current version", never: "No consent recorded (account made before the ledger)",
    not_staff: "This page is for cell secretaries and unit administrators.",
  },
});

const $ = (id) => document.getElementById(id);
const el = Sotay.el, t = Sotay.t;
const STAFF = ["cell_secretary", "unit_admin", "city_admin"];
let notice = null, shown = null, trail = [], cursor = null;

// A unit's name from members' org tree (public); a dash until it arrives, never the code.
const unitName = (code) => Sotay.unitName(code).then((name) => name || "—");
function named(node, code) { node.textContent = "—"; unitName(code).then((n) => { node.textContent = n; }); return node; }
const purposeName = (code) => {
  const p = notice && notice.purposes.find((x) => x.code === code);
  return p ? p.name[Sotay.lang] || p.name.vi : code;
};
const optional = () => notice.purposes.filter((p) => !p.required).map((p) => p.code);

// A unit's counts: how many members with an account stand where, and hold each optional purpose.
function unitItem(u, asked) {
  const counts = [["accounts", u.accounts], ["current", u.current], ["older", u.older], ["none", u.none],
    ["closing", u.closing]].map(([k, n]) => [t(k), n])
    .concat(optional().map((c) => [t("holding").replace("{p}", purposeName(c)), u.purposes[c] || 0]));
  return el("li", { "data-unit": u.unit },
    el("h3", {}, named(el("span"), u.unit), u.unit === asked ? el("span", { class: "muted" }, ` ${t("own")}`) : ""),
    el("dl", { class: "record" }, ...counts.flatMap(([k, n]) => [el("dt", {}, k), el("dd", {}, Sotay.number(n))])),
    u.unit === asked ? "" : el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => down(u.unit) },
      t("open"))));
}

// A member: name and cell, the version and day they agreed (dd/mm/yyyy) and on what, their optional purposes,
// and what needs doing (a request to close the account, a version still to agree to).
function memberItem(m, current) {
  const remark = m.closure_requested ? t("closure") : !m.notice_version ? t("never")
    : m.notice_version !== current ? t("outdated") : "";
  return el("li", { "data-account": m.account_id },
    el("p", {}, el("strong", {}, m.full_name || "—"), " · ", named(el("span"), m.unit)),
    el("p", {}, m.notice_version ? t("agreed").replace("{v}", m.notice_version).replace("{d}", Sotay.date(m.given_at))
      .replace("{m}", t(m.method)) : t("not_agreed")),
    el("p", { class: "muted" }, `${t("optional")}: ${m.purposes.map(purposeName).join(", ") || t("no_optional")}`),
    remark ? el("p", { class: m.closure_requested ? "error" : "warn" }, remark) : "");
}

async function show(unit, { again = false } = {}) {
  $("error").textContent = "";
  const answer = await Sotay.json(`/api/identity/v1/consents?unit=${encodeURIComponent(unit)}`
    + (again && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
  cursor = answer.next_cursor;
  if (!again) {
    shown = unit;
    named($("unit-title"), unit);
    $("version").textContent = t("version").replace("{v}", answer.notice_version);
    $("up").hidden = trail.length === 0;
    $("units").replaceChildren(...answer.units.map((u) => unitItem(u, unit)));
    $("members").replaceChildren();
  }
  $("members").append(...answer.items.map((m) => memberItem(m, answer.notice_version)));
  $("none").hidden = $("members").children.length > 0;
  $("more").hidden = !cursor;
  $("overview").hidden = false; $("people").hidden = false;
}

function down(unit) { trail.push(shown); show(unit).catch(failed); }
function failed(err) { $("error").textContent = Sotay.explain(err); }

$("up").addEventListener("click", () => show(trail.pop()).catch(failed));
$("more").addEventListener("click", () => show(shown, { again: true }).catch(failed));
$("unit").addEventListener("change", () => { trail = []; show($("unit").value).catch(failed); });

async function start() {
  $("signout").hidden = false;
  try {
    const [me, current] = await Promise.all([Sotay.json("/api/identity/v1/me"),
      Sotay.json("/api/identity/v1/privacy-notice")]);
    notice = current;
    const units = [...new Set(me.roles.filter((g) => STAFF.includes(g.role)).map((g) => g.unit))];
    if (!units.length) { $("error").textContent = t("not_staff"); return; }
    $("unit").replaceChildren(...units.map((u) => named(el("option", { value: u }), u)));
    $("unit-choice").hidden = units.length < 2;
    await show(units[0]);
  } catch (err) { failed(err); }
}

Sotay.start(start);
