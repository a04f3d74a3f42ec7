// The registry console (unit admins): search members, a member's record
// (each opening is audited) with transfer and status change, importing a
// CSV or XLSX file with its progress and the rows refused (field and
// reason), and members' correction requests to accept or reject. A cell
// secretary sees citizen IDs and phones masked (the last digits only) and
// the requests without the buttons: a registry writer decides them.
"use strict";

Sotay.words({
  vi: {
    title: "Quản lý hồ sơ đảng viên", search: "Tìm đảng viên", search_hint: "Họ tên, số thẻ hoặc số điện thoại",
    find: "Tìm", import: "Nhập hồ sơ từ tệp (CSV, XLSX)", file: "Tệp", upload: "Nhập",
    corrections: "Đề nghị sửa thông tin", name: "Họ và tên", card: "Số thẻ", unit: "Chi bộ", status: "Tình trạng",
    open: "Xem hồ sơ", transfer: "Chuyển sinh hoạt", to_unit: "Đến chi bộ (mã)", kind: "Hình thức",
    official: "Chính thức", temporary: "Tạm thời", reason: "Lý do", change_status: "Đổi tình trạng",
    confirm: "Xác nhận", done: "Đã cập nhật.", none: "Không tìm thấy.", running: "Đang nhập…",
    imported: "Đã nhập", rejected: "Bị từ chối", of: "trên", row: "Dòng", field: "Trường", problem: "Lỗi",
    member: "Đảng viên", changes: "Đề nghị", accept: "Chấp nhận", reject: "Từ chối", no_requests: "Không có đề nghị nào.",
    active: "Đang sinh hoạt", probationary: "Dự bị", exempt: "Miễn sinh hoạt", transferred_out: "Đã chuyển đi",
    deceased: "Từ trần", removed: "Xoá tên", born: "Ngày sinh", phone: "Điện thoại",
    decided_by_writer: "Do cán bộ quản lý hồ sơ cấp trên quyết định",
  },
  en: {
    title: "Member registry", search: "Find a member", search_hint: "Name, card number or phone",
    find: "Find", import: "Import records from a file (CSV, XLSX)", file: "File", upload: "Import",
    corrections: "Correction requests", name: "Full name", card: "Card", unit: "Cell", status: "Standing",
    open: "Open the record", transfer: "Transfer", to_unit: "To cell (code)", kind: "Kind",
    official: "Official", temporary: "Temporary", reason: "Reason", change_status: "Change standing",
    confirm: "Confirm", done: "Updated.", none: "Nobody found.", running: "Importing…",
    imported: "Imported", rejected: "Refused", of: "of", row: "Row", field: "Field", problem: "Problem",
    member: "Member", changes: "Asks for", accept: "Accept", reject: "Reject", no_requests: "No requests.",
    active: "Active", probationary: "Probationary", exempt: "Exempt", transferred_out: "Transferred out",
    deceased: "Deceased", removed: "Removed", born: "Born", phone: "Phone",
    decided_by_writer: "Decided by a registry administrator",
  },
});

const $ = (id) => document.getElementById(id);
const STATUSES = ["active", "probationary", "exempt", "transferred_out", "deceased", "removed"];
const fail = (err) => { $("error").textContent = Sotay.explain(err); };

async function search(e) {
  if (e) e.preventDefault();
  $("error").textContent = "";
  try {
    // In a body, not in the URL: a phone number typed here must not reach the proxies' logs.
    const { items } = await Sotay.json("/api/members/v1/members/search", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ q: $("q").value, limit: 50 }) });
    $("members").tHead.replaceChildren(Sotay.el("tr", {}, ...["name", "card", "unit", "status", ""].map((k) => Sotay.el("th", {}, k ? Sotay.t(k) : ""))));
    $("members").tBodies[0].replaceChildren(...(items.length ? items.map((m) => Sotay.el("tr", { "data-id": m.id },
      Sotay.el("td", {}, m.full_name), Sotay.el("td", {}, m.party_card_no), Sotay.el("td", {}, m.unit),
      Sotay.el("td", {}, Sotay.t(m.status)),
      Sotay.el("td", {}, Sotay.el("button", { class: "secondary open", onclick: () => openMember(m.id) }, Sotay.t("open"))))) :
      [Sotay.el("tr", {}, Sotay.el("td", { colspan: "5" }, Sotay.t("none")))]));
  } catch (err) { fail(err); }
}

async function openMember(id) {
  try {
    const m = await Sotay.json(`/api/members/v1/members/${id}`);
    const toUnit = Sotay.el("input", { id: "to-unit", required: "" });
    const kind = Sotay.el("select", { id: "transfer-kind" }, ...["official", "temporary"].map((k) => Sotay.el("option", { value: k }, Sotay.t(k))));
    const transfer = Sotay.el("form", { id: "transfer-form" }, Sotay.el("h3", {}, Sotay.t("transfer")),
      Sotay.el("label", { for: "to-unit" }, Sotay.t("to_unit")), toUnit,
      Sotay.el("label", { for: "transfer-kind" }, Sotay.t("kind")), kind,
      Sotay.el("p", {}, Sotay.el("button", { type: "submit" }, Sotay.t("confirm"))));
    transfer.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await Sotay.post(`/api/members/v1/members/${id}/transfers`, { to_unit: toUnit.value, kind: kind.value }); await done(id); }
      catch (err) { fail(err); }
    });
    const status = Sotay.el("select", { id: "new-status" }, ...STATUSES.map((s) => Sotay.el("option", { value: s }, Sotay.t(s))));
    status.value = m.status;
    const why = Sotay.el("input", { id: "status-reason", maxlength: "1000" });
    const change = Sotay.el("form", { id: "status-form" }, Sotay.el("h3", {}, Sotay.t("change_status")), status,
      Sotay.el("label", { for: "status-reason" }, Sotay.t("reason")), why,
      Sotay.el("p", {}, Sotay.el("button", { type: "submit" }, Sotay.t("confirm"))));
    change.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await Sotay.post(`/api/members/v1/members/${id}/status`, { status: status.value, reason: why.value || null }); await done(id); }
      catch (err) { fail(err); }
    });
    const rows = [["name", m.full_name], ["card", m.party_card_no], ["born", m.date_of_birth], ["unit", m.unit],
                  ["status", Sotay.t(m.status)], ["phone", m.phone || "—"]];
    $("member").replaceChildren(Sotay.el("h3", { id: "member-name" }, m.full_name),
      Sotay.el("dl", { class: "record" }, ...rows.flatMap(([k, v]) => [Sotay.el("dt", {}, Sotay.t(k)), Sotay.el("dd", { "data-field": k }, v)])),
      Sotay.el("p", { id: "member-done", class: "muted", role: "status" }), transfer, change);
  } catch (err) { fail(err); }
}

async function done(id) { await openMember(id); $("member-done").textContent = Sotay.t("done"); await search(); }

async function upload(e) {
  e.preventDefault();
  $("error").textContent = "";
  const body = new FormData();
  body.append("file", $("file").files[0]);
  try {
    const started = await Sotay.json("/api/members/v1/imports", { method: "POST", body });
    for (;;) {
      const r = await Sotay.json(`/api/members/v1/imports/${started.id}`);
      $("import-progress").textContent = r.status === "running" ? `${Sotay.t("running")} ${Sotay.number(r.imported + r.rejected)} ${Sotay.t("of")} ${Sotay.number(r.total_rows || 0)}`
        : `${Sotay.t("imported")}: ${Sotay.number(r.imported)}; ${Sotay.t("rejected")}: ${Sotay.number(r.rejected)}`;
      $("import-errors").tBodies[0].replaceChildren(...(r.errors.length ? [Sotay.el("tr", {}, ...["row", "field", "problem"].map((k) => Sotay.el("th", {}, Sotay.t(k))))] : []),
        ...r.errors.map((x) => Sotay.el("tr", { class: "import-error" }, Sotay.el("td", {}, x.row), Sotay.el("td", {}, Sotay.t(x.field)), Sotay.el("td", {}, Sotay.reason(x.reason)))));
      if (r.status !== "running") break;
      await new Promise((ok) => setTimeout(ok, 500));
    }
  } catch (err) { fail(err); }
}

async function loadCorrections() {
  try {
    const { items } = await Sotay.json("/api/members/v1/corrections?status=pending");
    $("corrections").tHead.replaceChildren(Sotay.el("tr", {}, ...["member", "changes", ""].map((k) => Sotay.el("th", {}, k ? Sotay.t(k) : ""))));
    $("corrections").tBodies[0].replaceChildren(...(items.length ? items.map((c) => {
      const decide = (accept) => async () => {
        try {
          await Sotay.post(`/api/members/v1/corrections/${c.id}/${accept ? "accept" : "reject"}`,
            { reason: accept ? null : prompt(Sotay.t("reason")) });
          await loadCorrections();
        } catch (err) { fail(err); }
      };
      return Sotay.el("tr", { "data-id": c.id }, Sotay.el("td", {}, `${c.full_name} (${c.party_card_no})`),
        Sotay.el("td", {}, Object.entries(c.changes).map(([k, v]) => `${Sotay.t(k)}: ${v}`).join("; "), c.note ? Sotay.el("div", { class: "muted" }, c.note) : ""),
        Sotay.el("td", {}, c.can_decide
          ? Sotay.el("div", { class: "actions" }, Sotay.el("button", { class: "accept", onclick: decide(true) }, Sotay.t("accept")),
            Sotay.el("button", { class: "secondary reject", onclick: decide(false) }, Sotay.t("reject")))
          : Sotay.el("span", { class: "muted" }, Sotay.t("decided_by_writer"))));
    }) : [Sotay.el("tr", {}, Sotay.el("td", { colspan: "3" }, Sotay.t("no_requests")))]));
  } catch (err) { fail(err); }
}

async function load() {
  $("console").hidden = false; $("signout").hidden = false;
  await Promise.all([search(), loadCorrections()]);
}

$("search-form").addEventListener("submit", search);
$("import-form").addEventListener("submit", upload);
Sotay.start(load);
