// The editorial console: write drafts, the desk of the units one edits with
// each article's next steps (submit; approve or send back with comments;
// publish now or at a time, with an expiry; retract with a reason), an
// article's history, and the RSS/Atom sources with their last import. A source
// that publishes at once does so only once a second chief editor (not the one
// who added it) approves it: the table shows which wait, and offers the approval.
"use strict";

Sotay.words({
  vi: {
    title: "Biên tập tin bài", write: "Viết tin bài", f_title: "Tiêu đề", f_summary: "Tóm tắt",
    f_body: "Nội dung (Markdown)", f_category: "Chuyên mục",
    f_audience: "Gửi tới (mã đơn vị, cách nhau bởi dấu phẩy; city = toàn thành phố)",
    f_unit: "Đơn vị đăng tin (để trống: đơn vị của đồng chí)", save_draft: "Lưu bản nháp", saved_draft: "Đã lưu bản nháp.",
    desk: "Bàn biên tập", status: "Trạng thái", all: "Tất cả", feeds: "Nguồn tin tự động (RSS, Atom)",
    fd_url: "Địa chỉ nguồn tin", fd_unit: "Đơn vị",
    fd_publish: "Đăng ngay, sau khi một tổng biên tập khác duyệt nguồn tin", fd_add: "Thêm nguồn tin",
    fd_mode: "Cách đăng", fd_drafts: "Giữ bản nháp để duyệt", fd_waiting: "Đăng ngay — chờ tổng biên tập khác duyệt",
    fd_approved: "Đăng ngay — đã duyệt", fd_approve: "Duyệt đăng ngay", fd_not_yours: "Cần một tổng biên tập khác duyệt",
    news: "Tin tức", directive: "Chỉ đạo", guidance: "Hướng dẫn", qa: "Hỏi đáp", local_news: "Tin cơ sở",
    draft: "Bản nháp", submitted: "Chờ duyệt", approved: "Đã duyệt", scheduled: "Hẹn giờ đăng",
    published: "Đã đăng", retracted: "Đã gỡ", article: "Tin bài", unit: "Đơn vị", updated: "Trạng thái",
    actions: "Xử lý", submit: "Gửi duyệt", approve: "Duyệt", send_back: "Trả lại", publish_now: "Đăng ngay",
    schedule: "Hẹn giờ", publish_at: "Đăng lúc", expires_at: "Hết hạn lúc", retract: "Gỡ tin",
    comment: "Ý kiến", reason: "Lý do", confirm: "Xác nhận", history: "Lịch sử", url: "Nguồn",
    last_import: "Lần lấy tin gần nhất", imported: "Đã lấy", error: "Lỗi", never: "chưa", ok: "tốt",
    empty: "Không có tin bài.", no_feeds: "Chưa có nguồn tin.",
  },
  en: {
    title: "Editorial desk", write: "Write an article", f_title: "Title", f_summary: "Summary",
    f_body: "Body (Markdown)", f_category: "Category",
    f_audience: "Audience (unit codes, comma-separated; city = everyone)",
    f_unit: "Author unit (empty: your unit)", save_draft: "Save the draft", saved_draft: "Draft saved.",
    desk: "Desk", status: "Status", all: "All", feeds: "Automatic sources (RSS, Atom)",
    fd_url: "Feed address", fd_unit: "Unit",
    fd_publish: "Publish at once, once another chief editor approves the source", fd_add: "Add the source",
    fd_mode: "Publishing", fd_drafts: "Drafts for review", fd_waiting: "At once — waiting for another chief editor",
    fd_approved: "At once — approved", fd_approve: "Approve publishing at once", fd_not_yours: "Another chief editor must approve",
    news: "News", directive: "Directive", guidance: "Guidance", qa: "Q&A", local_news: "Local news",
    draft: "Draft", submitted: "Submitted", approved: "Approved", scheduled: "Scheduled",
    published: "Published", retracted: "Retracted", article: "Article", unit: "Unit", updated: "Status",
    actions: "Next step", submit: "Submit", approve: "Approve", send_back: "Send back", publish_now: "Publish now",
    schedule: "Schedule", publish_at: "Publish at", expires_at: "Expires at", retract: "Retract",
    comment: "Comment", reason: "Reason", confirm: "Confirm", history: "History", url: "Source",
    last_import: "Last import", imported: "Imported", error: "Error", never: "never", ok: "ok",
    empty: "No articles.", no_feeds: "No sources yet.",
  },
});

const $ = (id) => document.getElementById(id);
const CATEGORIES = ["news", "directive", "guidance", "qa", "local_news"];
const STATUSES = ["draft", "submitted", "approved", "scheduled", "published", "retracted"];
const when = (iso) => (iso ? new Date(iso).toLocaleString(Sotay.lang === "vi" ? "vi-VN" : "en-GB") : "—");
const fail = (err) => { $("error").textContent = Sotay.explain(err); };

// A step that needs a text (comment, reason) or times: a small inline form under the row.
function stepForm(row, label, fields, run) {
  const inputs = fields.map(([key, type]) => Sotay.el("input", { type, "aria-label": Sotay.t(key), name: key }));
  const form = Sotay.el("form", { class: "step" }, ...fields.flatMap(([key], i) => [Sotay.el("label", {}, Sotay.t(key)), inputs[i]]),
    Sotay.el("button", { type: "submit" }, Sotay.t("confirm")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(fields.map(([key, type], i) => [key,
      inputs[i].value ? (type === "datetime-local" ? new Date(inputs[i].value).toISOString() : inputs[i].value) : null]));
    try { await run(values); await loadDesk(); } catch (err) { fail(err); }
  });
  return Sotay.el("button", { class: "secondary", onclick: () => row.querySelector("td:last-child").append(form) }, Sotay.t(label));
}

function actionsFor(a, row) {
  const path = `/api/content/v1/articles/${a.id}`;
  const now = (step, body) => Sotay.el("button", { class: `do-${step}`, onclick: async () => {
    try { await Sotay.post(`${path}/${step}`, body); await loadDesk(); } catch (err) { fail(err); } } }, Sotay.t(step === "publish" ? "publish_now" : step));
  const out = [];
  if (a.status === "draft") out.push(now("submit"));
  if (a.status === "submitted") {
    out.push(now("approve"), stepForm(row, "send_back", [["comment", "text"]], (v) => Sotay.post(`${path}/return`, v)));
  }
  if (a.status === "approved") {
    out.push(now("publish"), stepForm(row, "schedule", [["publish_at", "datetime-local"], ["expires_at", "datetime-local"]],
      (v) => Sotay.post(`${path}/publish`, v)));
  }
  if (a.status === "published" || a.status === "scheduled") {
    out.push(stepForm(row, "retract", [["reason", "text"]], (v) => Sotay.post(`${path}/retract`, v)));
  }
  out.push(Sotay.el("button", { class: "secondary", onclick: () => showHistory(a) }, Sotay.t("history")));
  return out;
}

async function showHistory(a) {
  const { items } = await Sotay.json(`/api/content/v1/articles/${a.id}/history`);
  $("history").replaceChildren(Sotay.el("h3", {}, `${Sotay.t("history")}: ${a.title}`), Sotay.el("ul", {},
    ...items.map((h) => Sotay.el("li", {}, `${when(h.at)} — ${h.actor}: ${Sotay.t(h.to_status || h.action)}`
      + (h.comment ? ` («${h.comment}»)` : "")))));
}

async function loadDesk() {
  const status = $("desk-status").value;
  try {
    const { items } = await Sotay.json(`/api/content/v1/articles${status ? `?status=${status}` : ""}`);
    $("desk").tHead.replaceChildren(Sotay.el("tr", {}, ...["article", "unit", "updated", "actions"].map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("desk").tBodies[0].replaceChildren(...(items.length ? items.map((a) => {
      const row = Sotay.el("tr", { "data-id": a.id, "data-status": a.status },
        Sotay.el("td", {}, Sotay.el("strong", {}, a.title), Sotay.el("div", { class: "muted" }, Sotay.t(a.category))),
        Sotay.el("td", {}, a.author_unit), Sotay.el("td", { class: "status" }, Sotay.t(a.status),
          a.publish_at && a.status === "scheduled" ? ` ${when(a.publish_at)}` : ""),
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
    return Sotay.el("td", { class: "feed-mode approved" }, `${Sotay.t("fd_approved")} (${f.publish_approved_by})`);
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
    $("feeds").tHead.replaceChildren(Sotay.el("tr", {}, ...["url", "unit", "fd_mode", "last_import", "imported", "error"].map((k) => Sotay.el("th", {}, Sotay.t(k)))));
    $("feeds").tBodies[0].replaceChildren(...(items.length ? items.map((f) => Sotay.el("tr", { "data-id": f.id, class: f.last_error ? "behind" : "" },
      Sotay.el("td", {}, f.title || f.url), Sotay.el("td", {}, f.unit), feedMode(f),
      Sotay.el("td", {}, f.last_polled_at ? when(f.last_polled_at) : Sotay.t("never")), Sotay.el("td", {}, f.imported ?? 0),
      // The error as the service recorded it (English), said in the reader's language; the original on hover.
      Sotay.el("td", { class: "feed-error", title: f.last_error || "" },
        f.last_error ? `${Sotay.reason(f.last_error)} (×${f.failures})` : Sotay.t("ok"))))
      : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "6" }, Sotay.t("no_feeds")))]));
  } catch (err) { fail(err); }
}

async function load() {
  $("console").hidden = false; $("signout").hidden = false;
  await Promise.all([loadDesk(), loadFeeds()]);
}

$("w-category").replaceChildren(...CATEGORIES.map((c) => Sotay.el("option", { value: c }, Sotay.t(c))));
$("desk-status").replaceChildren(Sotay.el("option", { value: "" }, Sotay.t("all")),
  ...STATUSES.map((s) => Sotay.el("option", { value: s }, Sotay.t(s))));
$("desk-status").addEventListener("change", loadDesk);
$("write-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("error").textContent = "";
  try {
    await Sotay.post("/api/content/v1/articles", { title: $("w-title").value, summary: $("w-summary").value || null,
      body: $("w-body").value, category: $("w-category").value, unit: $("w-unit").value || null,
      audience: $("w-audience").value.split(",").map((s) => s.trim()).filter(Boolean) });
    e.target.reset(); $("w-audience").value = "city";
    $("write-done").textContent = Sotay.t("saved_draft");
    await loadDesk();
  } catch (err) { fail(err); }
});
$("feed-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await Sotay.post("/api/content/v1/feeds", { url: $("fd-url").value, unit: $("fd-unit").value || "city",
      publish: $("fd-publish").checked });
    e.target.reset(); $("fd-unit").value = "city";
    await loadFeeds();
  } catch (err) { fail(err); }
});
Sotay.start(load);
