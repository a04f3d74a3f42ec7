// The approval console (cell secretaries and unit admins): the registrations
// waiting in the caller's subtree with what matching the registry found,
// approve one or many, reject with a reason. The API refuses anything outside
// the caller's units; the page shows its answer.
"use strict";

Sotay.words({
  vi: {
    title: "Phê duyệt tài khoản", dashboard: "Theo dõi triển khai",
    queue: "Đăng ký chờ phê duyệt trong đơn vị của đồng chí", overdue_only: "Chỉ đăng ký quá hạn",
    approve_selected: "Phê duyệt các đăng ký đã chọn", reload: "Tải lại", select: "Chọn",
    submitted: "Ngày đăng ký", name: "Họ và tên", born: "Ngày sinh", platform: "Thiết bị", unit: "Chi bộ",
    match: "Đối chiếu", actions: "Xử lý", approve: "Phê duyệt", reject: "Từ chối", reason: "Lý do từ chối",
    confirm_reject: "Xác nhận từ chối", overdue: "Quá hạn", web: "Máy tính", mobile: "Điện thoại",
    matched: "Khớp hồ sơ", not_in_registry: "Không có trong hồ sơ", details_differ: "Thông tin không khớp",
    already_registered: "Đã có tài khoản", not_eligible: "Không đủ điều kiện", empty: "Không có đăng ký nào chờ phê duyệt.",
    approved_n: "Đã phê duyệt", refused_n: "không phê duyệt được",
    given: "Người đăng ký khai", on_record: "Hồ sơ đảng viên", differs: "khác", unknown: "chưa rõ",
  },
  en: {
    title: "Account approval", dashboard: "Rollout dashboard",
    queue: "Registrations waiting in your units", overdue_only: "Overdue only",
    approve_selected: "Approve the selected registrations", reload: "Reload", select: "Select",
    submitted: "Submitted", name: "Full name", born: "Born", platform: "Device", unit: "Cell",
    match: "Registry check", actions: "Decision", approve: "Approve", reject: "Reject", reason: "Reason",
    confirm_reject: "Confirm rejection", overdue: "Overdue", web: "Computer", mobile: "Phone",
    matched: "Matches the record", not_in_registry: "Not in the registry", details_differ: "Details differ",
    already_registered: "Already has an account", not_eligible: "Not eligible", empty: "Nothing is waiting.",
    approved_n: "Approved", refused_n: "could not be approved",
    given: "Registrant's details", on_record: "Member's record", differs: "differs", unknown: "not known",
  },
});

const $ = (id) => document.getElementById(id);
const day = (iso) => Sotay.date(iso);

async function act(path, body) {
  $("error").textContent = "";
  return Sotay.post(path, body);
}

// The registrant's details beside the record's, field by field, the differing ones marked;
// phones show only their last digits, on both sides.
function comparison(r) {
  if (!r.comparison || r.match_result === "matched") return "";
  const show = (field, value) => value == null ? Sotay.t("unknown") : field === "date_of_birth" ? day(value) : value;
  return Sotay.el("table", { class: "comparison" },
    Sotay.el("tr", {}, Sotay.el("th", {}, ""), Sotay.el("th", {}, Sotay.t("given")), Sotay.el("th", {}, Sotay.t("on_record"))),
    ...r.comparison.map((c) => Sotay.el("tr", { class: c.same ? "" : "differs", "data-field": c.field },
      Sotay.el("th", {}, Sotay.t(c.field) + (c.same ? "" : ` (${Sotay.t("differs")})`)),
      Sotay.el("td", {}, show(c.field, c.given)), Sotay.el("td", {}, show(c.field, c.registry)))));
}

function row(r) {
  const reasons = (r.match_reasons || []).join("; ");
  const reject = Sotay.el("form", { class: "reject", hidden: "" },
    Sotay.el("label", { for: `reason-${r.id}` }, Sotay.t("reason")),
    Sotay.el("input", { id: `reason-${r.id}`, required: "", maxlength: "1000" }),
    Sotay.el("button", { type: "submit" }, Sotay.t("confirm_reject")));
  reject.addEventListener("submit", async (e) => {
    e.preventDefault();
    try { await act(`/api/identity/v1/registrations/${r.id}/reject`, { reason: $(`reason-${r.id}`).value }); load(); }
    catch (err) { $("error").textContent = Sotay.explain(err); }
  });
  const approve = Sotay.el("button", { class: "approve", onclick: async () => {
    try { await act(`/api/identity/v1/registrations/${r.id}/approve`); load(); }
    catch (err) { $("error").textContent = Sotay.explain(err); }
  } }, Sotay.t("approve"));
  const showReject = Sotay.el("button", { class: "secondary", onclick: () => { reject.hidden = false; } }, Sotay.t("reject"));
  return Sotay.el("tr", { "data-id": r.id, "data-card": r.party_card_no, class: r.overdue ? "behind" : "" },
    Sotay.el("td", {}, Sotay.el("input", { type: "checkbox", class: "pick", value: r.id, "aria-label": Sotay.t("select") })),
    Sotay.el("td", {}, `${r.full_name} (${r.party_card_no})`),
    Sotay.el("td", {}, day(r.submitted_at), r.overdue ? ` — ${Sotay.t("overdue")}` : ""),
    Sotay.el("td", { class: "hide-narrow" }, day(r.date_of_birth)),
    Sotay.el("td", { class: "hide-narrow" }, Sotay.t(r.platform)),
    Sotay.el("td", {}, r.unit || "—"),
    Sotay.el("td", { class: "match" }, Sotay.t(r.match_result), comparison(r),
      reasons && !r.comparison ? Sotay.el("div", { class: "muted" }, reasons) : ""),
    Sotay.el("td", {}, Sotay.el("div", { class: "actions" }, approve, showReject), reject));
}

async function load() {
  $("queue").hidden = false; $("signout").hidden = false;
  const overdue = $("overdue").checked ? "&overdue=true" : "";
  try {
    const { items } = await Sotay.json(`/api/identity/v1/registrations?status=pending&limit=500${overdue}`);
    $("registrations").tHead.replaceChildren(Sotay.el("tr", {},
      ...["select", "name", "submitted", "born", "platform", "unit", "match", "actions"].map((k) =>
        Sotay.el("th", { class: k === "born" || k === "platform" ? "hide-narrow" : "" }, Sotay.t(k)))));
    $("registrations").tBodies[0].replaceChildren(...(items.length ? items.map(row)
      : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "8" }, Sotay.t("empty")))]));
  } catch (err) { $("error").textContent = Sotay.explain(err); $("registrations").tBodies[0].replaceChildren(); }
}

$("approve-selected").addEventListener("click", async () => {
  const ids = [...document.querySelectorAll(".pick:checked")].map((c) => c.value);
  if (!ids.length) return;
  try {
    const { results, approved } = await act("/api/identity/v1/registrations/approve", { ids });
    const refused = results.length - approved;
    $("done").textContent = `${Sotay.t("approved_n")}: ${approved}` + (refused ? `; ${refused} ${Sotay.t("refused_n")}` : "");
  } catch (err) { $("error").textContent = Sotay.explain(err); }
  load();
});
$("reload").addEventListener("click", load);
$("overdue").addEventListener("change", load);
Sotay.start(load);
