// The approval console (cell secretaries and unit admins): the registrations
// waiting in the caller's subtree with what matching the registry found and
// the registrant's details beside the record's; filter them (match, cell,
// age, on the server), approve one or many, reject with a reason. Each
// decision is confirmed where it happened: a toast, and the row showing its
// new state (a refused one with its reason). The API refuses anything outside
// the caller's units; the page shows its answer.
"use strict";

Sotay.words({
  vi: {
    title: "Phê duyệt tài khoản", dashboard: "Theo dõi triển khai",
    queue: "Đăng ký chờ phê duyệt trong đơn vị của đồng chí", filters: "Lọc danh sách",
    filter_match: "Kết quả đối chiếu", filter_unit: "Chi bộ", filter_age: "Thời gian chờ", all: "Tất cả",
    age_recent: "Gửi trong 3 ngày qua", age_week: "Chờ quá 7 ngày", age_overdue: "Quá hạn phê duyệt",
    select_matched: "Chọn tất cả đăng ký khớp hồ sơ", selected_n: "Đã chọn đăng ký khớp hồ sơ:",
    approve_selected: "Phê duyệt các đăng ký đã chọn", reload: "Tải lại", select: "Chọn",
    submitted: "Ngày đăng ký", name: "Họ và tên", born: "Ngày sinh", platform: "Thiết bị", unit: "Chi bộ",
    match: "Đối chiếu hồ sơ", actions: "Xử lý", state: "Tình trạng", approve: "Phê duyệt", reject: "Từ chối",
    reason: "Lý do từ chối", confirm_reject: "Xác nhận từ chối", overdue: "Quá hạn",
    escalated: "Chờ quá hạn, đã chuyển lên {unit} ngày {day}", web: "Máy tính", mobile: "Điện thoại",
    matched: "Khớp hồ sơ", not_in_registry: "Không có trong hồ sơ", details_differ: "Thông tin không khớp",
    already_registered: "Trùng hoặc đã có tài khoản", has_account: "Đã có tài khoản",
    duplicate: "Đăng ký trùng: thẻ này đã có một đăng ký khác", not_eligible: "Không đủ điều kiện",
    empty: "Không có đăng ký nào chờ phê duyệt.", empty_filtered: "Không có đăng ký nào đúng điều kiện lọc.",
    approved_n: "Đã phê duyệt", refused_n: "không phê duyệt được", none_selected: "Đồng chí chưa chọn đăng ký nào.",
    given: "Người đăng ký khai", on_record: "Hồ sơ đảng viên", differs: "khác", unknown: "chưa rõ", agrees: "Khớp", disagrees: "Không khớp",
    pending: "Chờ phê duyệt", approved: "Đã phê duyệt", rejected: "Đã từ chối", refused: "Không phê duyệt được",
    toast_approved: "Đã phê duyệt đăng ký của", toast_rejected: "Đã từ chối đăng ký của",
    mismatch_ask: "Thông tin người đăng ký khai không khớp hồ sơ. Đồng chí đã kiểm tra trực tiếp với người đăng ký và vẫn phê duyệt?",
    approve_anyway: "Đã kiểm tra, vẫn phê duyệt", refused_list: "Các đăng ký không phê duyệt được và lý do:",
    code_not_matched: "Thông tin không khớp hồ sơ: đề nghị xem và phê duyệt riêng từng đăng ký",
    code_not_approvable: "Đăng ký này không phê duyệt được (không có trong hồ sơ, trùng hoặc không đủ điều kiện): đề nghị từ chối và ghi lý do",
    code_has_account: "Đảng viên này đã có tài khoản",
    code_already_decided: "Đăng ký này đã được xử lý trước đó",
    code_out_of_scope: "Đăng ký nằm ngoài các đơn vị đồng chí phụ trách",
  },
  en: {
    title: "Account approval", dashboard: "Rollout dashboard",
    queue: "Registrations waiting in your units", filters: "Filter the list",
    filter_match: "Registry check", filter_unit: "Cell", filter_age: "Waiting", all: "All",
    age_recent: "Sent in the last 3 days", age_week: "Waiting over 7 days", age_overdue: "Overdue",
    select_matched: "Select all that match the record", selected_n: "Selected, matching the record:",
    approve_selected: "Approve the selected registrations", reload: "Reload", select: "Select",
    submitted: "Submitted", name: "Full name", born: "Born", platform: "Device", unit: "Cell",
    match: "Registry check", actions: "Decision", state: "State", approve: "Approve", reject: "Reject", reason: "Reason",
    confirm_reject: "Confirm rejection", overdue: "Overdue",
    escalated: "Waited past the term: sent up to {unit} on {day}", web: "Computer", mobile: "Phone",
    matched: "Matches the record", not_in_registry: "Not in the registry", details_differ: "Details differ",
    already_registered: "Duplicate or has an account", has_account: "Already has an account",
    duplicate: "Duplicate: this card has another registration", not_eligible: "Not eligible",
    empty: "Nothing is waiting.", empty_filtered: "Nothing matches the filters.",
    approved_n: "Approved", refused_n: "could not be approved", none_selected: "No registration is selected.",
    given: "Registrant's details", on_record: "Member's record", differs: "differs", unknown: "not known", agrees: "Matches", disagrees: "Does not match",
    pending: "Waiting", approved: "Approved", rejected: "Rejected", refused: "Not approved",
    toast_approved: "Approved the registration of", toast_rejected: "Rejected the registration of",
    mismatch_ask: "The registrant's details differ from the record. Have you checked with them, and approve anyway?",
    approve_anyway: "Checked: approve anyway", refused_list: "Registrations not approved, and why:",
    code_not_matched: "Details differ from the record: look at it and approve it on its own",
    code_not_approvable: "This registration cannot be approved (not in the registry, a duplicate or not eligible): reject it with a reason",
    code_has_account: "This member already has an account",
    code_already_decided: "This registration was already decided",
    code_out_of_scope: "Outside the units you look after",
  },
});

const $ = (id) => document.getElementById(id);
const day = (iso) => Sotay.date(iso);
const APPROVER_ROLES = ["cell_secretary", "unit_admin", "city_admin"];
const knownUnits = new Set();  // the cells seen in the unfiltered queue: the cell filter's choices
let toastTimer = null;

// A unit by its name (members' org tree is public); the code only until the name arrives.
function unitName(code) {
  return Sotay.knownUnitName(code) ?? Sotay.unitName(code);
}
function unitLabel(node, code) {
  const known = unitName(code);
  if (typeof known === "string") { node.textContent = known; return node; }
  node.textContent = "…";
  known.then((name) => { node.textContent = name || code; });
  return node;
}

// A message that stays on screen a while and is read out by screen readers.
function toast(text) {
  const box = $("toast");
  box.textContent = text; box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

function refusal(code) { return Sotay.t(`code_${code}`) !== `code_${code}` ? Sotay.t(`code_${code}`) : Sotay.t("code_not_approvable"); }
function failure(err) {
  const code = err.problem && err.problem.code;
  return code ? refusal(code) : Sotay.explain(err);
}

// The registrant's details beside the record's, field by field, the differing ones marked;
// phones show only their last digits, on both sides. The record's name and date of birth are
// compared by identity on keyed hashes, never shown: the verdict stands in their column.
// Without a record: what they gave.
function comparison(r) {
  const show = (field, value) => value == null ? Sotay.t("unknown") : field === "date_of_birth" ? day(value) : value;
  const recorded = (c) => (c.field === "phone" ? show(c.field, c.registry) : Sotay.t(c.same ? "agrees" : "disagrees"));
  const head = Sotay.el("tr", {}, Sotay.el("th", {}, ""), Sotay.el("th", {}, Sotay.t("given")),
    Sotay.el("th", {}, Sotay.t("on_record")));
  const rows = r.comparison || [
    { field: "full_name", given: r.full_name, registry: null, same: true },
    { field: "date_of_birth", given: r.date_of_birth, registry: null, same: true },
    { field: "phone", given: r.given_phone, registry: null, same: true }];
  return Sotay.el("table", { class: "comparison" }, head,
    ...rows.map((c) => Sotay.el("tr", { class: c.same ? "" : "differs", "data-field": c.field },
      Sotay.el("th", {}, Sotay.t(c.field) + (c.same ? "" : ` (${Sotay.t("differs")})`)),
      Sotay.el("td", {}, show(c.field, c.given)),
      Sotay.el("td", {}, r.comparison ? recorded(c) : "—"))));
}

// A row shows its decision instead of vanishing: its state, and no more buttons.
function settle(tr, state, detail) {
  tr.dataset.state = state;
  tr.classList.remove("state-pending", "state-approved", "state-rejected", "state-refused");
  tr.classList.add(`state-${state}`);
  const cell = tr.querySelector("td.state");
  cell.replaceChildren(Sotay.el("strong", {}, Sotay.t(state)), detail ? Sotay.el("div", {}, detail) : "");
  if (state === "approved" || state === "rejected") {
    tr.querySelector("td.decide").replaceChildren();
    const pick = tr.querySelector("input.pick");
    pick.checked = false; pick.disabled = true;
  }
}

function row(r) {
  const label = r.match_label || r.match_result;
  const who = `${r.full_name} (${r.party_card_no})`;
  const tr = Sotay.el("tr", { "data-id": r.id, "data-card": r.party_card_no, "data-match": label, "data-state": "pending",
    class: r.overdue ? "behind" : "" });
  const reject = Sotay.el("form", { class: "reject", hidden: "" },
    Sotay.el("label", { for: `reason-${r.id}` }, Sotay.t("reason")),
    Sotay.el("input", { id: `reason-${r.id}`, required: "", maxlength: "1000" }),
    Sotay.el("div", { class: "actions" }, Sotay.el("button", { type: "submit" }, Sotay.t("confirm_reject")),
      Sotay.el("button", { type: "button", class: "secondary", onclick: () => { reject.hidden = true; } }, Sotay.t("cancel"))));
  reject.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = $(`reason-${r.id}`).value.trim();
    const button = reject.querySelector("button[type=submit]");
    button.disabled = true; $("error").textContent = "";
    try {
      await Sotay.post(`/api/identity/v1/registrations/${r.id}/reject`, { reason });
      settle(tr, "rejected", `${Sotay.t("reason")}: ${reason}`);
      toast(`${Sotay.t("toast_rejected")} ${who}.`);
    } catch (err) { $("error").textContent = failure(err); settle(tr, tr.dataset.state, failure(err)); button.disabled = false; }
  });
  const sendApproval = async (button) => {
    button.disabled = true; $("error").textContent = "";
    try {
      await Sotay.post(`/api/identity/v1/registrations/${r.id}/approve`);
      settle(tr, "approved");
      toast(`${Sotay.t("toast_approved")} ${who}.`);
    } catch (err) { $("error").textContent = failure(err); settle(tr, "refused", failure(err)); button.disabled = false; }
  };
  // Approving a registration whose details differ asks first, in the row itself.
  const ask = Sotay.el("div", { class: "confirm-mismatch", role: "group", hidden: "" },
    Sotay.el("p", {}, Sotay.t("mismatch_ask")),
    Sotay.el("div", { class: "actions" },
      Sotay.el("button", { type: "button", class: "approve-anyway", onclick: (e) => sendApproval(e.currentTarget) },
        Sotay.t("approve_anyway")),
      Sotay.el("button", { type: "button", class: "secondary", onclick: () => { ask.hidden = true; } }, Sotay.t("cancel"))));
  const approve = Sotay.el("button", { type: "button", class: "approve", onclick: (e) => {
    if (label === "details_differ") { ask.hidden = false; reject.hidden = true; ask.querySelector("button").focus(); }
    else sendApproval(e.currentTarget);
  } }, Sotay.t("approve"));
  const showReject = Sotay.el("button", { type: "button", class: "secondary show-reject", onclick: () => {
    reject.hidden = false; ask.hidden = true; $(`reason-${r.id}`).focus();
  } }, Sotay.t("reject"));
  const cell = (key, attrs, ...children) => Sotay.el("td", { "data-label": Sotay.t(key), ...attrs }, ...children);
  tr.append(
    cell("select", { class: "pick-cell" }, Sotay.el("input", { type: "checkbox", class: "pick", value: r.id,
      "aria-label": `${Sotay.t("select")}: ${who}` })),
    cell("name", { class: "who" }, Sotay.el("strong", {}, r.full_name), ` (${r.party_card_no})`),
    cell("submitted", {}, day(r.submitted_at), r.overdue ? ` — ${Sotay.t("overdue")}` : "",
      r.escalated_to ? escalatedNote(r) : "",
      Sotay.el("span", { class: "platform" }, `${Sotay.t("platform")}: ${Sotay.t(r.platform)}`)),
    cell("unit", { class: "unit" }, r.unit ? unitLabel(Sotay.el("span", { class: "unit-name" }), r.unit) : "—"),
    cell("match", { class: "match" }, Sotay.el("strong", { class: "label" }, Sotay.t(label)), comparison(r)),
    cell("state", { class: "state" }, Sotay.el("strong", {}, Sotay.t("pending"))),
    cell("actions", { class: "decide" }, Sotay.el("div", { class: "actions" }, approve, showReject), ask, reject));
  return tr;
}

// A registration that waited past the term went up to the unit above: said, with that unit's name.
function escalatedNote(r) {
  const note = Sotay.el("p", { class: "escalated" });
  const [before, after] = Sotay.t("escalated").replace("{day}", day(r.escalated_at)).split("{unit}");
  const unitName = unitLabel(Sotay.el("strong"), r.escalated_to);
  note.append(before, unitName, after || "");
  return note;
}

function query() {
  const p = new URLSearchParams({ status: "pending", limit: "500" });
  if ($("f-match").value) p.set("match", $("f-match").value);
  if ($("f-unit").value) p.set("unit", $("f-unit").value);
  const age = $("f-age").value;
  if (age === "recent") p.set("newer_than_days", "3");
  if (age === "week") p.set("older_than_days", "7");
  if (age === "overdue") p.set("overdue", "true");
  return p;
}
const filtered = () => Boolean($("f-match").value || $("f-unit").value || $("f-age").value);

// The cell filter's choices: every cell with something waiting, by name.
function unitChoices(items) {
  for (const r of items) if (r.unit) knownUnits.add(r.unit);
  const chosen = $("f-unit").value;
  const have = new Set([...$("f-unit").options].map((o) => o.value));
  for (const code of knownUnits) {
    if (have.has(code)) continue;
    $("f-unit").append(unitLabel(Sotay.el("option", { value: code }), code));
  }
  $("f-unit").value = chosen;
}

async function load() {
  $("queue").hidden = false; $("signout").hidden = false;
  $("error").textContent = "";
  try {
    // Those escalated to the unit above come first (issue 20), then the rest, oldest first.
    const ask = (escalated) => { const p = query(); p.set("escalated", escalated); return p; };
    const [up, rest] = await Promise.all([Sotay.json(`/api/identity/v1/registrations?${ask("true")}`),
      Sotay.json(`/api/identity/v1/registrations?${ask("false")}`)]);
    const items = [...up.items, ...rest.items];
    if (!$("f-unit").value) unitChoices(items);
    $("registrations").tHead.replaceChildren(Sotay.el("tr", {},
      ...["select", "name", "submitted", "unit", "match", "state", "actions"].map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("registrations").tBodies[0].replaceChildren(...(items.length ? items.map(row)
      : [Sotay.el("tr", { class: "empty" }, Sotay.el("td", { colspan: "7" }, Sotay.t(filtered() ? "empty_filtered" : "empty")))]));
  } catch (err) { $("error").textContent = failure(err); $("registrations").tBodies[0].replaceChildren(); }
}

// The header's dashboard link opens the approver's own unit, not the whole city.
async function ownDashboard() {
  try {
    const me = await Sotay.json("/api/identity/v1/me");
    const held = APPROVER_ROLES.map((role) => me.roles.find((g) => g.role === role)).find(Boolean) || me.roles[0];
    if (held) $("dashboard-link").href = `/dashboard?unit=${encodeURIComponent(held.unit)}`;
  } catch (err) { /* the link keeps its default */ }
}

$("select-matched").addEventListener("click", () => {
  const picks = [...document.querySelectorAll('#registrations tr[data-match="matched"][data-state="pending"] input.pick')];
  for (const p of picks) p.checked = true;
  toast(`${Sotay.t("selected_n")} ${picks.length}.`);
});

$("approve-selected").addEventListener("click", async (e) => {
  const ids = [...document.querySelectorAll(".pick:checked")].map((c) => c.value);
  $("refused").replaceChildren(); $("refused").hidden = true;
  if (!ids.length) { $("done").textContent = Sotay.t("none_selected"); return; }
  const button = e.currentTarget;
  button.disabled = true; $("error").textContent = "";
  try {
    const { results, approved } = await Sotay.post("/api/identity/v1/registrations/approve", { ids });
    const refused = results.filter((x) => x.status !== "approved");
    const summary = `${Sotay.t("approved_n")}: ${approved}` + (refused.length ? `; ${refused.length} ${Sotay.t("refused_n")}` : "");
    $("done").textContent = summary;
    for (const x of results) {
      const tr = document.querySelector(`#registrations tr[data-id="${x.registration_id}"]`);
      if (!tr) continue;
      if (x.status === "approved") settle(tr, "approved");
      else { settle(tr, "refused", refusal(x.code)); tr.querySelector("input.pick").checked = false; }
    }
    if (refused.length) {
      $("refused").replaceChildren(Sotay.el("p", {}, Sotay.t("refused_list")), Sotay.el("ul", {}, ...refused.map((x) => {
        const tr = document.querySelector(`#registrations tr[data-id="${x.registration_id}"]`);
        const who = tr ? tr.querySelector("td.who").textContent : x.registration_id;
        return Sotay.el("li", { "data-id": x.registration_id, "data-code": x.code || "" }, `${who}: ${refusal(x.code)}`);
      })));
      $("refused").hidden = false;
    }
    toast(summary);
  } catch (err) { $("error").textContent = failure(err); }
  button.disabled = false;
});
$("reload").addEventListener("click", load);
for (const id of ["f-match", "f-unit", "f-age"]) $(id).addEventListener("change", load);
Sotay.start(() => { ownDashboard(); load(); });
