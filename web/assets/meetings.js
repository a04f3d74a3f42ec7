// Sinh hoạt chi bộ, the secretary's side (issue 20): a cell secretary (or a unit admin, who picks
// one of the cells under their units) plans the cell's meetings (the month's regular one by the
// 20th of the month before, or a thematic one), sees who said they will come, records who came
// once a meeting has started (a tick list of the cell's members, pre-ticked from their answers,
// the reason of each absence) with its minutes (biên bản), a document of the library picked or,
// for an editor, uploaded here; the members absent without a reason two regular meetings running;
// and which cells have next month's regular meeting planned, and on time. Dates are typed and
// shown dd/mm/yyyy, times HH:mm, in Hanoi's time; cells by name, never a code.
"use strict";

Sotay.words({
  vi: {
    title: "Sinh hoạt chi bộ", consoles: "Bàn làm việc", cell_choice: "Chọn chi bộ",
    not_staff: "Trang này dành cho bí thư chi bộ và cán bộ quản trị đơn vị.",
    no_cells: "Chưa có chi bộ nào thuộc các đơn vị đồng chí phụ trách.",
    plan_title: "Lên lịch sinh hoạt", kind: "Loại buổi sinh hoạt", regular: "Thường kỳ", thematic: "Chuyên đề",
    day: "Ngày sinh hoạt", date_hint: "Ngày/tháng/năm, ví dụ {d}", time: "Giờ bắt đầu",
    time_hint: "Giờ:phút, ví dụ 08:00 hoặc 14:30", place: "Địa điểm", agenda: "Nội dung, chương trình", plan: "Lên lịch",
    deadline: "Buổi sinh hoạt thường kỳ của mỗi tháng cần được lên lịch chậm nhất là ngày 20 của tháng trước. "
      + "Lịch tháng {m}: chậm nhất ngày {d}.",
    planned_cell: "Chi bộ đã lên lịch sinh hoạt thường kỳ tháng {m}: {w} ({o}).",
    unplanned_cell: "Chi bộ chưa lên lịch sinh hoạt thường kỳ tháng {m}.",
    on_time: "đúng hạn", late_one: "sau hạn",
    date_invalid: "phải là ngày có thật, viết ngày/tháng/năm, ví dụ {d}",
    time_invalid: "phải là giờ:phút, ví dụ 08:00", needed: "cần điền",
    planned: "Đã lên lịch buổi sinh hoạt {w}. Đảng viên của chi bộ được báo tin.",
    list_title: "Các buổi sinh hoạt của chi bộ", upcoming: "Sắp tới", recent: "Đã diễn ra (trong tháng qua)",
    no_upcoming: "Chưa có buổi sinh hoạt nào sắp tới.", no_recent: "Chưa có buổi sinh hoạt nào trong tháng qua.",
    kind_regular: "Sinh hoạt thường kỳ", kind_thematic: "Sinh hoạt chuyên đề",
    answers: "Trả lời: {y} sẽ dự, {n} vắng, {z} chưa trả lời",
    held: "Đã sinh hoạt: {n}/{m} có mặt", not_recorded: "Chưa ghi nhận buổi sinh hoạt này.",
    record_later: "Ghi nhận được khi buổi sinh hoạt đã bắt đầu.",
    record: "Ghi nhận buổi sinh hoạt", record_again: "Sửa ghi nhận", close: "Đóng",
    minutes_of: "Biên bản: {t}", minutes_attached: "Đã đính kèm biên bản.", no_minutes_yet: "Chưa đính kèm biên bản.",
    who_came: "Đánh dấu các đồng chí có mặt", restricted: "Đảng viên đề nghị hạn chế xử lý dữ liệu",
    said_yes: "Đã báo sẽ dự", said_no: "Đã báo vắng", said_no_note: "Đã báo vắng: “{r}”", no_answer: "Chưa trả lời",
    absence_reason: "Lý do vắng", reason_kept: "Để trống thì ghi lý do đồng chí đã báo.",
    reason_none: "Để trống nếu vắng không có lý do.",
    minutes: "Biên bản buổi sinh hoạt", find_doc: "Tìm trong thư viện tài liệu", find: "Tìm",
    no_doc: "Chưa đính kèm biên bản", no_docs_found: "Không tìm thấy tài liệu nào.",
    upload_title: "Hoặc tải biên bản lên thư viện", doc_title: "Tên biên bản",
    doc_title_value: "Biên bản sinh hoạt chi bộ ngày {d}", choose_file: "Chọn tệp (PDF, Word, ảnh)",
    no_file: "Chưa chọn tệp nào", upload: "Tải lên", uploading: "Đang tải lên…",
    uploaded: "Đã tải lên và chọn biên bản này.", pick_file: "Đề nghị chọn tệp biên bản.",
    no_upload: "Biên bản cần có trong thư viện tài liệu thì mới đính kèm được; cán bộ biên tập của đơn vị đưa biên bản lên thư viện.",
    send: "Gửi ghi nhận", recorded: "Đã ghi nhận buổi sinh hoạt.",
    absences_title: "Vắng không lý do hai kỳ liền",
    absences_note: "Đảng viên vắng, không có lý do, ở cả hai buổi sinh hoạt thường kỳ gần nhất mà chi bộ đã ghi nhận.",
    no_absences: "Không có đảng viên nào vắng không lý do hai kỳ liền.", missed: "Vắng các buổi: {d}",
    planning_title: "Kế hoạch sinh hoạt tháng sau (tháng {m})",
    planning_deadline: "Hạn lên lịch buổi sinh hoạt thường kỳ: hết ngày {d}.",
    t_planned: "Đã lên lịch", t_on_time: "Lên lịch đúng hạn", t_total: "Số chi bộ",
    not_planned: "Chưa lên lịch", all_planned: "Tất cả các chi bộ đã lên lịch.", late: "Lên lịch sau hạn",
    // Field names of the server's problems.
    starts_at: "Ngày giờ sinh hoạt", cell: "Chi bộ", present: "Có mặt", excused: "Lý do vắng",
  },
  en: {
    title: "Cell meetings", consoles: "Consoles", cell_choice: "Choose the cell",
    not_staff: "This page is for cell secretaries and unit administrators.",
    no_cells: "There is no cell under the units you look after.",
    plan_title: "Plan a meeting", kind: "Kind of meeting", regular: "Regular", thematic: "Thematic",
    day: "Day", date_hint: "Day/month/year, e.g. {d}", time: "Start time",
    time_hint: "Hours:minutes, e.g. 08:00 or 14:30", place: "Place", agenda: "Agenda", plan: "Plan",
    deadline: "Each month's regular meeting is planned by the 20th of the month before. "
      + "For {m}: by {d}.",
    planned_cell: "The cell's regular meeting of {m} is planned: {w} ({o}).",
    unplanned_cell: "The cell has not planned its regular meeting of {m} yet.",
    on_time: "on time", late_one: "late",
    date_invalid: "must be a real date written day/month/year, e.g. {d}",
    time_invalid: "must be hours:minutes, e.g. 08:00", needed: "is required",
    planned: "The meeting of {w} is planned. The cell's members are told.",
    list_title: "The cell's meetings", upcoming: "Coming", recent: "Held (in the last month)",
    no_upcoming: "No meeting to come.", no_recent: "No meeting in the last month.",
    kind_regular: "Regular meeting", kind_thematic: "Thematic meeting",
    answers: "Answers: {y} coming, {n} absent, {z} not answered",
    held: "Held: {n}/{m} present", not_recorded: "This meeting is not recorded yet.",
    record_later: "A meeting is recorded once it has started.",
    record: "Record the meeting", record_again: "Correct the record", close: "Close",
    minutes_of: "Minutes: {t}", minutes_attached: "Minutes attached.", no_minutes_yet: "No minutes attached.",
    who_came: "Tick the members present", restricted: "A member who asked to restrict the processing of their data",
    said_yes: "Said they will come", said_no: "Said they will be absent", said_no_note: "Said they will be absent: “{r}”",
    no_answer: "No answer",
    absence_reason: "Reason for the absence", reason_kept: "Left empty, the reason they gave is recorded.",
    reason_none: "Leave empty for an absence without a reason.",
    minutes: "Minutes of the meeting", find_doc: "Search the documents library", find: "Search",
    no_doc: "No minutes attached", no_docs_found: "No document found.",
    upload_title: "Or upload the minutes to the library", doc_title: "Title of the minutes",
    doc_title_value: "Minutes of the cell meeting of {d}", choose_file: "Choose a file (PDF, Word, image)",
    no_file: "No file chosen", upload: "Upload", uploading: "Uploading…",
    uploaded: "Uploaded, and chosen as the minutes.", pick_file: "Please choose the file of the minutes.",
    no_upload: "Minutes are attached from the documents library; the unit's editors add them to it.",
    send: "Send the record", recorded: "The meeting is recorded.",
    absences_title: "Absent without a reason twice running",
    absences_note: "Members absent, without a reason, from both of the last two regular meetings the cell recorded.",
    no_absences: "No member was absent without a reason twice running.", missed: "Missed: {d}",
    planning_title: "Next month's meetings ({m})",
    planning_deadline: "Regular meetings are planned by the end of {d}.",
    t_planned: "Planned", t_on_time: "Planned on time", t_total: "Cells",
    not_planned: "Not planned", all_planned: "Every cell has planned its meeting.", late: "Planned late",
    starts_at: "Date and time", cell: "Cell", present: "Present", excused: "Reason for the absence",
  },
});

const $ = (id) => document.getElementById(id);
const el = Sotay.el, t = Sotay.t;
const say = (key, values = {}) => Object.entries(values).reduce((s, [k, v]) => s.replace(`{${k}}`, v), t(key));
const EDITORS = ["editor", "chief_editor"];
const API = "/api/content/v1";
let me = null, cells = [], cell = null, cellPath = [], planning = null;

// --- dates and times, in Hanoi --------------------------------------------------------------------
const HANOI = "Asia/Ho_Chi_Minh";
const clock = (iso) => new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  timeZone: HANOI }).format(new Date(iso));
const weekday = (iso) => {
  const day = new Intl.DateTimeFormat(Sotay.lang === "vi" ? "vi-VN" : "en-GB", { weekday: "long", timeZone: HANOI })
    .format(new Date(iso));
  return day.charAt(0).toUpperCase() + day.slice(1);
};
// A meeting's moment: "Thứ Ba, 05/01/2027 08:00".
const when = (iso) => `${weekday(iso)}, ${Sotay.date(iso)} ${clock(iso)}`;
// "2027-01" as "1/2027".
const monthName = (ym) => `${Number(ym.slice(5, 7))}/${ym.slice(0, 4)}`;
// The last day before a deadline (the instant the 21st begins): the 20th, dd/mm/yyyy.
const lastDay = (deadline) => Sotay.date(new Date(Date.parse(deadline) - 1000).toISOString());
// An example day for the hint: the 5th of the month planned for.
const exampleDay = () => (planning ? `05/${planning.month.slice(5, 7)}/${planning.month.slice(0, 4)}` : "05/01/2027");

// A time as people type it (8, 8h, 8h30, 8:30, 08.30, 8 giờ 30) as HH:MM; null when it is none.
function typedTime(typed) {
  const m = /^(\d{1,2})\s*(?:(?:[:.hg]|giờ)\s*(\d{1,2})?\s*(?:phút|p)?)?$/i.exec(String(typed || "").trim());
  if (!m) return null;
  const h = Number(m[1]), min = Number(m[2] || 0);
  if (h > 23 || min > 59) return null;
  return `${String(h).padStart(2, "0")}:${String(min).padStart(2, "0")}`;
}

// --- the cell -----------------------------------------------------------------------------------
const cellName = (code) => (cells.find((c) => c.cell === code) || {}).name || "—";
const memberName = (m) => m.full_name || t("restricted");
function failed(err) { $("error").textContent = Sotay.explain(err); }

async function loadPlanning() {
  planning = await Sotay.json(`${API}/meetings/planning`);
  cells = planning.cells;
}

async function showCell(code) {
  cell = code;
  $("error").textContent = "";
  $("cell-title").textContent = cellName(code);
  cellPath = [];
  drawPlanning();
  // The cell's place in the tree tells whether an editor role of the caller's covers it (uploading
  // the minutes is offered then); without it, it is not offered.
  const path = Sotay.orgUnit(code).then((u) => { if (u && cell === code) cellPath = u.path; });
  await Promise.all([showMeetings(), showAbsences(), path]);
}

// --- planning a meeting ---------------------------------------------------------------------------
function drawPlanState() {
  const month = monthName(planning.month);
  $("deadline").textContent = say("deadline", { m: month, d: lastDay(planning.deadline) });
  $("m-date-hint").textContent = say("date_hint", { d: exampleDay() });
  const mine = cells.find((c) => c.cell === cell);
  $("plan-state").textContent = mine && mine.meeting_id
    ? say("planned_cell", { m: month, w: when(mine.starts_at), o: t(mine.on_time ? "on_time" : "late_one") })
    : say("unplanned_cell", { m: month });
}

const planForm = $("plan-form");
const planInputs = { starts_at: $("m-date"), place: $("m-place"), agenda: $("m-agenda"), cell: $("cell") };
Sotay.sending(planForm, async (key) => {
  $("plan-done").textContent = ""; $("plan-error").textContent = "";
  Sotay.clearFieldErrors(planForm);
  const day = Sotay.isoDate($("m-date").value), time = typedTime($("m-time").value);
  const place = $("m-place").value.trim(), agenda = $("m-agenda").value.trim();
  const problems = [];
  if (!$("m-date").value.trim()) problems.push([$("m-date"), t("needed")]);
  else if (!day) problems.push([$("m-date"), say("date_invalid", { d: exampleDay() })]);
  if (!time) problems.push([$("m-time"), $("m-time").value.trim() ? t("time_invalid") : t("needed")]);
  if (!place) problems.push([$("m-place"), t("needed")]);
  if (!agenda) problems.push([$("m-agenda"), t("needed")]);
  if (problems.length) {
    problems.forEach(([input, text]) => Sotay.fieldError(input, text));
    problems[0][0].focus();
    return;
  }
  const kind = planForm.querySelector("input[name=kind]:checked").value;
  const made = await Sotay.post(`${API}/meetings`, { cell, kind, place, agenda,
    starts_at: `${day}T${time}:00+07:00` }, key);
  planForm.reset();
  $("plan-done").textContent = say("planned", { w: when(made.starts_at) });
  await loadPlanning();
  drawPlanning();
  await showMeetings();
}, (err) => {
  Sotay.showFieldErrors(planForm, err, (field) => planInputs[field]);
  // Said beside their fields; anything else (or no field at all) under the form.
  const errors = (err.problem && err.problem.errors) || [];
  $("plan-error").textContent = errors.length && errors.every((x) => planInputs[x.field]) ? "" : Sotay.explain(err);
  const first = planForm.querySelector("[aria-invalid=true]");
  if (first) first.focus();
});

// --- the cell's meetings --------------------------------------------------------------------------
async function showMeetings() {
  const shown = cell;  // a cell chosen while this one's answers come draws its own list: this one's is dropped
  const { items } = await Sotay.json(`${API}/meetings?cell=${encodeURIComponent(shown)}`);
  const rolls = await Promise.all(items.map((m) => Sotay.json(`${API}/meetings/${m.id}/attendance`).catch(() => null)));
  if (cell !== shown) return;
  const now = Date.now();
  const drawn = items.map((m, i) => [m, meetingItem(m, rolls[i])]);
  const upcoming = drawn.filter(([m]) => Date.parse(m.starts_at) > now)
    .sort(([a], [b]) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
  const recent = drawn.filter(([m]) => Date.parse(m.starts_at) <= now)
    .sort(([a], [b]) => Date.parse(b.starts_at) - Date.parse(a.starts_at));
  $("upcoming").replaceChildren(...(upcoming.length ? upcoming.map(([, node]) => node)
    : [el("p", { class: "muted" }, t("no_upcoming"))]));
  $("recent").replaceChildren(...(recent.length ? recent.map(([, node]) => node)
    : [el("p", { class: "muted" }, t("no_recent"))]));
  $("list-section").hidden = false;
}

function meetingItem(m, roll) {
  const started = Date.parse(m.starts_at) <= Date.now();
  const item = el("article", { class: "meeting", "data-id": m.id, "data-held": m.held_at ? "true" : "false" },
    el("h4", {}, when(m.starts_at)),
    el("p", {}, el("span", { class: `kind ${m.kind}` }, t(`kind_${m.kind}`))),
    el("p", {}, el("strong", {}, `${t("place")}: `), m.place),
    el("p", { class: "agenda" }, el("strong", {}, `${t("agenda")}: `), m.agenda),
    roll ? el("p", { class: "answers" }, say("answers", { y: Sotay.number(roll.attending),
      n: Sotay.number(roll.not_attending), z: Sotay.number(roll.no_answer) })) : "");
  const panel = el("div", { class: "record-panel", hidden: "" });
  if (m.held_at) {
    // Of the cell's members recorded then (one who has left since is no longer on the roll).
    const recorded = roll ? roll.members.filter((x) => x.present !== null) : [];
    const [came, of] = recorded.length ? [roll.present, recorded.length] : [m.present, roll ? roll.members.length : m.present];
    item.append(el("p", { class: "held" }, say("held", { n: Sotay.number(came), m: Sotay.number(of) })));
    item.append(m.minutes ? minutesLink(m.minutes) : el("p", { class: "muted" }, t("no_minutes_yet")));
  } else if (started) {
    item.append(el("p", { class: "warn" }, t("not_recorded")));
  }
  if (started && roll) {
    const open = el("button", { type: "button", class: m.held_at ? "secondary open-record" : "open-record" },
      t(m.held_at ? "record_again" : "record"));
    open.addEventListener("click", () => {
      if (!panel.hidden) { panel.hidden = true; return; }
      panel.replaceChildren(recordForm(m, roll, panel));
      panel.hidden = false;
      panel.scrollIntoView({ block: "start" });
    });
    item.append(el("p", {}, open), panel);
  } else if (!started) {
    item.append(el("p", { class: "muted" }, t("record_later")));
  }
  return item;
}

// The minutes: a button that downloads the file (it needs the sign-in, a plain link would not carry it).
function minutesLink(documentId) {
  const button = el("button", { type: "button", class: "secondary minutes-link" }, t("minutes_attached"));
  const holder = el("p", {}, button);
  Sotay.json(`${API}/documents/${documentId}`).then((doc) => {
    button.textContent = say("minutes_of", { t: doc.title });
    button.addEventListener("click", () => Sotay.download(`${API}/documents/${documentId}/file`, doc.filename)
      .catch(failed));
  }).catch(() => { holder.replaceChildren(el("span", { class: "muted" }, t("minutes_attached"))); });
  return holder;
}

// --- recording a meeting: who came, why the others did not, the minutes ---------------------------
function recordForm(m, roll, panel) {
  const form = el("form", { class: "record-form", novalidate: "" });
  const ticks = roll.members.map((x) => rollRow(m, x));
  const minutes = minutesChoice(m);
  const done = el("p", { class: "error record-error", role: "alert" });
  form.append(
    el("fieldset", { class: "roll" }, el("legend", {}, t("who_came")), el("ul", { class: "plain roll" }, ...ticks.map((r) => r.node))),
    minutes.node,
    el("div", { class: "actions" }, el("button", { type: "submit", class: "send-record" }, t("send")),
      el("button", { type: "button", class: "secondary", onclick: () => { panel.hidden = true; } }, t("close"))),
    done);
  Sotay.sending(form, async (key) => {
    done.textContent = "";
    const present = ticks.filter((r) => r.box.checked).map((r) => r.id);
    const excused = Object.fromEntries(ticks.filter((r) => !r.box.checked && r.reason.value.trim())
      .map((r) => [r.id, r.reason.value.trim()]));
    await Sotay.post(`${API}/meetings/${m.id}/record`, { present, excused, minutes: minutes.value() }, key);
    $("error").textContent = "";
    await Promise.all([showMeetings(), showAbsences()]);
    const shown = document.querySelector(`article.meeting[data-id="${m.id}"]`);
    if (shown) {
      shown.append(el("p", { class: "notice recorded", role: "status" }, t("recorded")));
      shown.scrollIntoView({ block: "start" });
    }
  }, (err) => { done.textContent = Sotay.explain(err); });
  return form;
}

// A member of the roll: their box (ticked if they came, or, before it is recorded, if they said
// they would), what they answered, and the reason of their absence when unticked.
function rollRow(m, x) {
  const id = x.member_id, prefix = `r-${m.id}-${id}`;
  const ticked = m.held_at ? x.present === true : x.attending === true;
  const box = el("input", { type: "checkbox", id: `${prefix}-here`, value: id });
  box.checked = ticked;
  const said = x.attending === true ? t("said_yes") : x.attending === false
    ? (x.note ? say("said_no_note", { r: x.note }) : t("said_no")) : t("no_answer");
  const reason = el("input", { id: `${prefix}-why`, maxlength: "500", autocomplete: "off",
    "aria-describedby": `${prefix}-why-hint` });
  // A reason the secretary gave before (not the member's own answer, which counts when left empty).
  if (m.held_at && x.present === false && x.reason && x.reason !== x.note) reason.value = x.reason;
  const why = el("div", { class: "why" },
    el("label", { for: reason.id }, t("absence_reason")),
    el("p", { id: `${prefix}-why-hint`, class: "hint" }, t(x.attending === false && x.note ? "reason_kept" : "reason_none")),
    reason);
  why.hidden = ticked;
  box.addEventListener("change", () => { why.hidden = box.checked; });
  const node = el("li", { "data-member": id },
    el("label", { class: "check", for: box.id }, box, el("span", { class: "name" }, memberName(x))),
    el("p", { class: "muted said" }, said), why);
  return { id, box, reason, node };
}

// The minutes: a document of the library, searched by its title or number, or none; for an editor
// of the cell, a file uploaded here (then chosen). What is chosen stays listed whatever is searched.
function minutesChoice(m) {
  const name = `minutes-${m.id}`;
  const labels = new Map();
  let chosen = m.minutes || null, found = [];
  const label = (d) => {
    const day = d.issued_on ? Sotay.date(d.issued_on) : "";
    const text = [d.number, d.title].filter(Boolean).join(" — ") + (day && !d.title.includes(day) ? ` (${day})` : "");
    labels.set(d.id, text);
    return text;
  };
  const option = (value, text) => {
    const radio = el("input", { type: "radio", name, value, id: `${name}-${value || "none"}` });
    radio.checked = (value || null) === chosen;
    radio.addEventListener("change", () => { if (radio.checked) chosen = value || null; });
    return el("li", {}, el("label", { class: "check", for: radio.id }, radio, el("span", {}, text)));
  };
  const options = el("ul", { class: "plain documents" });
  const draw = () => {
    const others = found.filter((d) => d.id !== chosen);
    options.replaceChildren(option("", t("no_doc")),
      ...(chosen ? [option(chosen, labels.get(chosen) || t("minutes_attached"))] : []),
      ...others.map((d) => option(d.id, labels.get(d.id))),
      ...(found.length ? [] : [el("li", { class: "muted" }, t("no_docs_found"))]));
  };
  const search = async (q) => {
    found = (await Sotay.json(`${API}/documents?limit=10${q ? `&q=${encodeURIComponent(q)}` : ""}`)).items;
    found.forEach(label);
    draw();
  };
  const q = el("input", { id: `${name}-q`, type: "search", autocomplete: "off", maxlength: "200" });
  const find = el("button", { type: "button", class: "secondary" }, t("find"));
  find.addEventListener("click", () => search(q.value.trim()).catch(failed));
  q.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); find.click(); } });
  draw();
  if (m.minutes) Sotay.json(`${API}/documents/${m.minutes}`).then((d) => { label(d); draw(); }).catch(() => {});
  search("").catch(failed);
  const node = el("fieldset", { class: "minutes" }, el("legend", {}, t("minutes")),
    el("label", { for: q.id }, t("find_doc")), el("div", { class: "find-row" }, q, find), options,
    uploadBlock(m, name, (doc) => { label(doc); chosen = doc.id; draw(); }));
  return { node, value: () => chosen };
}

// The cell's secretary (or a unit admin above it) adds the cell's own minutes; an editor any document.
const UPLOADERS = [...EDITORS, "cell_secretary", "unit_admin"];
const mayUpload = () => me && me.roles.some((g) => UPLOADERS.includes(g.role) && cellPath.includes(g.unit));

function uploadBlock(m, name, added) {
  if (!mayUpload()) return el("p", { class: "muted no-upload" }, t("no_upload"));
  const day = Sotay.date(m.starts_at);
  const title = el("input", { id: `${name}-title`, maxlength: "500", autocomplete: "off" });
  title.value = say("doc_title_value", { d: day });
  const file = el("input", { id: `${name}-file`, type: "file", accept: ".pdf,.doc,.docx,.odt,.png,.jpg,.jpeg" });
  const chosenName = el("span", { class: "muted file-name" }, t("no_file"));
  file.addEventListener("change", () => { chosenName.textContent = file.files[0] ? file.files[0].name : t("no_file"); });
  const button = el("button", { type: "button", class: "secondary upload" }, t("upload"));
  const said = el("p", { class: "notice", role: "status" });
  const wrong = el("p", { class: "error", role: "alert" });
  title.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); button.click(); } });
  button.addEventListener("click", async () => {
    said.textContent = ""; wrong.textContent = "";
    if (!file.files[0]) { Sotay.fieldError(file, t("pick_file")); return; }
    const body = new FormData();
    body.append("file", file.files[0]);
    body.append("title", title.value.trim());
    body.append("kind", "other");
    body.append("unit", cell);
    body.append("issuing_body", cellName(cell));
    // The day it was held, when the library takes it: not a day after the server's own (UTC) today.
    const issued = Sotay.isoDate(day);
    if (issued <= new Date().toISOString().slice(0, 10)) body.append("issued_on", issued);
    button.disabled = true; button.textContent = t("uploading");
    try {
      const doc = await Sotay.json(`${API}/documents`, { method: "POST", body });
      added(doc);
      said.textContent = t("uploaded");
    } catch (err) {
      const about = ((err.problem && err.problem.errors) || []);
      const inputs = { file, title };
      about.filter((x) => inputs[x.field]).forEach((x) => Sotay.fieldError(inputs[x.field], Sotay.reason(x.reason)));
      if (!about.length || about.some((x) => !inputs[x.field])) wrong.textContent = Sotay.explain(err);
    } finally { button.disabled = false; button.textContent = t("upload"); }
  });
  return el("div", { class: "upload-block" }, el("h5", {}, t("upload_title")),
    el("label", { for: title.id }, t("doc_title")), title,
    el("div", { class: "file-pick" }, file, el("label", { for: file.id, class: "button secondary" }, t("choose_file")), chosenName),
    el("p", {}, button), said, wrong);
}

// --- absences two regular meetings running --------------------------------------------------------
async function showAbsences() {
  const shown = cell;
  const { items } = await Sotay.json(`/api/content/v1/cells/${encodeURIComponent(shown)}/absences`);
  if (cell !== shown) return;  // another cell was chosen meanwhile
  $("absences").replaceChildren(...(items.length ? items.map((a) => el("li", { "data-member": a.member_id },
    el("strong", {}, memberName(a)), el("br"),
    el("span", { class: "muted" }, say("missed", { d: a.dates.map((d) => Sotay.date(d)).join(", ") }))))
    : [el("li", { class: "muted" }, t("no_absences"))]));
  $("absences-section").hidden = false;
}

// --- next month's planning, for every cell of the caller -------------------------------------------
function drawPlanning() {
  drawPlanState();
  $("planning-title").textContent = say("planning_title", { m: monthName(planning.month) });
  $("planning-deadline").textContent = say("planning_deadline", { d: lastDay(planning.deadline) });
  const tile = (figure, value, label) => el("div", { class: "tile", "data-figure": figure },
    el("div", { class: "value" }, value), el("div", { class: "label" }, label));
  $("planning-tiles").replaceChildren(
    tile("planned", `${Sotay.number(planning.planned)}/${Sotay.number(planning.total)}`, t("t_planned")),
    tile("on_time", Sotay.number(planning.on_time), t("t_on_time")),
    tile("total", Sotay.number(planning.total), t("t_total")));
  const missing = planning.cells.filter((c) => !c.meeting_id);
  $("not-planned").replaceChildren(...(missing.length ? missing.map((c) => el("li", {}, c.name))
    : [el("li", { class: "muted" }, t("all_planned"))]));
  const late = planning.cells.filter((c) => c.meeting_id && !c.on_time);
  $("late").replaceChildren(...late.map((c) => el("li", {}, `${c.name}: ${when(c.starts_at)}`)));
  $("late-block").hidden = late.length === 0;
  $("planning-section").hidden = false;
}

// --- start ----------------------------------------------------------------------------------------
$("cell").addEventListener("change", () => showCell($("cell").value).catch(failed));

async function start() {
  $("signout").hidden = false;
  try {
    me = await Sotay.json("/api/identity/v1/me");
    try { await loadPlanning(); } catch (err) {
      if (err.status === 403) { $("error").textContent = t("not_staff"); return; }
      throw err;
    }
    if (!cells.length) { $("error").textContent = t("no_cells"); return; }
    $("cell").replaceChildren(...cells.map((c) => el("option", { value: c.cell }, c.name)));
    $("cell-choice").hidden = cells.length < 2;
    $("cell-section").hidden = false; $("plan-section").hidden = false;
    await showCell(cells[0].cell);
  } catch (err) { failed(err); }
}

Sotay.start(start);
