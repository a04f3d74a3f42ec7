// The editorial console: write drafts, the desk of the units one edits with
// each article's next steps (submit; approve or send back with comments;
// publish now or at a time, with an expiry; retract with a reason), an
// article's history, and the RSS/Atom sources with their last import. A source
// that publishes at once does so only once a second chief editor (not the one
// who added it) approves it: the table shows which wait, and offers the approval.
// A chief editor previews an article as members will read it before approving
// it; an author edits their draft; nobody is offered "Duyệt" on what they wrote
// (two people publish); the history names people; times are Hà Nội's (GMT+7);
// units are chosen by name, searched as one types.
//
// Study (học tập nghị quyết): an editor writes a study topic (its documents from the library, and a
// quiz of questions with 2 to 6 options, the right one ticked) and saves it as a draft; another
// chief editor publishes it. The completion of a topic per cell (members, completed, the average
// score; never a member's score) is shown to the editors, and to the units' staff (unit and city
// admins, cell secretaries), who see only that part of this page; a cell's secretary also sees
// who has not completed it yet.
"use strict";

Sotay.words({
  vi: {
    title: "Biên tập tin bài", write: "Viết tin bài", f_title: "Tiêu đề", f_summary: "Tóm tắt",
    f_body: "Nội dung (Markdown)", f_category: "Chuyên mục",
    f_audience: "Gửi tới (gõ tên đơn vị để tìm)",
    f_unit: "Đơn vị đăng tin (để trống: đơn vị của đồng chí)", save_draft: "Lưu bản nháp", saved_draft: "Đã lưu bản nháp.",
    save_edit: "Lưu thay đổi", saved_edit: "Đã lưu thay đổi của bản nháp.", cancel_edit: "Thôi sửa",
    editing: "Sửa bản nháp", edit: "Sửa", preview: "Xem trước: bài như đảng viên sẽ đọc", preview_btn: "Xem trước",
    close: "Đóng", audience_is: "Gửi tới", unit_search: "Gõ tên đơn vị, ví dụ: Ba Đình", unit_none: "Không thấy đơn vị nào.",
    unit_remove: "Bỏ", unit_pick_hint: "Chọn một đơn vị trong danh sách.",
    tz: "giờ Hà Nội, GMT+7", hanoi: "giờ Hà Nội",
    two_person: "Bài do đồng chí viết (hoặc lấy từ nguồn tin đồng chí thêm): theo nguyên tắc hai người, cần một tổng biên tập khác duyệt.",
    two_person_author: "Đồng chí là tác giả của bài này nên không tự duyệt được: theo nguyên tắc hai người, cần một tổng biên tập khác duyệt.",
    two_person_feed: "Đồng chí đã thêm nguồn tin của bài này nên không tự duyệt được: theo nguyên tắc hai người, cần một tổng biên tập khác duyệt.",
    only_chief: "Chỉ tổng biên tập của đơn vị đăng tin hoặc đơn vị cấp trên mới làm được việc này.",
    wrong_status: "Bài này không còn ở bước đó (có thể đồng chí khác vừa xử lý). Đề nghị xem lại danh sách.",
    waits_chief: "Chờ tổng biên tập duyệt.",
    r_editor: "Biên tập viên", r_chief_editor: "Tổng biên tập", someone: "Cán bộ biên tập (không rõ tên)",
    by_scheduler: "Hệ thống (đăng theo giờ hẹn)", by_feed: "Nguồn tin tự động",
    a_create: "tạo bản nháp", a_edit: "sửa bản nháp", a_submit: "gửi duyệt", a_return: "trả lại", a_approve: "duyệt",
    a_schedule: "hẹn giờ đăng", a_publish: "đăng", a_retract: "gỡ tin", a_import: "lấy từ nguồn tin",
    at_time: "lúc",
    desk: "Bàn biên tập", status: "Trạng thái", all: "Tất cả", feeds: "Nguồn tin tự động (RSS, Atom)",
    fd_url: "Địa chỉ nguồn tin", fd_unit: "Đơn vị",
    fd_publish: "Đăng ngay, sau khi một tổng biên tập khác duyệt nguồn tin", fd_add: "Thêm nguồn tin",
    fd_mode: "Cách đăng", fd_drafts: "Giữ bản nháp để duyệt", fd_waiting: "Đăng ngay — chờ tổng biên tập khác duyệt",
    fd_approved: "Đăng ngay — đã duyệt", fd_approve: "Duyệt đăng ngay", fd_not_yours: "Cần một tổng biên tập khác duyệt",
    news: "Tin tức", directive: "Chỉ đạo", guidance: "Hướng dẫn", qa: "Hỏi đáp", local_news: "Tin cơ sở",
    draft: "Bản nháp", submitted: "Chờ duyệt", approved: "Đã duyệt", scheduled: "Hẹn giờ đăng",
    published: "Đã đăng", retracted: "Đã gỡ", article: "Tin bài", unit: "Đơn vị", updated: "Trạng thái",
    actions: "Xử lý", submit: "Gửi duyệt", approve: "Duyệt", send_back: "Trả lại", publish_now: "Đăng ngay",
    schedule: "Hẹn giờ", publish_at: "Đăng lúc (giờ Hà Nội, GMT+7)", expires_at: "Hết hạn lúc (giờ Hà Nội, GMT+7)",
    retract: "Gỡ tin",
    comment: "Ý kiến", reason: "Lý do", confirm: "Xác nhận", history: "Lịch sử", url: "Nguồn",
    last_import: "Lần lấy tin gần nhất", imported: "Đã lấy", error: "Lỗi", never: "chưa", ok: "tốt",
    empty: "Không có tin bài.", no_feeds: "Chưa có nguồn tin.",
    title_study: "Học tập nghị quyết",
    st_write: "Học tập nghị quyết: soạn chuyên đề", st_editing: "Sửa chuyên đề",
    st_note: "Biên tập viên soạn chuyên đề, tài liệu và bài kiểm tra rồi lưu bản nháp; một tổng biên tập khác đăng chuyên đề cho đảng viên.",
    st_title: "Tên chuyên đề", st_description: "Giới thiệu ngắn",
    st_documents: "Tài liệu học tập (gõ số hoặc tên văn bản trong thư viện)", doc_search: "Gõ số hoặc tên văn bản, ví dụ: 121-KH/TU",
    doc_none: "Không thấy văn bản nào trong thư viện.", doc_remove: "Bỏ tài liệu",
    st_questions: "Câu hỏi kiểm tra", st_questions_hint: "Mỗi câu có từ 2 đến 6 phương án; bấm vào ô tròn bên cạnh phương án đúng.",
    st_add_question: "Thêm câu hỏi", st_question: "Câu hỏi {n}", st_options: "Các phương án (chọn phương án đúng)",
    st_option: "Phương án {n}", st_right: "Phương án {n} là đáp án đúng", st_add_option: "Thêm phương án",
    st_remove_option: "Bỏ phương án {n}", st_explanation: "Giải thích đáp án (không bắt buộc)",
    st_remove_question: "Bỏ câu hỏi này", st_saved: "Đã lưu bản nháp chuyên đề.", st_saved_edit: "Đã lưu thay đổi của chuyên đề.",
    st_published: "Đã đăng chuyên đề cho đảng viên.", st_desk: "Các chuyên đề", st_topic: "Chuyên đề", st_done: "Đã làm bài",
    st_draft: "Bản nháp", st_published_on: "Đã đăng ngày {d}", st_publish: "Đăng cho đảng viên",
    st_results: "Xem kết quả", st_no_topics: "Chưa có chuyên đề nào.", st_counts: "{q} câu hỏi · {d} tài liệu",
    st_needs_another: "Đồng chí soạn chuyên đề này: theo nguyên tắc hai người, cần một tổng biên tập khác đăng.",
    st_waits_chief: "Chờ tổng biên tập đăng.",
    st_need_title: "Đề nghị nhập tên chuyên đề (ít nhất 3 ký tự).", st_need_description: "Đề nghị viết giới thiệu ngắn.",
    st_need_audience: "Đề nghị chọn đơn vị nhận chuyên đề.", st_need_prompt: "Đề nghị nhập nội dung câu hỏi.",
    st_need_option: "Đề nghị nhập phương án này, hoặc bỏ đi.", st_need_right: "Đề nghị đánh dấu phương án đúng.",
    st_check: "Chuyên đề chưa lưu được, đề nghị xem các ô được đánh dấu đỏ.",
    "f.title": "Tên chuyên đề", "f.description": "Giới thiệu ngắn", "f.documents": "Tài liệu học tập", "f.audience": "Gửi tới",
    "f.unit": "Đơn vị đăng tin", "f.questions": "Câu hỏi kiểm tra",
    cp_title: "Kết quả học tập nghị quyết theo chi bộ", cp_unit: "Đơn vị", cp_topic: "Chuyên đề",
    cp_note: "Số đảng viên đã làm bài kiểm tra và điểm trung bình của từng chi bộ. Không hiện điểm của từng người.",
    cp_average_note: "Điểm trung bình chỉ hiện khi chi bộ có từ 3 đảng viên làm bài trở lên, để không lộ điểm của ai.",
    cp_no_topics: "Chưa có chuyên đề nào gửi tới đơn vị này.", cp_cell: "Chi bộ", cp_members: "Đảng viên",
    cp_completed: "Đã làm bài", cp_rate: "Tỷ lệ", cp_average: "Điểm trung bình", cp_missing: "Chưa làm bài",
    cp_all_done: "Đã làm hết", cp_hidden: "(chưa đủ 3 người)", cp_no_cells: "Không có chi bộ nào của đơn vị nhận chuyên đề này.",
    cp_summary: "Toàn đơn vị: {c}/{m} đảng viên đã làm bài ({r}); điểm trung bình {a}.", cp_under: "— {name}",
    cp_restricted: "(đảng viên đề nghị hạn chế xử lý dữ liệu)",
  },
  en: {
    title: "Editorial desk", write: "Write an article", f_title: "Title", f_summary: "Summary",
    f_body: "Body (Markdown)", f_category: "Category",
    f_audience: "Audience (type a unit's name to search)",
    f_unit: "Author unit (empty: your unit)", save_draft: "Save the draft", saved_draft: "Draft saved.",
    save_edit: "Save the changes", saved_edit: "The draft's changes are saved.", cancel_edit: "Stop editing",
    editing: "Edit the draft", edit: "Edit", preview: "Preview: the article as members will read it", preview_btn: "Preview",
    close: "Close", audience_is: "Audience", unit_search: "Type a unit's name, e.g. Ba Đình", unit_none: "No unit found.",
    unit_remove: "Remove", unit_pick_hint: "Choose a unit from the list.",
    tz: "Hà Nội time, GMT+7", hanoi: "Hà Nội time",
    two_person: "You wrote this (or added the source it came from): two people publish, so another chief editor must approve it.",
    two_person_author: "You wrote this article, so you cannot approve it: two people publish, another chief editor must.",
    two_person_feed: "You added this article's source, so you cannot approve it: two people publish, another chief editor must.",
    only_chief: "Only a chief editor of the author unit or a unit above it may do this.",
    wrong_status: "This article is no longer at that step (someone may just have handled it). Please look at the list again.",
    waits_chief: "Waiting for a chief editor.",
    r_editor: "Editor", r_chief_editor: "Chief editor", someone: "An editor (name unknown)",
    by_scheduler: "The system (at the scheduled time)", by_feed: "Automatic source",
    a_create: "created the draft", a_edit: "edited the draft", a_submit: "submitted", a_return: "sent back",
    a_approve: "approved", a_schedule: "scheduled", a_publish: "published", a_retract: "retracted",
    a_import: "imported from a source", at_time: "at",
    desk: "Desk", status: "Status", all: "All", feeds: "Automatic sources (RSS, Atom)",
    fd_url: "Feed address", fd_unit: "Unit",
    fd_publish: "Publish at once, once another chief editor approves the source", fd_add: "Add the source",
    fd_mode: "Publishing", fd_drafts: "Drafts for review", fd_waiting: "At once — waiting for another chief editor",
    fd_approved: "At once — approved", fd_approve: "Approve publishing at once", fd_not_yours: "Another chief editor must approve",
    news: "News", directive: "Directive", guidance: "Guidance", qa: "Q&A", local_news: "Local news",
    draft: "Draft", submitted: "Submitted", approved: "Approved", scheduled: "Scheduled",
    published: "Published", retracted: "Retracted", article: "Article", unit: "Unit", updated: "Status",
    actions: "Next step", submit: "Submit", approve: "Approve", send_back: "Send back", publish_now: "Publish now",
    schedule: "Schedule", publish_at: "Publish at (Hà Nội time, GMT+7)", expires_at: "Expires at (Hà Nội time, GMT+7)",
    retract: "Retract",
    comment: "Comment", reason: "Reason", confirm: "Confirm", history: "History", url: "Source",
    last_import: "Last import", imported: "Imported", error: "Error", never: "never", ok: "ok",
    empty: "No articles.", no_feeds: "No sources yet.",
    title_study: "Studying the resolutions",
    st_write: "Studying the resolutions: write a topic", st_editing: "Edit the topic",
    st_note: "An editor writes the topic, its documents and its quiz and saves a draft; another chief editor publishes it to members.",
    st_title: "Topic", st_description: "Short description",
    st_documents: "Documents to study (type a number or title from the library)", doc_search: "Type a document's number or title, e.g. 121-KH/TU",
    doc_none: "No document found in the library.", doc_remove: "Remove the document",
    st_questions: "Quiz questions", st_questions_hint: "Each question has 2 to 6 options; tick the circle beside the right one.",
    st_add_question: "Add a question", st_question: "Question {n}", st_options: "Options (tick the right one)",
    st_option: "Option {n}", st_right: "Option {n} is the right answer", st_add_option: "Add an option",
    st_remove_option: "Remove option {n}", st_explanation: "Why it is right (optional)",
    st_remove_question: "Remove this question", st_saved: "The topic's draft is saved.", st_saved_edit: "The topic's changes are saved.",
    st_published: "The topic is published to members.", st_desk: "Topics", st_topic: "Topic", st_done: "Completed",
    st_draft: "Draft", st_published_on: "Published on {d}", st_publish: "Publish to members",
    st_results: "See the results", st_no_topics: "No topics yet.", st_counts: "{q} questions · {d} documents",
    st_needs_another: "You wrote this topic: two people publish, so another chief editor must publish it.",
    st_waits_chief: "Waiting for a chief editor.",
    st_need_title: "Please give the topic a title (at least 3 characters).", st_need_description: "Please write a short description.",
    st_need_audience: "Please choose the units it is for.", st_need_prompt: "Please write the question.",
    st_need_option: "Please write this option, or remove it.", st_need_right: "Please tick the right option.",
    st_check: "The topic was not saved: please look at the fields marked in red.",
    "f.title": "Topic", "f.description": "Short description", "f.documents": "Documents", "f.audience": "Audience",
    "f.unit": "Author unit", "f.questions": "Quiz questions",
    cp_title: "Study of the resolutions, per cell", cp_unit: "Unit", cp_topic: "Topic",
    cp_note: "How many members of each cell completed the quiz, and their average score. Never a person's score.",
    cp_average_note: "An average is shown only when 3 or more members of the cell completed the quiz, so that it tells no one's score.",
    cp_no_topics: "No topic has been sent to this unit yet.", cp_cell: "Cell", cp_members: "Members",
    cp_completed: "Completed", cp_rate: "Rate", cp_average: "Average score", cp_missing: "Not completed yet",
    cp_all_done: "Everyone has", cp_hidden: "(fewer than 3)", cp_no_cells: "None of this unit's cells is sent this topic.",
    cp_summary: "The whole unit: {c} of {m} members completed it ({r}); average score {a}.", cp_under: "— {name}",
    cp_restricted: "(a member who asked to restrict the processing of their data)",
  },
});

const $ = (id) => document.getElementById(id);
const CATEGORIES = ["news", "directive", "guidance", "qa", "local_news"];
const STATUSES = ["draft", "submitted", "approved", "scheduled", "published", "retracted"];

// Times are Hà Nội's whatever the device's zone: shown dd/mm/yyyy hh:mm, and what is typed in a
// time field is read as GMT+7.
const HANOI = new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Ho_Chi_Minh", day: "2-digit", month: "2-digit",
  year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
function when(iso) {
  if (!iso) return "—";
  const p = Object.fromEntries(HANOI.formatToParts(new Date(iso)).map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
}
const hanoiInput = (value) => new Date(`${value}:00+07:00`).toISOString();

// The service's refusals the desk can meet, by their stable code, said in the reader's language
// (the rest: Sotay.explain).
const REFUSALS = ["two_person_author", "two_person_feed", "only_chief", "wrong_status"];
function fail(err) {
  const code = err.code || (err.problem && err.problem.code);
  $("error").textContent = REFUSALS.includes(code) ? Sotay.t(code) : Sotay.explain(err);
  $("error").scrollIntoView({ block: "nearest" });
}

// --- units by name: a search box and the units chosen ---------------------------------------
const unitNames = new Map();  // code -> "name (the unit above)", as the service named them
const unitLabel = (u) => (u.parent_name ? `${u.name} — ${u.parent_name}` : u.name);
async function findUnits(q, limit = 8) {
  const { items } = await Sotay.json(`/api/content/v1/units?limit=${limit}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  for (const u of items) unitNames.set(u.code, unitLabel(u));
  return items;
}
async function unitName(code) {
  if (!unitNames.has(code)) {
    try { await findUnits(code, 20); } catch { /* the code is shown instead */ }
  }
  return unitNames.get(code) || code;
}

function unitPicker(box) {
  const multiple = box.dataset.multiple === "1";
  const chosen = [];
  const list = Sotay.el("ul", { class: "unit-chosen", "aria-live": "polite" });
  const input = Sotay.el("input", { id: box.dataset.input, type: "search", autocomplete: "off",
    placeholder: Sotay.t("unit_search"), "aria-controls": `${box.id}-results`, "aria-autocomplete": "list" });
  const results = Sotay.el("ul", { class: "unit-results", id: `${box.id}-results`, hidden: "" });
  box.replaceChildren(list, input, results);
  const draw = () => list.replaceChildren(...chosen.map((code) => Sotay.el("li", { "data-code": code },
    Sotay.el("span", {}, unitNames.get(code) || code),
    Sotay.el("button", { type: "button", class: "secondary unit-remove", "aria-label": `${Sotay.t("unit_remove")} ${unitNames.get(code) || code}`,
      onclick: () => { chosen.splice(chosen.indexOf(code), 1); draw(); } }, "×"))));
  const choose = (u) => {
    if (!multiple) chosen.length = 0;
    if (!chosen.includes(u.code)) chosen.push(u.code);
    input.value = ""; results.hidden = true; draw(); input.focus();
  };
  let asked = 0;
  const search = async () => {
    const mine = ++asked;
    try {
      const items = await findUnits(input.value.trim());
      if (mine !== asked) return;
      results.replaceChildren(...(items.length ? items.map((u) => Sotay.el("li", {},
        Sotay.el("button", { type: "button", class: "unit-choice", "data-code": u.code, onclick: () => choose(u) },
          Sotay.el("strong", {}, u.name), u.parent_name ? Sotay.el("span", { class: "muted" }, ` — ${u.parent_name}`) : "")))
        : [Sotay.el("li", { class: "muted" }, Sotay.t("unit_none"))]));
      results.hidden = false;
    } catch (err) { fail(err); }
  };
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener("focus", () => { if (results.hidden) search(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") results.hidden = true;
    if (e.key === "Enter") {  // Enter takes the first unit found, not the form
      e.preventDefault();
      const first = results.querySelector("button.unit-choice");
      if (first && !results.hidden) first.click();
    }
  });
  return {
    get codes() { return [...chosen]; },
    async set(codes) { await Promise.all(codes.map(unitName)); chosen.splice(0, chosen.length, ...codes); draw(); },
  };
}

// --- writing and editing a draft -----------------------------------------------------------
let editing = null;  // the id of the draft the form edits, or null: a new one
const audience = unitPicker($("w-audience-picker"));
const authorUnit = unitPicker($("w-unit-picker"));
const feedUnit = unitPicker($("fd-unit-picker"));

async function defaultUnits() {
  try {
    const [top] = await findUnits("", 1);  // the top of the units one edits
    if (top) { await audience.set([top.code]); await feedUnit.set([top.code]); }
  } catch (err) { fail(err); }
}

function stopEditing() {
  editing = null;
  $("write-form").reset(); authorUnit.set([]);
  $("w-save").textContent = Sotay.t("save_draft"); $("write-heading").textContent = Sotay.t("write");
  $("w-cancel").hidden = true;
  defaultUnits();
}

async function startEditing(a) {
  try {
    const full = await Sotay.json(`/api/content/v1/articles/${a.id}`);
    editing = full.id;
    $("w-title").value = full.title; $("w-summary").value = full.summary_written || ""; $("w-body").value = full.body || "";
    $("w-category").value = full.category;
    await audience.set(full.audience); await authorUnit.set([full.author_unit]);
    $("write-heading").textContent = `${Sotay.t("editing")}: ${full.title}`;
    $("w-save").textContent = Sotay.t("save_edit"); $("w-cancel").hidden = false; $("write-done").textContent = "";
    $("write-form").scrollIntoView({ block: "start" }); $("w-title").focus();
  } catch (err) { fail(err); }
}

// --- the preview: the sanitised body as members will see it --------------------------------
// The service sanitised body_html with an allow-list when it was written; the page parses it inert
// (DOMParser runs nothing) and drops anything active again before showing it.
function inert(html) {
  const doc = new DOMParser().parseFromString(html || "", "text/html");
  doc.body.querySelectorAll("script, style, iframe, object, embed, form, link, meta, base").forEach((n) => n.remove());
  for (const node of doc.body.querySelectorAll("*")) {
    for (const { name, value } of [...node.attributes]) {
      if (/^on/i.test(name) || (/^(href|src|action|formaction|xlink:href)$/i.test(name)
        && /^\s*(javascript|vbscript|data):/i.test(value))) node.removeAttribute(name);
    }
    if (node.tagName === "A") { node.setAttribute("rel", "noopener noreferrer"); node.setAttribute("target", "_blank"); }
  }
  return [...doc.body.childNodes].map((n) => document.importNode(n, true));
}

async function showPreview(a) {
  try {
    const full = await Sotay.json(`/api/content/v1/articles/${a.id}`);
    const names = await Promise.all(full.audience.map(unitName));
    $("preview-title").textContent = full.title;
    $("preview-summary").textContent = full.summary || "";
    $("preview-body").replaceChildren(...inert(full.body_html));
    $("preview-meta").textContent = `${Sotay.t(full.category)} · ${Sotay.t(full.status)} · ${Sotay.t("audience_is")}: ${names.join(", ")}`;
    $("preview").hidden = false;
    $("preview").dataset.id = full.id;
    $("preview").scrollIntoView({ block: "start" });
  } catch (err) { fail(err); }
}
$("preview-close").addEventListener("click", () => { $("preview").hidden = true; });

// --- the desk --------------------------------------------------------------------------------
// A step that needs a text (comment, reason) or times: a small inline form under the row.
function stepForm(row, label, fields, run) {
  const inputs = fields.map(([key, type]) => Sotay.el("input", { type, id: `${row.dataset.id}-${key}`, name: key }));
  const form = Sotay.el("form", { class: "step" }, ...fields.flatMap(([key], i) => [
    Sotay.el("label", { for: inputs[i].id }, Sotay.t(key)), inputs[i]]),
  Sotay.el("button", { type: "submit" }, Sotay.t("confirm")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(fields.map(([key, type], i) => [key,
      inputs[i].value ? (type === "datetime-local" ? hanoiInput(inputs[i].value) : inputs[i].value) : null]));
    try { await run(values); await loadDesk(); } catch (err) { fail(err); }
  });
  return Sotay.el("button", { class: "secondary", onclick: () => {
    if (!form.isConnected) row.querySelector("td:last-child").append(form);  // once, however often it is pressed
    inputs[0].focus();
  } }, Sotay.t(label));
}

function actionsFor(a, row) {
  const path = `/api/content/v1/articles/${a.id}`;
  const now = (step, body) => Sotay.el("button", { class: `do-${step}`, onclick: async () => {
    try { await Sotay.post(`${path}/${step}`, body); await loadDesk(); } catch (err) { fail(err); } } }, Sotay.t(step === "publish" ? "publish_now" : step));
  let note = null;
  const out = [Sotay.el("button", { class: "secondary do-preview", onclick: () => showPreview(a) }, Sotay.t("preview_btn"))];
  if (a.status === "draft") {
    out.push(Sotay.el("button", { class: "secondary do-edit", onclick: () => startEditing(a) }, Sotay.t("edit")), now("submit"));
  }
  if (a.status === "submitted") {
    // Nobody is offered to approve what they wrote, or what came from a source they added: two people publish.
    if (a.may_review && !a.yours) out.push(now("approve"));
    if (a.may_review) out.push(stepForm(row, "send_back", [["comment", "text"]], (v) => Sotay.post(`${path}/return`, v)));
    if (a.yours) note = Sotay.el("p", { class: "two-person" }, Sotay.t("two_person"));
    else if (!a.may_review) note = Sotay.el("p", { class: "muted" }, Sotay.t("waits_chief"));
  }
  if (a.status === "approved" && a.may_review) {
    out.push(now("publish"), stepForm(row, "schedule", [["publish_at", "datetime-local"], ["expires_at", "datetime-local"]],
      (v) => Sotay.post(`${path}/publish`, v)));
  }
  if ((a.status === "published" || a.status === "scheduled") && a.may_review) {
    out.push(stepForm(row, "retract", [["reason", "text"]], (v) => Sotay.post(`${path}/retract`, v)));
  }
  out.push(Sotay.el("button", { class: "secondary do-history", onclick: () => showHistory(a) }, Sotay.t("history")));
  if (note) out.push(note);
  return out;
}

// Who took a step, as people say it: the name when known, the role and the unit's name.
function who(h) {
  if (h.actor === "scheduler") return Sotay.t("by_scheduler");
  if (h.actor.startsWith("feed:")) return Sotay.t("by_feed");
  const role = h.actor_role ? [Sotay.t(`r_${h.actor_role}`), h.actor_unit_name || h.actor_unit].filter(Boolean).join(", ") : "";
  if (h.actor_name) return role ? `${h.actor_name} (${role})` : h.actor_name;
  return role || Sotay.t("someone");
}

function step(h) {
  const scheduled = h.action === "schedule" && /^publish at (.+)$/.exec(h.comment || "");
  if (scheduled) return `${Sotay.t("a_schedule")} ${when(scheduled[1])} (${Sotay.t("hanoi")})`;
  return Sotay.t(`a_${h.action}`) + (h.comment ? ` («${h.comment}»)` : "");
}

async function showHistory(a) {
  try {
    const { items } = await Sotay.json(`/api/content/v1/articles/${a.id}/history`);
    $("history").replaceChildren(Sotay.el("h3", {}, `${Sotay.t("history")}: ${a.title}`),
      Sotay.el("p", { class: "muted" }, `(${Sotay.t("tz")})`),
      Sotay.el("ul", { class: "history" }, ...items.map((h) => Sotay.el("li", {},
        Sotay.el("span", { class: "when" }, when(h.at)), " — ", Sotay.el("strong", { class: "who" }, who(h)), `: ${step(h)}`))));
    $("history").scrollIntoView({ block: "nearest" });
  } catch (err) { fail(err); }
}

async function loadDesk() {
  const status = $("desk-status").value;
  try {
    const { items } = await Sotay.json(`/api/content/v1/articles${status ? `?status=${status}` : ""}`);
    $("desk").tHead.replaceChildren(Sotay.el("tr", {}, ...["article", "unit", "updated", "actions"].map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("desk").tBodies[0].replaceChildren(...(items.length ? items.map((a) => {
      const row = Sotay.el("tr", { "data-id": a.id, "data-status": a.status },
        Sotay.el("td", {}, Sotay.el("strong", {}, a.title), Sotay.el("div", { class: "muted" }, Sotay.t(a.category))),
        Sotay.el("td", { class: "unit", "data-label": Sotay.t("unit") }, a.author_unit_name || a.author_unit), Sotay.el("td", { class: "status" }, Sotay.t(a.status),
          a.publish_at && a.status === "scheduled" ? ` ${when(a.publish_at)} (${Sotay.t("hanoi")})` : ""),
        Sotay.el("td", {}));
      row.lastChild.append(Sotay.el("div", { class: "actions" }, ...actionsFor(a, row)));
      return row;
    }) : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "4" }, Sotay.t("empty")))]));
  } catch (err) { fail(err); }
}

// Who is signed in (the token's subject): the chief editor who added a source cannot approve it.
function me() {
  try { return JSON.parse(atob(Sotay.token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub; } catch { return null; }
}
function feedMode(f) {
  if (!f.publish) return Sotay.el("td", { class: "feed-mode" }, Sotay.t("fd_drafts"));
  if (f.publish_approved_by) {
    return Sotay.el("td", { class: "feed-mode approved" }, Sotay.t("fd_approved"));  // not an account id
  }
  const cell = Sotay.el("td", { class: "feed-mode waiting" }, Sotay.t("fd_waiting"), " ");
  if (f.created_by === me()) cell.append(Sotay.el("div", { class: "muted" }, Sotay.t("fd_not_yours")));
  else {
    cell.append(Sotay.el("button", { class: "do-approve-feed", onclick: async () => {
      try { await Sotay.post(`/api/content/v1/feeds/${f.id}/approve`); await loadFeeds(); } catch (err) { fail(err); } } },
    Sotay.t("fd_approve")));
  }
  return cell;
}

async function loadFeeds() {
  try {
    const { items } = await Sotay.json("/api/content/v1/feeds");
    await Promise.all([...new Set(items.map((f) => f.unit))].map(unitName));  // units by name
    $("feeds").tHead.replaceChildren(Sotay.el("tr", {}, ...["url", "unit", "fd_mode", "last_import", "imported", "error"].map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("feeds").tBodies[0].replaceChildren(...(items.length ? items.map((f) => Sotay.el("tr", { "data-id": f.id, class: f.last_error ? "behind" : "" },
      Sotay.el("td", {}, f.title || f.url), Sotay.el("td", { class: "unit", "data-label": Sotay.t("unit") }, unitNames.get(f.unit) || f.unit), feedMode(f),
      Sotay.el("td", { "data-label": Sotay.t("last_import") }, f.last_polled_at ? when(f.last_polled_at) : Sotay.t("never")),
      Sotay.el("td", { "data-label": Sotay.t("imported") }, f.imported ?? 0),
      // The error as the service recorded it (English), said in the reader's language only.
      Sotay.el("td", { class: "feed-error", "data-label": Sotay.t("error") },
        f.last_error ? `${Sotay.reason(f.last_error)} (×${f.failures})` : Sotay.t("ok"))))
      : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "6" }, Sotay.t("no_feeds")))]));
  } catch (err) { fail(err); }
}

// --- study (học tập nghị quyết): writing a topic and its quiz ----------------------------------------
const fillIn = (key, values) => Object.entries(values).reduce((s, [k, v]) => s.replace(`{${k}}`, v), Sotay.t(key));
let studyEditing = null;  // the id of the draft topic the form edits, or null: a new one
// The quiz being written: each question with its options and the right one (null: not ticked yet).
let studyQuestions = [];
const blankQuestion = () => ({ prompt: "", options: ["", "", "", ""], correct: null, explanation: "" });

// A library document chosen by its number or title, searched as one types (GET /documents?q=).
const documentNames = new Map();
function documentPicker(box) {
  const chosen = [];
  const list = Sotay.el("ul", { class: "unit-chosen", "aria-live": "polite" });
  const input = Sotay.el("input", { id: "st-documents", type: "search", autocomplete: "off",
    placeholder: Sotay.t("doc_search"), "aria-controls": "st-documents-results", "aria-autocomplete": "list" });
  const results = Sotay.el("ul", { class: "unit-results", id: "st-documents-results", hidden: "" });
  box.replaceChildren(list, input, results);
  const label = (d) => [d.number, d.title].filter(Boolean).join(" — ");
  const draw = () => list.replaceChildren(...chosen.map((id) => Sotay.el("li", { "data-id": id },
    Sotay.el("span", {}, documentNames.get(id) || ""),
    Sotay.el("button", { type: "button", class: "secondary unit-remove", "aria-label": `${Sotay.t("doc_remove")} ${documentNames.get(id) || ""}`,
      onclick: () => { chosen.splice(chosen.indexOf(id), 1); draw(); } }, "×"))));
  let asked = 0;
  const search = async () => {
    const mine = ++asked;
    const q = input.value.trim();
    try {
      const { items } = await Sotay.json(`/api/content/v1/documents?limit=8${q ? `&q=${encodeURIComponent(q)}` : ""}`);
      if (mine !== asked) return;
      items.forEach((d) => documentNames.set(d.id, label(d)));
      results.replaceChildren(...(items.length ? items.map((d) => Sotay.el("li", {},
        Sotay.el("button", { type: "button", class: "unit-choice", "data-id": d.id, onclick: () => {
          if (!chosen.includes(d.id)) chosen.push(d.id);
          input.value = ""; results.hidden = true; draw();
        } }, Sotay.el("strong", {}, d.number || d.title), d.number ? Sotay.el("span", { class: "muted" }, ` — ${d.title}`) : "")))
        : [Sotay.el("li", { class: "muted" }, Sotay.t("doc_none"))]));
      results.hidden = false;
    } catch (err) {
      if (err.problem && err.problem.errors) { results.hidden = true; return; }  // a search of one letter
      fail(err);
    }
  };
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  input.addEventListener("focus", () => { if (results.hidden) search(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") results.hidden = true;
    if (e.key === "Enter") {
      e.preventDefault();
      const first = results.querySelector("button.unit-choice");
      if (first && !results.hidden) first.click();
    }
  });
  return {
    get ids() { return [...chosen]; },
    async set(ids) {
      for (const id of ids) {
        if (!documentNames.has(id)) {
          try { documentNames.set(id, label(await Sotay.json(`/api/content/v1/documents/${id}`))); } catch { /* kept unnamed */ }
        }
      }
      chosen.splice(0, chosen.length, ...ids); draw();
      input.value = ""; results.hidden = true;
    },
  };
}

// The questions, drawn from studyQuestions; what is typed goes back into it as it is typed.
function drawQuestions() {
  const keep = (q, key) => (e) => { q[key] = e.target.value; };
  $("st-questions").replaceChildren(...studyQuestions.map((q, i) => {
    const id = `st-q${i}`;
    const options = q.options.map((option, j) => Sotay.el("li", { class: "option-row" },
      Sotay.el("input", { type: "radio", name: `${id}-correct`, value: String(j), class: "right-choice",
        id: `${id}-right${j}`, "aria-label": fillIn("st_right", { n: j + 1 }), ...(q.correct === j ? { checked: "" } : {}),
        onchange: () => { q.correct = j; } }),
      Sotay.el("input", { id: `${id}-o${j}`, maxlength: "300", value: option, "aria-label": fillIn("st_option", { n: j + 1 }),
        placeholder: fillIn("st_option", { n: j + 1 }), oninput: (e) => { q.options[j] = e.target.value; } }),
      q.options.length > 2 ? Sotay.el("button", { type: "button", class: "secondary unit-remove",
        "aria-label": fillIn("st_remove_option", { n: j + 1 }), onclick: () => {
          q.options.splice(j, 1);
          if (q.correct === j) q.correct = null; else if (q.correct > j) q.correct -= 1;
          drawQuestions();
        } }, "×") : ""));
    return Sotay.el("li", { class: "question", "data-index": String(i) },
      Sotay.el("label", { for: `${id}-prompt` }, fillIn("st_question", { n: i + 1 })),
      Sotay.el("textarea", { id: `${id}-prompt`, rows: "2", maxlength: "1000", oninput: keep(q, "prompt") }, q.prompt),
      Sotay.el("fieldset", { class: "options", id: `${id}-options` }, Sotay.el("legend", {}, Sotay.t("st_options")),
        Sotay.el("ol", { class: "option-rows" }, ...options)),
      Sotay.el("div", { class: "actions" },
        q.options.length < 6 ? Sotay.el("button", { type: "button", class: "secondary",
          onclick: () => { q.options.push(""); drawQuestions(); $(`${id}-o${q.options.length - 1}`).focus(); } },
        Sotay.t("st_add_option")) : "",
        studyQuestions.length > 1 ? Sotay.el("button", { type: "button", class: "secondary",
          onclick: () => { studyQuestions.splice(i, 1); drawQuestions(); } }, Sotay.t("st_remove_question")) : ""),
      Sotay.el("label", { for: `${id}-explanation` }, Sotay.t("st_explanation")),
      Sotay.el("textarea", { id: `${id}-explanation`, rows: "2", maxlength: "2000", oninput: keep(q, "explanation") },
        q.explanation || ""));
  }));
}

// Where a problem's field is shown: the input it names ("questions.1.options.2"), else the section's.
function studyInput(field) {
  const f = String(field);
  const m = /^questions\.(\d+)(?:\.(prompt|options|correct|explanation))?(?:\.(\d+))?/.exec(f);
  if (m) {
    const id = `st-q${m[1]}`;
    if (m[2] === "prompt") return $(`${id}-prompt`);
    if (m[2] === "explanation") return $(`${id}-explanation`);
    if (m[2] === "options" && m[3] != null) return $(`${id}-o${m[3]}`);
    if (m[2] === "correct" || m[2] === "options") return $(`${id}-right0`) && $(`${id}-options`);
    return $(`${id}-prompt`);
  }
  return { title: $("st-title"), description: $("st-description"), audience: $("st-audience"), unit: $("st-unit"),
    documents: $("st-documents"), questions: $("st-add-question") }[f.split(".")[0]] || null;
}

// What the form misses, said before anything is sent (the service checks it all again).
function studyProblems() {
  const problems = [];
  const add = (field, key) => problems.push({ field, reason: key });
  if ($("st-title").value.trim().length < 3) add("title", "st_need_title");
  if (!$("st-description").value.trim()) add("description", "st_need_description");
  if (!studyAudience.codes.length) add("audience", "st_need_audience");
  studyQuestions.forEach((q, i) => {
    if (!q.prompt.trim()) add(`questions.${i}.prompt`, "st_need_prompt");
    q.options.forEach((o, j) => { if (!o.trim()) add(`questions.${i}.options.${j}`, "st_need_option"); });
    if (q.correct == null) add(`questions.${i}.correct`, "st_need_right");
  });
  return problems;
}

function showStudyProblems(errors, said) {
  Sotay.clearFieldErrors($("study-form"));
  for (const x of errors) {
    const input = studyInput(x.field);
    if (input) Sotay.fieldError(input, said(x));
  }
  $("study-error").textContent = Sotay.t("st_check");
  const first = $("study-form").querySelector("[aria-invalid=true]");
  if (first) first.scrollIntoView({ block: "center" });
}

function stopStudyEditing() {
  studyEditing = null;
  $("study-form").reset();
  studyQuestions = [blankQuestion()];
  drawQuestions();
  studyUnit.set([]); studyDocuments.set([]);
  $("st-save").textContent = Sotay.t("save_draft"); $("study-heading").textContent = Sotay.t("st_write");
  $("st-cancel").hidden = true;
  Sotay.clearFieldErrors($("study-form"));
}

async function startStudyEditing(s) {
  try {
    const full = await Sotay.json(`/api/content/v1/study/topics/${s.id}`);
    studyEditing = full.id;
    $("st-title").value = full.title; $("st-description").value = full.description;
    await studyAudience.set(full.audience); await studyUnit.set([full.author_unit]);
    await studyDocuments.set(full.documents.map((d) => d.id));
    studyQuestions = full.questions.map((q) => ({ prompt: q.prompt, options: [...q.options], correct: q.correct,
      explanation: q.explanation || "" }));
    drawQuestions();
    $("study-heading").textContent = `${Sotay.t("st_editing")}: ${full.title}`;
    $("st-save").textContent = Sotay.t("save_edit"); $("st-cancel").hidden = false; $("study-done").textContent = "";
    $("study").scrollIntoView({ block: "start" }); $("st-title").focus();
  } catch (err) { fail(err); }
}

async function loadStudyDesk() {
  try {
    const { items } = await Sotay.json("/api/content/v1/study/desk");
    $("study-desk").tHead.replaceChildren(Sotay.el("tr", {}, ...["st_topic", "unit", "status", "st_done", "actions"]
      .map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("study-desk").tBodies[0].replaceChildren(...(items.length ? items.map((s) => {
      const actions = [];
      let note = null;
      if (s.status === "draft") {
        actions.push(Sotay.el("button", { class: "secondary do-edit", onclick: () => startStudyEditing(s) }, Sotay.t("edit")));
        if (s.may_publish) {
          actions.push(Sotay.el("button", { class: "do-publish", onclick: async () => {
            try {
              await Sotay.post(`/api/content/v1/study/topics/${s.id}/publish`);
              $("study-done").textContent = Sotay.t("st_published");
              await Promise.all([loadStudyDesk(), loadTopics()]);
            } catch (err) { fail(err); }
          } }, Sotay.t("st_publish")));
        } else {
          const chief = roles().some((g) => g.role === "chief_editor");  // a chief editor cannot publish their own
          note = Sotay.el("p", { class: s.yours && chief ? "two-person" : "muted" },
            Sotay.t(s.yours && chief ? "st_needs_another" : "st_waits_chief"));
        }
      } else {
        actions.push(Sotay.el("button", { class: "secondary do-results", onclick: async () => {
          await loadTopics(s.id);
          $("completion-section").scrollIntoView({ block: "start" });
        } }, Sotay.t("st_results")));
      }
      if (note) actions.push(note);
      return Sotay.el("tr", { "data-id": s.id, "data-status": s.status },
        Sotay.el("td", {}, Sotay.el("strong", {}, s.title),
          Sotay.el("div", { class: "muted" }, fillIn("st_counts", { q: s.questions, d: s.documents }))),
        Sotay.el("td", { class: "unit", "data-label": Sotay.t("unit") }, s.author_unit_name || ""),
        Sotay.el("td", { class: "status" }, s.status === "draft" ? Sotay.t("st_draft")
          : fillIn("st_published_on", { d: when(s.published_at).slice(0, 10) })),
        Sotay.el("td", { "data-label": Sotay.t("st_done") }, Sotay.number(s.completed)),
        Sotay.el("td", {}, Sotay.el("div", { class: "actions" }, ...actions)));
    }) : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "5" }, Sotay.t("st_no_topics")))]));
  } catch (err) { fail(err); }
}

// --- study: the completion per cell of a unit (the units' staff and the editors) --------------------
const OVERSEERS = ["cell_secretary", "unit_admin", "city_admin", "editor", "chief_editor"];
// The caller's roles, from the token (what the service checks again on every call).
function roles() {
  try {
    return JSON.parse(decodeURIComponent(escape(atob(Sotay.token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))))
      .roles || [];
  } catch { return []; }
}
// A unit's name from the registry's org tree (public), never its code.
const orgUnit = Sotay.orgUnit;

// The units one follows (those of one's roles), each followed by the units right under it.
async function loadCompletionUnits() {
  const codes = [...new Set(roles().filter((g) => OVERSEERS.includes(g.role)).map((g) => g.unit))];
  const options = [];
  for (const code of codes) {
    const unit = await orgUnit(code);
    options.push(Sotay.el("option", { value: code }, unit ? unit.name : code));
    if (unit && unit.kind !== "cell") {
      const { items } = await Sotay.json(`/api/members/v1/org-units?parent=${encodeURIComponent(code)}&limit=200`)
        .catch(() => ({ items: [] }));
      for (const child of items) {
        options.push(Sotay.el("option", { value: child.code }, fillIn("cp_under", { name: child.name })));
      }
    }
  }
  $("cp-unit").replaceChildren(...options);
}

// The topics sent to the chosen unit (or units in it), newest first; `pick` chosen when it is one.
async function loadTopics(pick) {
  try {
    const unit = $("cp-unit").value;
    const { items } = await Sotay.json(`/api/content/v1/study/completion${unit ? `?unit=${encodeURIComponent(unit)}` : ""}`);
    $("cp-topic").replaceChildren(...items.map((s) => Sotay.el("option", { value: s.id },
      `${s.title} (${when(s.published_at).slice(0, 10)})`)));
    if (pick && items.some((s) => s.id === pick)) $("cp-topic").value = pick;
    $("cp-topic").disabled = !items.length;
    if (!items.length) {
      $("cp-summary").textContent = Sotay.t("cp_no_topics");
      $("completion").tHead.replaceChildren(); $("completion").tBodies[0].replaceChildren();
      return;
    }
    await loadCompletion();
  } catch (err) { fail(err); }
}

async function loadCompletion() {
  const topic = $("cp-topic").value, unit = $("cp-unit").value;
  if (!topic) return;
  try {
    const c = await Sotay.json(`/api/content/v1/study/topics/${topic}/completion${unit ? `?unit=${encodeURIComponent(unit)}` : ""}`);
    const rate = (done, of) => (of ? Sotay.percent(done * 100 / of) : "—");
    const average = (a) => (a == null ? Sotay.t("cp_hidden") : Sotay.percent(a));
    const secretary = c.cells.some((cell) => cell.not_completed);
    $("cp-summary").textContent = fillIn("cp_summary", { c: Sotay.number(c.completed), m: Sotay.number(c.members),
      r: rate(c.completed, c.members), a: c.average_percent == null ? Sotay.t("cp_hidden") : Sotay.percent(c.average_percent) });
    const heads = ["cp_cell", "cp_members", "cp_completed", "cp_rate", "cp_average", ...(secretary ? ["cp_missing"] : [])];
    $("completion").tHead.replaceChildren(Sotay.el("tr", {}, ...heads.map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("completion").tBodies[0].replaceChildren(...(c.cells.length ? c.cells.map((cell) => Sotay.el("tr", { "data-cell": cell.cell },
      Sotay.el("td", {}, cell.name),
      Sotay.el("td", { "data-label": Sotay.t("cp_members") }, Sotay.number(cell.members)),
      Sotay.el("td", { "data-label": Sotay.t("cp_completed") }, Sotay.number(cell.completed)),
      Sotay.el("td", { "data-label": Sotay.t("cp_rate") }, rate(cell.completed, cell.members)),
      Sotay.el("td", { "data-label": Sotay.t("cp_average"), class: "average" }, average(cell.average_percent)),
      ...(secretary ? [Sotay.el("td", { "data-label": Sotay.t("cp_missing"), class: "missing" }, !cell.not_completed ? ""
        : cell.not_completed.length ? cell.not_completed.map((m) => m.full_name || Sotay.t("cp_restricted")).join(", ")
          : Sotay.t("cp_all_done"))] : [])))
      : [Sotay.el("tr", {}, Sotay.el("td", { colspan: String(heads.length) }, Sotay.t("cp_no_cells")))]));
  } catch (err) { fail(err); }
}

const studyAudience = unitPicker($("st-audience-picker"));
const studyUnit = unitPicker($("st-unit-picker"));
const studyDocuments = documentPicker($("st-documents-picker"));
studyQuestions = [blankQuestion()];
drawQuestions();
$("st-add-question").addEventListener("click", () => {
  studyQuestions.push(blankQuestion()); drawQuestions(); $(`st-q${studyQuestions.length - 1}-prompt`).focus();
});
$("st-cancel").addEventListener("click", stopStudyEditing);
$("cp-unit").addEventListener("change", () => loadTopics());
$("cp-topic").addEventListener("change", loadCompletion);
Sotay.sending($("study-form"), async (key) => {
  $("error").textContent = ""; $("study-error").textContent = ""; $("study-done").textContent = "";
  const missing = studyProblems();
  if (missing.length) { showStudyProblems(missing, (x) => Sotay.t(x.reason)); return; }
  const topic = { title: $("st-title").value, description: $("st-description").value, documents: studyDocuments.ids,
    audience: studyAudience.codes, unit: studyUnit.codes[0] || null,
    questions: studyQuestions.map((q) => ({ prompt: q.prompt, options: q.options, correct: q.correct,
      explanation: q.explanation.trim() || null })) };
  const was = studyEditing;
  if (was) {
    await Sotay.json(`/api/content/v1/study/topics/${was}`, { method: "PUT", body: JSON.stringify(topic),
      headers: { "Content-Type": "application/json" } });
  } else await Sotay.post("/api/content/v1/study/topics", topic, key);
  stopStudyEditing();
  await studyAudience.set(topic.audience);
  $("study-done").textContent = Sotay.t(was ? "st_saved_edit" : "st_saved");
  await loadStudyDesk();
}, (err) => {
  const errors = (err.problem && err.problem.errors) || [];
  if (errors.length) showStudyProblems(errors, (x) => Sotay.reason(x.reason));
  else { $("study-error").textContent = REFUSALS.includes(err.code) ? Sotay.t(err.code) : Sotay.explain(err); }
});

async function load() {
  $("console").hidden = false; $("signout").hidden = false;
  // The units' staff who edit nothing see the study's completion only (the service refuses the rest).
  const editor = roles().some((g) => g.role === "editor" || g.role === "chief_editor");
  document.querySelectorAll(".editors-only").forEach((section) => { section.hidden = !editor; });
  if (!editor) {
    document.querySelector("header.bar h1").textContent = Sotay.t("title_study");
    document.title = `${Sotay.t("title_study")} — Sổ tay đảng viên điện tử`;
    await loadCompletionUnits();
    await loadTopics();
    return;
  }
  await Promise.all([loadDesk(), defaultUnits(), loadStudyDesk(), loadCompletionUnits()]);
  const [top] = await findUnits("", 1).catch(() => []);
  if (top) await studyAudience.set([top.code]);
  await Promise.all([loadFeeds(), loadTopics()]);
}

$("w-category").replaceChildren(...CATEGORIES.map((c) => Sotay.el("option", { value: c }, Sotay.t(c))));
$("desk-status").replaceChildren(Sotay.el("option", { value: "" }, Sotay.t("all")),
  ...STATUSES.map((s) => Sotay.el("option", { value: s }, Sotay.t(s))));
$("desk-status").addEventListener("change", loadDesk);
$("write-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").textContent = "";
  try {
    if (!audience.codes.length) { $("error").textContent = `${Sotay.t("f_audience")}: ${Sotay.t("unit_pick_hint")}`; return; }
    const article = { title: $("w-title").value, summary: $("w-summary").value || null,
      body: $("w-body").value, category: $("w-category").value, unit: authorUnit.codes[0] || null, audience: audience.codes };
    const was = editing;
    if (was) {
      await Sotay.json(`/api/content/v1/articles/${was}`, { method: "PUT", body: JSON.stringify(article),
        headers: { "Content-Type": "application/json" } });
    }
    else await Sotay.post("/api/content/v1/articles", article);
    stopEditing();
    $("write-done").textContent = Sotay.t(was ? "saved_edit" : "saved_draft");
    await loadDesk();
  } catch (err) { fail(err); }
});
$("feed-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await Sotay.post("/api/content/v1/feeds", { url: $("fd-url").value, unit: feedUnit.codes[0] || "city",
      publish: $("fd-publish").checked });
    e.target.reset(); await defaultUnits();
    await loadFeeds();
  } catch (err) { fail(err); }
});
$("w-cancel").addEventListener("click", stopEditing);
Sotay.start(load);
