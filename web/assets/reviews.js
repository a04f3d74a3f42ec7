// The yearly review console (kiểm điểm, đánh giá, xếp loại đảng viên; issue 20). The city's
// administrators open a year's cycle (its deadlines typed dd/mm/yyyy, the share of excellent members
// a unit may have before it is warned). For a unit of theirs, staff see the cycle in counts: how many
// members wrote their self-assessment, had the cell's proposal, were decided; the decided levels;
// the share rated excellent against the cap, with a warning past it; the cells not done, late once
// the decision deadline has passed. A cell's secretary proposes each member's level with the cell's
// comment; a unit administrator decides the final level, and is warned when the unit's share of
// excellent members passes the cap (never refused). Units by name, levels by their Vietnamese names,
// no code on the page. The list shows members' own words: the API records each time it is read.
"use strict";

Sotay.words({
  vi: {
    title: "Kiểm điểm, xếp loại đảng viên", consoles: "Bàn làm việc", cycles: "Các đợt kiểm điểm",
    open_title: "Mở đợt kiểm điểm mới", year: "Năm kiểm điểm", self_assessment_due: "Hạn nộp bản tự kiểm điểm",
    decision_due: "Hạn quyết định xếp loại", excellent_cap_pct: "Tỷ lệ tối đa “Hoàn thành xuất sắc nhiệm vụ” (%)",
    cap_hint: "Vượt tỷ lệ này, đơn vị quyết định được cảnh báo (không bị chặn).", open: "Mở đợt kiểm điểm",
    opened: "Đã mở đợt kiểm điểm năm {y}.", unit_choice: "Đơn vị", year_choice: "Năm", levels: "Kết quả xếp loại",
    waiting: "Chi bộ chưa xong", people: "Từng đảng viên", more: "Xem thêm",
    people_note: "Bản tự kiểm điểm và nhận xét của chi bộ là dữ liệu cá nhân của đảng viên: mỗi lần xem danh sách đều được ghi lại.",
    no_cycle_yet: "Chưa có đợt kiểm điểm nào. Thành ủy mở đợt kiểm điểm hằng năm.",
    cycle_line: "Năm {y}: nộp bản tự kiểm điểm đến {s}; quyết định xếp loại đến {d}; tối đa {c}% xuất sắc.",
    stage: "Hiện nay", st_self_assessment: "Đang nhận bản tự kiểm điểm", st_deciding: "Đang đề xuất, quyết định xếp loại", st_closed: "Đã hết hạn",
    members: "Đảng viên được xếp loại", self_assessed: "Đã nộp bản tự kiểm điểm", proposed: "Chi bộ đã đề xuất",
    decided: "Đã quyết định", level_col: "Mức xếp loại", count_col: "Số đảng viên", share_col: "Tỷ lệ",
    not_decided: "Chưa quyết định", overdue_all: "Đã quá hạn quyết định mà đơn vị chưa xếp loại hết đảng viên.",
    all_done: "Các chi bộ đã đề xuất cho mọi đảng viên.",
    waiting_note: "{n} trong {t} chi bộ chưa đề xuất xong (hạn {d}).",
    waiting_line: "{u}: chi bộ đã đề xuất {p}/{m} đảng viên; {s} đã nộp bản tự kiểm điểm", late: "Quá hạn",
    warning: "Cảnh báo: {u} đã có {e}/{m} đảng viên ({p}) được xếp loại “Hoàn thành xuất sắc nhiệm vụ”, vượt mức tối đa {c}% (không quá {a} đảng viên). Đề nghị xem xét lại trước khi hết hạn quyết định.",
    within_cap: "{u}: {e}/{m} đảng viên ({p}) “Hoàn thành xuất sắc nhiệm vụ”, trong mức tối đa {c}%.",
    self_level: "Tự đề xuất", own_words: "Bản tự kiểm điểm", no_self: "Chưa nộp bản tự kiểm điểm",
    cell_level: "Chi bộ đề xuất", cell_comment: "Nhận xét của chi bộ", no_cell: "Chi bộ chưa đề xuất",
    decided_level: "Kết quả xếp loại", decided_on: "quyết định ngày {d}, {u}",
    level: "Mức xếp loại", comment: "Nhận xét của chi bộ", propose: "Chi bộ đề xuất", decide: "Quyết định xếp loại",
    proposed_done: "Đã ghi đề xuất của chi bộ cho đồng chí {n}.", decided_done: "Đã quyết định xếp loại đồng chí {n}: {l}.",
    awaits_self: "Chờ đảng viên nộp bản tự kiểm điểm (hạn {d}).",
    summary_only: "Thành ủy xem số liệu tổng hợp; danh sách từng đảng viên do chi bộ và đơn vị quyết định xem.",
    no_people: "Không có đảng viên nào được xếp loại trong đơn vị này.",
    not_staff: "Trang này dành cho bí thư chi bộ, cán bộ quản trị đơn vị và Thành ủy.",
    lv_excellent: "Hoàn thành xuất sắc nhiệm vụ", lv_good: "Hoàn thành tốt nhiệm vụ", lv_done: "Hoàn thành nhiệm vụ",
    lv_not_done: "Không hoàn thành nhiệm vụ",
    e_awaiting_self_assessment: "Đảng viên còn hạn nộp bản tự kiểm điểm: chi bộ đề xuất sau khi đảng viên nộp, hoặc khi hết hạn.",
    e_awaiting_cell: "Chi bộ chưa đề xuất mức xếp loại cho đảng viên này.",
    e_review_decided: "Đã quyết định xếp loại và đã hết hạn quyết định: không thay đổi được nữa.",
    e_not_reviewed: "Đảng viên này không thuộc diện xếp loại (miễn sinh hoạt hoặc không còn sinh hoạt).",
    e_cycle_exists: "Năm này đã có đợt kiểm điểm.", e_no_cycle: "Chưa có đợt kiểm điểm của năm này.",
    e_forbidden: "Việc này nằm ngoài quyền của đồng chí (không tự đề xuất, tự quyết định xếp loại cho chính mình).",
    date_reason: "phải là ngày có thật, viết ngày/tháng/năm",
    year_reason: "phải là năm từ 2000 đến 2100", cap_reason: "phải là số từ 1 đến 100",
  },
  en: {
    title: "Yearly review of members", consoles: "Consoles", cycles: "Review cycles",
    open_title: "Open a new review", year: "Year reviewed", self_assessment_due: "Self-assessments due by",
    decision_due: "Levels decided by", excellent_cap_pct: "Most members rated “excellent” (%)",
    cap_hint: "Past this share, the deciding unit is warned (never refused).", open: "Open the review",
    opened: "The review of {y} is open.", unit_choice: "Unit", year_choice: "Year", levels: "Levels decided",
    waiting: "Cells not done", people: "Each member", more: "Show more",
    people_note: "Self-assessments and the cell's comments are members' personal data: each time the list is opened is recorded.",
    no_cycle_yet: "No review yet. The city opens one each year.",
    cycle_line: "{y}: self-assessments by {s}; levels decided by {d}; at most {c}% excellent.",
    stage: "Now", st_self_assessment: "Taking self-assessments", st_deciding: "Cells propose, units decide", st_closed: "Closed",
    members: "Members rated", self_assessed: "Self-assessments in", proposed: "Proposed by the cell",
    decided: "Decided", level_col: "Level", count_col: "Members", share_col: "Share",
    not_decided: "Not decided yet", overdue_all: "The decision deadline has passed with members not rated.",
    all_done: "Every cell has proposed a level for each member.",
    waiting_note: "{n} of {t} cells have not proposed for every member (due by {d}).",
    waiting_line: "{u}: proposed for {p} of {m} members; {s} self-assessments in", late: "Late",
    warning: "Warning: {u} has {e} of {m} members ({p}) rated “excellent”, past the cap of {c}% (at most {a} members). Please review before the decision deadline.",
    within_cap: "{u}: {e} of {m} members ({p}) rated “excellent”, within the cap of {c}%.",
    self_level: "Proposed by the member", own_words: "Self-assessment", no_self: "No self-assessment",
    cell_level: "Proposed by the cell", cell_comment: "The cell's comment", no_cell: "Not proposed by the cell yet",
    decided_level: "Level decided", decided_on: "decided on {d}, {u}",
    level: "Level", comment: "The cell's comment", propose: "Propose for the cell", decide: "Decide the level",
    proposed_done: "The cell's proposal for {n} is recorded.", decided_done: "{n} is rated: {l}.",
    awaits_self: "Awaiting the member's self-assessment (due by {d}).",
    summary_only: "The city reads the counts; the members' reviews are read by their cell and the deciding unit.",
    no_people: "No member of this unit is rated.",
    not_staff: "This page is for cell secretaries, unit administrators and the city.",
    lv_excellent: "Completed tasks excellently", lv_good: "Completed tasks well", lv_done: "Completed tasks",
    lv_not_done: "Did not complete tasks",
    e_awaiting_self_assessment: "The member may still write a self-assessment: the cell proposes once it is in, or once it is due.",
    e_awaiting_cell: "The cell has not proposed a level for this member yet.",
    e_review_decided: "Decided, and the decision deadline has passed: it stands.",
    e_not_reviewed: "This member is not rated (exempt, or no longer active).",
    e_cycle_exists: "This year has its review already.", e_no_cycle: "This year has no review.",
    e_forbidden: "This is beyond your roles (nobody proposes or decides their own level).",
    date_reason: "must be a real date written day/month/year",
    year_reason: "must be a year from 2000 to 2100", cap_reason: "must be a number from 1 to 100",
  },
});

const $ = (id) => document.getElementById(id);
const el = Sotay.el, t = Sotay.t;
const LEVELS = ["excellent", "good", "done", "not_done"];
const STAFF = ["cell_secretary", "unit_admin", "city_admin"];
const READERS = ["cell_secretary", "unit_admin"];
let grants = [], cycles = [], shown = { unit: null, year: null }, cursor = null;

const unitName = (code) => Sotay.unitName(code).then((name) => name || "—");
function named(node, code) { node.textContent = "—"; unitName(code).then((n) => { node.textContent = n; }); return node; }
const level = (code) => (code ? t(`lv_${code}`) : "—");
const fill = (text, values) => Object.entries(values).reduce((s, [k, v]) => s.replaceAll(`{${k}}`, v), t(text));
// A refusal in the reader's words: the review's own codes, then the usual explanation.
const said = (err) => {
  const code = err.code || (err.problem && err.problem.code);
  return code && t(`e_${code}`) !== `e_${code}` && !(err.problem && err.problem.errors) ? t(`e_${code}`) : Sotay.explain(err);
};
function failed(err) { $("error").textContent = said(err); }

// --- cycles ------------------------------------------------------------------------------------------

function showCycles() {
  $("cycle-list").replaceChildren(...(cycles.length ? cycles.map((c) => el("li", { "data-year": c.year },
    el("p", {}, el("strong", {}, fill("cycle_line", { y: c.year, s: Sotay.date(c.self_assessment_due),
      d: Sotay.date(c.decision_due), c: c.excellent_cap_pct }))),
    el("p", { class: "muted" }, t(`st_${c.stage}`)))) : [el("li", { class: "muted" }, t("no_cycle_yet"))]));
  const years = cycles.map((c) => c.year);
  $("year").replaceChildren(...years.map((y) => el("option", { value: y }, y)));
  if (shown.year && years.includes(shown.year)) $("year").value = shown.year;
}

async function loadCycles() {
  ({ items: cycles } = await Sotay.json("/api/members/v1/review-cycles"));
  showCycles();
  $("cycles").hidden = false;
}

function openForm() {
  const form = $("open-cycle");
  $("cy-year").value = String(new Date().getFullYear());
  const input = (field) => ({ year: $("cy-year"), self_assessment_due: $("cy-self"), decision_due: $("cy-decision"),
    excellent_cap_pct: $("cy-cap") })[field] || null;
  Sotay.sending(form, async (key) => {
    $("open-done").textContent = ""; $("open-error").textContent = "";
    Sotay.clearFieldErrors(form);
    const year = Number($("cy-year").value.trim()), cap = Number($("cy-cap").value.trim());
    const self = Sotay.isoDate($("cy-self").value), decision = Sotay.isoDate($("cy-decision").value);
    const errors = [];
    if (!Number.isInteger(year) || year < 2000 || year > 2100) errors.push(["year", t("year_reason")]);
    if (!self) errors.push(["self_assessment_due", t("date_reason")]);
    if (!decision) errors.push(["decision_due", t("date_reason")]);
    if (!Number.isInteger(cap) || cap < 1 || cap > 100) errors.push(["excellent_cap_pct", t("cap_reason")]);
    if (errors.length) {
      errors.forEach(([f, why]) => Sotay.fieldError(input(f), why));
      $("open-error").textContent = errors.map(([f, why]) => `${t(f)}: ${why}`).join("; ");
      return;
    }
    const opened = await Sotay.post("/api/members/v1/review-cycles", { year, self_assessment_due: self,
      decision_due: decision, excellent_cap_pct: cap }, key);
    $("open-done").textContent = fill("opened", { y: opened.year });
    shown.year = opened.year;
    await loadCycles();
    if (shown.unit) await show(shown.unit);
  }, (err) => {
    Sotay.showFieldErrors(form, err, input);
    $("open-error").textContent = said(err);
  });
  form.hidden = false;
}

// --- a unit's review in counts ----------------------------------------------------------------------

function tile(label, value, id) {
  return el("div", { class: "tile", "data-figure": id }, el("div", { class: "value" }, Sotay.number(value)),
    el("div", { class: "label" }, label));
}

function warningText(check) {
  return fill(check.exceeded ? "warning" : "within_cap", { u: check.unit_name, e: Sotay.number(check.excellent),
    m: Sotay.number(check.members), p: Sotay.percent(check.share_pct), c: check.cap_pct, a: Sotay.number(check.allowed) });
}

function showWarning(check) {
  const box = $("excellent-warning");
  box.textContent = warningText(check);
  box.className = check.exceeded ? "warn" : "muted";
  box.hidden = false;
}

async function showSummary() {
  const s = await Sotay.json(`/api/members/v1/review-cycles/${shown.year}/summary?unit=${encodeURIComponent(shown.unit)}`);
  $("unit-title").textContent = `${s.unit_name} — ${s.year}`;
  $("deadlines").replaceChildren(
    el("dt", {}, t("self_assessment_due")), el("dd", {}, Sotay.date(s.cycle.self_assessment_due)),
    el("dt", {}, t("decision_due")), el("dd", {}, Sotay.date(s.cycle.decision_due)),
    el("dt", {}, t("stage")), el("dd", {}, t(`st_${s.cycle.stage}`)));
  $("tiles").replaceChildren(tile(t("members"), s.members, "members"), tile(t("self_assessed"), s.self_assessed, "self_assessed"),
    tile(t("proposed"), s.proposed, "proposed"), tile(t("decided"), s.decided, "decided"));
  showWarning(s.check);
  const share = (n) => (s.members ? Sotay.percent((n * 100) / s.members) : "—");
  $("levels").replaceChildren(el("thead", {}, el("tr", {}, el("th", {}, t("level_col")), el("th", {}, t("count_col")),
    el("th", {}, t("share_col")))), el("tbody", {},
    ...LEVELS.map((code) => el("tr", { "data-level": code }, el("td", {}, level(code)), el("td", {}, Sotay.number(s.levels[code])),
      el("td", {}, share(s.levels[code])))),
    el("tr", {}, el("td", {}, t("not_decided")), el("td", {}, Sotay.number(s.members - s.decided)),
      el("td", {}, share(s.members - s.decided)))));
  $("waiting-note").textContent = s.overdue ? t("overdue_all") : "";
  $("waiting-note").className = s.overdue ? "warn" : "muted";
  $("waiting-note").hidden = !s.overdue;
  $("waiting").replaceChildren(...(s.waiting.length ? [el("li", { class: "muted" }, fill("waiting_note",
    { n: s.cells_not_done, t: s.cells, d: Sotay.date(s.cycle.decision_due) })), ...s.waiting.map((c) => el("li", { "data-unit": c.unit },
    c.overdue ? el("span", { class: "state rejected" }, `${t("late")} `) : "",
    fill("waiting_line", { u: c.unit_name, p: c.proposed, m: c.members, s: c.self_assessed })))]
    : [el("li", { class: "muted" }, t("all_done"))]));
  $("overview").hidden = false;
}

// --- each member --------------------------------------------------------------------------------------

function levelSelect(id, chosen) {
  return el("select", { id, name: "level" }, ...LEVELS.map((code) => el("option", { value: code,
    ...(code === chosen ? { selected: "" } : {}) }, level(code))));
}

function proposeForm(r) {
  const id = `p-${r.member_id}`;
  const comment = el("textarea", { id: `${id}-comment`, name: "comment", rows: "3", maxlength: "2000" });
  comment.value = r.cell_comment || "";
  const form = el("form", { class: "step propose", novalidate: "" },
    el("label", { for: `${id}-level` }, t("level")), levelSelect(`${id}-level`, r.cell_level || r.proposed_level || "good"),
    el("label", { for: `${id}-comment` }, t("comment")), comment,
    el("p", {}, el("button", { type: "submit" }, t("propose"))), el("p", { class: "error", role: "alert" }));
  Sotay.sending(form, async (key) => {
    form.querySelector(".error").textContent = "";
    if (!comment.value.trim()) {
      Sotay.fieldError(comment, Sotay.reason("is required"));
      throw Object.assign(new Error("required"), { problem: { errors: [{ field: "comment", reason: "is required" }] } });
    }
    const done = await Sotay.post(`/api/members/v1/review-cycles/${shown.year}/reviews/${r.member_id}/proposal`,
      { level: $(`${id}-level`).value, comment: comment.value.trim() }, key);
    $("act-done").textContent = fill("proposed_done", { n: done.full_name });
    form.closest("li").replaceWith(reviewItem(done));
    await showSummary();
  }, (err) => {
    Sotay.showFieldErrors(form, err, (f) => (f === "comment" ? comment : null));
    form.querySelector(".error").textContent = said(err);
  });
  return form;
}

function decideForm(r) {
  const id = `d-${r.member_id}`;
  const form = el("form", { class: "step decide", novalidate: "" },
    el("label", { for: `${id}-level` }, t("level")), levelSelect(`${id}-level`, r.decided_level || r.cell_level),
    el("p", {}, el("button", { type: "submit" }, t("decide"))), el("p", { class: "error", role: "alert" }));
  Sotay.sending(form, async (key) => {
    form.querySelector(".error").textContent = "";
    const done = await Sotay.post(`/api/members/v1/review-cycles/${shown.year}/reviews/${r.member_id}/decision`,
      { level: $(`${id}-level`).value }, key);
    $("act-done").textContent = fill("decided_done", { n: done.review.full_name, l: level(done.review.decided_level) });
    const item = reviewItem(done.review);
    if (done.check.exceeded) item.append(el("p", { class: "warn decide-warning", role: "status" }, warningText(done.check)));
    form.closest("li").replaceWith(item);
    await showSummary();
    showWarning(done.check);
  }, (err) => { form.querySelector(".error").textContent = said(err); });
  return form;
}

function reviewItem(r) {
  const cycle = cycles.find((c) => c.year === shown.year);
  const rows = [
    [t("self_level"), r.submitted_at ? level(r.proposed_level) : t("no_self")],
    [t("cell_level"), r.cell_level ? level(r.cell_level) : t("no_cell")],
    ...(r.cell_comment ? [[t("cell_comment"), r.cell_comment]] : []),
    [t("decided_level"), r.decided_level ? `${level(r.decided_level)} (${fill("decided_on", { d: Sotay.date(r.decided_at),
      u: r.decided_unit_name || "—" })})` : t("not_decided")]];
  const waitingSelf = !r.submitted_at && !r.cell_level && cycle && cycle.stage === "self_assessment";
  return el("li", { "data-member": r.member_id, "data-decided": r.decided_level || "" },
    el("h3", {}, r.full_name, el("span", { class: "muted" }, ` · ${r.unit_name}`)),
    el("dl", { class: "record fit" }, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    r.self_assessment ? el("details", { class: "privacy own" }, el("summary", {}, t("own_words")),
      el("p", { class: "own-words" }, r.self_assessment)) : "",
    waitingSelf ? el("p", { class: "muted" }, fill("awaits_self", { d: Sotay.date(cycle.self_assessment_due) })) : "",
    r.can_propose ? proposeForm(r) : "", r.can_decide ? decideForm(r) : "");
}

async function showPeople(again = false) {
  const grant = grants.filter((g) => g.unit === shown.unit).map((g) => g.role);
  if (!grant.some((role) => READERS.includes(role))) {
    $("reviews").replaceChildren(el("li", { class: "muted" }, t("summary_only")));
    $("more").hidden = true; $("people").hidden = false;
    return;
  }
  const answer = await Sotay.json(`/api/members/v1/review-cycles/${shown.year}/reviews?unit=${encodeURIComponent(shown.unit)}`
    + (again && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
  cursor = answer.next_cursor;
  if (!again) $("reviews").replaceChildren();
  $("reviews").append(...answer.items.map(reviewItem));
  if (!$("reviews").children.length) $("reviews").append(el("li", { class: "muted" }, t("no_people")));
  $("more").hidden = !cursor;
  $("people").hidden = false;
}

async function show(unit) {
  $("error").textContent = ""; $("act-done").textContent = "";
  shown.unit = unit;
  shown.year = Number($("year").value) || shown.year;
  if (!shown.year) { $("overview").hidden = true; $("people").hidden = true; return; }
  await showSummary();
  await showPeople();
}

$("unit").addEventListener("change", () => show($("unit").value).catch(failed));
$("year").addEventListener("change", () => { shown.year = Number($("year").value); show(shown.unit).catch(failed); });
$("more").addEventListener("click", () => showPeople(true).catch(failed));

async function start() {
  $("signout").hidden = false;
  try {
    const me = await Sotay.json("/api/identity/v1/me");
    grants = me.roles.filter((g) => STAFF.includes(g.role));
    const units = [...new Set(grants.map((g) => g.unit))];
    if (!units.length) { $("error").textContent = t("not_staff"); return; }
    await loadCycles();
    if (grants.some((g) => g.role === "city_admin" && g.unit === "city")) openForm();
    const current = cycles.find((c) => c.stage !== "closed") || cycles[0];
    shown.year = current ? current.year : null;
    if (shown.year) $("year").value = shown.year;
    $("unit").replaceChildren(...units.map((u) => named(el("option", { value: u }), u)));
    $("unit-choice").hidden = units.length < 2;
    await show(units[0]);
  } catch (err) { failed(err); }
}

Sotay.start(start);
