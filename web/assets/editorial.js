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

async function load() {
  $("console").hidden = false; $("signout").hidden = false;
  await Promise.all([loadDesk(), defaultUnits()]);
  await loadFeeds();
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
