// The member handbook on the web (the "computer" platform): sign up, sign in,
// the feed with what is not read yet, an article (opening it records the
// read) and its feedback, the cell's meetings with attendance, and the
// member's own record with a correction request.
"use strict";

Sotay.words({
  vi: {
    title: "Sổ tay đảng viên điện tử", feed: "Tin tức", meetings: "Sinh hoạt chi bộ", profile: "Thông tin cá nhân",
    signup: "Đăng ký tài khoản", signup_note: "Sau khi đăng ký, chi bộ của đồng chí sẽ phê duyệt tài khoản.",
    full_name: "Họ và tên", date_of_birth: "Ngày sinh", phone: "Số điện thoại",
    new_password: "Mật khẩu (ít nhất 12 ký tự)", signed_up: "Đăng ký đã được gửi và đang chờ chi bộ phê duyệt.",
    unread: "Chưa đọc", no_news: "Chưa có tin.", back: "← Trở lại", feedback: "Ý kiến",
    your_feedback: "Ý kiến của đồng chí", send: "Gửi", sent: "Đã gửi ý kiến.", no_meetings: "Chưa có lịch sinh hoạt.",
    attend: "Tôi sẽ tham dự", absent: "Tôi vắng mặt", answered_yes: "Đồng chí đã báo tham dự.",
    answered_no: "Đồng chí đã báo vắng mặt.", place: "Địa điểm", agenda: "Nội dung",
    correction: "Đề nghị sửa thông tin", field: "Thông tin cần sửa", value: "Thông tin đúng", note: "Ghi chú",
    request_sent: "Đề nghị đã được gửi tới chi bộ.", unit: "Chi bộ", card: "Số thẻ đảng viên", status: "Tình trạng",
  },
  en: {
    title: "Electronic Party-member handbook", feed: "News", meetings: "Cell meetings", profile: "My record",
    signup: "Create an account", signup_note: "Once you sign up, your cell approves your account.",
    full_name: "Full name", date_of_birth: "Date of birth", phone: "Phone number",
    new_password: "Password (at least 12 characters)", signed_up: "Your sign-up was sent; your cell will approve it.",
    unread: "New", no_news: "No news yet.", back: "← Back", feedback: "Feedback",
    your_feedback: "Your feedback", send: "Send", sent: "Your feedback was sent.", no_meetings: "No meetings yet.",
    attend: "I will attend", absent: "I cannot attend", answered_yes: "You said you will attend.",
    answered_no: "You said you cannot attend.", place: "Place", agenda: "Agenda",
    correction: "Ask for a correction", field: "What is wrong", value: "What it should be", note: "Note",
    request_sent: "Your request was sent to your cell.", unit: "Cell", card: "Party card number", status: "Standing",
  },
});

const $ = (id) => document.getElementById(id);
const when = (iso) => new Date(iso).toLocaleString(Sotay.lang === "vi" ? "vi-VN" : "en-GB",
  { dateStyle: "medium", timeStyle: "short" });
const view = () => $("view");

async function showFeed() {
  const { items } = await Sotay.json("/api/content/v1/feed?limit=50");
  view().replaceChildren(Sotay.el("section", { class: "card" }, Sotay.el("h2", {}, Sotay.t("feed")),
    ...(items.length ? items.map((a) => Sotay.el("article", { class: `news${a.unread ? " unread" : ""}`, "data-id": a.id },
      Sotay.el("h3", {}, Sotay.el("a", { href: `#article/${a.id}` }, a.title),
        a.unread ? Sotay.el("span", { class: "badge" }, Sotay.t("unread")) : ""),
      Sotay.el("p", { class: "muted" }, when(a.published_at)),
      a.summary ? Sotay.el("p", {}, a.summary) : "")) : [Sotay.el("p", {}, Sotay.t("no_news"))])));
}

async function showArticle(id) {
  const a = await Sotay.json(`/api/content/v1/articles/${id}`);
  await Sotay.post(`/api/content/v1/articles/${id}/read`);  // opening it is reading it (once a day counts)
  const body = Sotay.el("div", { class: "article-body" });
  body.innerHTML = a.body_html;  // sanitised by content (an allow-list) when it was written
  const feedback = Sotay.el("div", { id: "feedback" });
  const form = Sotay.el("form", { id: "feedback-form" },
    Sotay.el("label", { for: "feedback-body" }, Sotay.t("your_feedback")),
    Sotay.el("textarea", { id: "feedback-body", rows: "4", required: "", maxlength: "5000" }),
    Sotay.el("p", {}, Sotay.el("button", { type: "submit" }, Sotay.t("send"))),
    Sotay.el("p", { id: "feedback-done", class: "muted", role: "status" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    await Sotay.post(`/api/content/v1/articles/${id}/feedback`, { body: $("feedback-body").value });
    $("feedback-body").value = ""; $("feedback-done").textContent = Sotay.t("sent");
  });
  view().replaceChildren(Sotay.el("section", { class: "card" },
    Sotay.el("p", {}, Sotay.el("a", { href: "#feed" }, Sotay.t("back"))),
    Sotay.el("h2", { id: "article-title" }, a.title), Sotay.el("p", { class: "muted" }, when(a.published_at)), body),
    Sotay.el("section", { class: "card" }, Sotay.el("h2", {}, Sotay.t("feedback")), feedback, form));
  const { items } = await Sotay.json(`/api/content/v1/articles/${id}/feedback`).catch(() => ({ items: [] }));
  feedback.replaceChildren(...items.map((f) => Sotay.el("blockquote", {}, f.body)));
}

async function showMeetings() {
  const { items } = await Sotay.json("/api/content/v1/meetings");
  view().replaceChildren(Sotay.el("section", { class: "card" }, Sotay.el("h2", {}, Sotay.t("meetings")),
    ...(items.length ? items.map((m) => {
      const answer = Sotay.el("p", { class: "muted", role: "status" },
        m.my_answer === true ? Sotay.t("answered_yes") : m.my_answer === false ? Sotay.t("answered_no") : "");
      const reply = (attending) => async () => {
        await Sotay.post(`/api/content/v1/meetings/${m.id}/attendance`, { attending });
        answer.textContent = Sotay.t(attending ? "answered_yes" : "answered_no");
      };
      return Sotay.el("article", { class: "meeting", "data-id": m.id },
        Sotay.el("h3", {}, when(m.starts_at)),
        Sotay.el("p", {}, `${Sotay.t("place")}: ${m.place}`), m.agenda ? Sotay.el("p", {}, `${Sotay.t("agenda")}: ${m.agenda}`) : "",
        Sotay.el("div", { class: "actions" }, Sotay.el("button", { onclick: reply(true) }, Sotay.t("attend")),
          Sotay.el("button", { class: "secondary", onclick: reply(false) }, Sotay.t("absent"))), answer);
    }) : [Sotay.el("p", {}, Sotay.t("no_meetings"))])));
}

async function showProfile() {
  const me = await Sotay.json("/api/members/v1/members/me");
  const fields = ["full_name", "date_of_birth", "phone"];
  const form = Sotay.el("form", { id: "correction-form" },
    Sotay.el("label", { for: "corr-field" }, Sotay.t("field")),
    Sotay.el("select", { id: "corr-field" }, ...fields.map((f) => Sotay.el("option", { value: f }, Sotay.t(f)))),
    Sotay.el("label", { for: "corr-value" }, Sotay.t("value")), Sotay.el("input", { id: "corr-value", required: "" }),
    Sotay.el("label", { for: "corr-note" }, Sotay.t("note")), Sotay.el("input", { id: "corr-note", maxlength: "2000" }),
    Sotay.el("p", {}, Sotay.el("button", { type: "submit" }, Sotay.t("send"))),
    Sotay.el("p", { id: "correction-done", class: "muted", role: "status" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await Sotay.post(`/api/members/v1/members/${me.id}/corrections`,
        { changes: { [$("corr-field").value]: $("corr-value").value }, note: $("corr-note").value || null });
      $("correction-done").textContent = Sotay.t("request_sent");
    } catch (err) { $("error").textContent = Sotay.explain(err); }
  });
  const rows = [["full_name", me.full_name], ["card", me.party_card_no], ["date_of_birth", me.date_of_birth],
                ["unit", me.unit], ["status", me.status], ["phone", me.phone || "—"]];
  view().replaceChildren(Sotay.el("section", { class: "card" }, Sotay.el("h2", {}, Sotay.t("profile")),
    Sotay.el("dl", { class: "record" }, ...rows.flatMap(([k, v]) => [Sotay.el("dt", {}, Sotay.t(k)), Sotay.el("dd", {}, v ?? "—")]))),
    Sotay.el("section", { class: "card" }, Sotay.el("h2", {}, Sotay.t("correction")), form));
}

async function route() {
  $("error").textContent = "";
  const [name, id] = (location.hash.slice(1) || "feed").split("/");
  try {
    if (name === "article" && id) await showArticle(id);
    else if (name === "meetings") await showMeetings();
    else if (name === "profile") await showProfile();
    else await showFeed();
  } catch (err) { $("error").textContent = Sotay.explain(err); }
}

function signedIn() {
  $("welcome").hidden = true; $("view").hidden = false; $("nav").hidden = false; $("signout").hidden = false;
  window.addEventListener("hashchange", route);
  return route();
}

$("signup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("signup-error").textContent = ""; $("signup-done").textContent = "";
  const body = { ...Object.fromEntries(new FormData(e.target).entries()), platform: "web" };
  try {
    await Sotay.post("/api/identity/v1/registrations", body);
    $("signup-done").textContent = Sotay.t("signed_up"); e.target.reset();
  } catch (err) { $("signup-error").textContent = Sotay.explain(err); }
});
Sotay.start(signedIn);
