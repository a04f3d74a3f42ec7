// The registry console (unit admins): search members (birth year and cell beside each name, to
// tell namesakes apart; more pages on demand), a member's record (each opening is audited),
// opened below the list and scrolled to, with transfer (the destination cell searched by name)
// and status change, each confirmed in the page with its reason (a member who died, was removed or
// transferred out is offered no transfer, the record saying why); importing a CSV or XLSX file
// (Vietnamese column headers, dates day/month/year; a template to download) with its progress
// and the rows refused (the column as the file names it, and why), in row order; and members'
// correction requests (the record's value beside the proposed one) to accept or reject, the
// rejection's reason asked in the page. A cell secretary sees citizen IDs and phones masked
// (the last digits only) and the requests without the buttons: a registry writer decides them.
// The city's operators see, above it all, the unusual-read alerts (a staff account that opened
// hundreds of full records in an hour, docs/breach-runbook.md): who, how many, when; the list of
// what that account opened, as the file for the authority; and closing one with what was found.
"use strict";

Sotay.words({
  vi: {
    rc: "Đối soát với CSDL đảng viên 3.0", rc_note: "Tải lên tệp xuất từ Cơ sở dữ liệu đảng viên 3.0 (CSV hoặc XLSX, các cột như tệp nhập hồ sơ). Hệ thống so sánh với hồ sơ các đơn vị đồng chí quản lý; chưa thay đổi gì cho đến khi đồng chí xác nhận áp dụng.",
    rc_choose: "Chọn tệp xuất (CSV, XLSX)", rc_compare: "Đối soát", rc_comparing: "Đang đối soát…",
    rc_of: "Kết quả đối soát tệp {file} ngày {day}", rc_unit: "Đơn vị", rc_new: "Mới", rc_changed: "Thay đổi",
    rc_missing: "Không có trong tệp", rc_conflicts: "Vướng đề nghị sửa", rc_outside: "Chuyển ra/vào đơn vị khác",
    rc_identical: "Trùng khớp", rc_total: "Cộng",
    rc_missing_note: "Đảng viên không có trong tệp xuất chỉ được báo cáo để kiểm tra, không bị xoá khỏi hồ sơ.",
    rc_conflict_note: "Thông tin mà đảng viên đang đề nghị sửa (chưa được xét) sẽ giữ nguyên; đồng chí xét đề nghị như thường lệ.",
    rc_report: "Tải báo cáo (Excel)", rc_report_csv: "Tải báo cáo (CSV)", rc_apply: "Áp dụng thay đổi",
    rc_confirm: "Áp dụng {n} thay đổi vào hồ sơ (thêm {new} đảng viên mới, cập nhật {changed} đảng viên)? Mỗi thay đổi được ghi lịch sử và gửi sự kiện như khi sửa hồ sơ.",
    rc_applied: "Đã áp dụng ngày {day}: cập nhật {applied} đảng viên, ghi {events} sự kiện; {skipped} bỏ qua; {held} giữ nguyên chờ xét đề nghị sửa thông tin.",
    rc_nothing: "Không có gì cần áp dụng: hồ sơ đã khớp với tệp xuất (trừ các đảng viên không có trong tệp).",
    rc_outside_rows: "{n} dòng thuộc đơn vị ngoài phạm vi đồng chí quản lý, không được đối soát.",
    rc_refused: "Tệp chưa đối soát được: sửa các dòng dưới đây rồi tải lên lại (chưa có gì thay đổi)",
    title: "Quản lý hồ sơ đảng viên", search: "Tìm đảng viên", search_hint: "Họ tên, số thẻ hoặc số điện thoại",
    find: "Tìm", import: "Nhập hồ sơ từ tệp (CSV, XLSX)", file: "Tệp", upload: "Nhập",
    corrections: "Đề nghị sửa thông tin", name: "Họ và tên", card: "Số thẻ", unit: "Chi bộ", status: "Tình trạng",
    open: "Xem hồ sơ", transfer: "Chuyển sinh hoạt", to_unit: "Đến chi bộ (gõ tên để tìm)", kind: "Hình thức",
    official: "Chính thức", temporary: "Tạm thời", reason: "Lý do", change_status: "Đổi tình trạng",
    until: "Sinh hoạt tạm thời đến ngày", until_hint: "Ngày/tháng/năm, ví dụ 31/03/2027. Đến ngày đó đảng viên trở về chi bộ.",
    until_needed: "Đề nghị nhập ngày kết thúc có thật, dạng ngày/tháng/năm, sau hôm nay.",
    until_said: "Đến ngày {day} đồng chí trở về chi bộ.",
    away: "Đang sinh hoạt tạm thời tại {unit} đến ngày {day}.", come_back: "Kết thúc sinh hoạt tạm thời",
    come_back_why: "Lý do kết thúc sớm", came_back: "Đồng chí {name} đã trở về sinh hoạt tại chi bộ.",
    confirm: "Xác nhận", done: "Đã cập nhật.", none: "Không tìm thấy.", running: "Đang nhập…",
    imported: "Đã nhập", rejected: "Bị từ chối", of: "trên", row: "Dòng", field: "Trường", column: "Cột", problem: "Lỗi",
    member: "Đảng viên", changes: "Đề nghị", accept: "Chấp nhận", reject: "Từ chối", no_requests: "Không có đề nghị nào.",
    active: "Đang sinh hoạt", probationary: "Dự bị", exempt: "Miễn sinh hoạt", transferred_out: "Đã chuyển đi",
    deceased: "Từ trần", removed: "Xoá tên", born: "Ngày sinh", born_year: "Năm sinh", phone: "Điện thoại",
    male: "Nam", female: "Nữ", gender: "Giới tính", admitted_on: "Ngày vào Đảng", official_on: "Ngày chính thức",
    eligible: "Đủ điều kiện", ineligible_reason: "Lý do không đủ điều kiện",
    decided_by_writer: "Do cán bộ quản lý hồ sơ cấp trên quyết định",
    dsr: "Yêu cầu của đảng viên về dữ liệu cá nhân", dsr_show: "Hiện", dsr_all_open: "Mọi yêu cầu đang chờ", dsr_only_overdue: "Chỉ yêu cầu quá hạn",
    dsr_none: "Không có yêu cầu nào đang chờ.", dsr_overdue: "Quá hạn", dsr_received_on: "Nhận ngày",
    dsr_ack_by: "Hạn trả lời", dsr_due_by: "Hạn giải quyết", dsr_extended: "Đã gia hạn, lý do",
    dsr_acknowledge: "Xác nhận đã nhận", dsr_confirm_ack: "Xác nhận đã nhận yêu cầu của đồng chí {name}?",
    dsr_extend: "Gia hạn", dsr_days: "Số ngày gia hạn (tối đa 15, chỉ một lần)", dsr_extend_reason: "Lý do gia hạn (đảng viên sẽ đọc được)",
    dsr_complete: "Đã giải quyết", dsr_outcome: "Kết quả (đảng viên sẽ đọc được)",
    dsr_refuse: "Không thực hiện", dsr_refuse_reason: "Lý do không thực hiện (đảng viên sẽ đọc được)",
    dsr_preset: "Dùng lý do có sẵn: hồ sơ giữ theo quy định của Đảng",
    dsr_send: "Gửi", dsr_done: "Đã cập nhật yêu cầu của đồng chí {name}.",
    dsr_correction: "Sửa thông tin", dsr_restriction: "Hạn chế xử lý", dsr_objection: "Phản đối xử lý",
    dsr_erasure: "Xoá dữ liệu", dsr_other: "Yêu cầu khác",
    dsr_received: "Chưa trả lời", dsr_acknowledged: "Đang giải quyết", dsr_extended_s: "Đang giải quyết (đã gia hạn)",
    dsr_as_correction: "Quyết định ở mục Đề nghị sửa thông tin",
    dsr_restrict: "Hạn chế xử lý dữ liệu", dsr_restrict_outcome: "Kết quả (đảng viên sẽ đọc được)",
    dsr_restrict_preset: "Đã hạn chế xử lý dữ liệu của đồng chí: hồ sơ vẫn được lưu giữ theo quy định của Đảng, "
      + "nhưng không còn được chia sẻ sang các hệ thống khác cho đến khi đồng chí đề nghị bỏ hạn chế.",
    restricted_note: "Dữ liệu của đồng chí này đang được hạn chế xử lý theo yêu cầu: hồ sơ được lưu giữ nhưng "
      + "không chia sẻ sang các hệ thống khác.",
    more: "Xem thêm", more_note: "Còn thêm người khác. Bấm “Xem thêm”, hoặc gõ đủ họ tên hay số thẻ để tìm nhanh hơn.",
    template: "Tải tệp mẫu (XLSX)", template_note: "Dòng đầu là tên cột bằng tiếng Việt (Số thẻ đảng viên, Họ và tên, Ngày sinh, Chi bộ…); ngày ghi ngày/tháng/năm, ví dụ 01/05/1960; chi bộ ghi tên.",
    unit_search: "Gõ tên chi bộ, ví dụ: Chi bộ số 2", unit_none: "Không thấy chi bộ nào.", unit_pick: "Đề nghị chọn một chi bộ trong danh sách.",
    chosen: "Đã chọn", reason_needed: "Đề nghị ghi lý do.",
    confirm_transfer: "Chuyển sinh hoạt ({kind}) đồng chí {name} từ {from} đến {to}?",
    confirm_status: "Ghi nhận đồng chí {name} là “{status}”? Việc này không thể tự hoàn tác.",
    reason_is: "Lý do", current: "Hiện tại", proposed: "Đề nghị sửa thành", reject_reason: "Lý do từ chối (đảng viên sẽ đọc được)",
    send_reject: "Gửi từ chối", cancel: "Huỷ", accepted: "Đã chấp nhận đề nghị của đồng chí {name}.",
    rejected_one: "Đã từ chối đề nghị của đồng chí {name}.", file_problem: "Tệp chưa nhập được",
    choose_file: "Chọn tệp (CSV, XLSX)", no_file: "Chưa chọn tệp nào",
    left_deceased: "Đảng viên đã từ trần", left_removed: "Đảng viên đã bị xoá tên", left_transferred_out: "Đảng viên đã chuyển sinh hoạt đi",
    left_note: "{standing}: không chuyển sinh hoạt được nữa. Nếu tình trạng này ghi nhầm, đồng chí đổi lại được ở mục “Đổi tình trạng” bên dưới.",
    confirm_restore: "Ghi nhận lại đồng chí {name} là “{status}” (hồ sơ đang ghi “{was}”)?",
    alerts: "Cảnh báo truy cập bất thường", alerts_none: "Không có cảnh báo nào.",
    alert_line: "{who} đã mở {reads} hồ sơ đầy đủ (có số căn cước, số điện thoại) trong vòng một giờ, từ {from} đến {to}: vượt ngưỡng {threshold} hồ sơ một giờ.",
    alert_account: "Tài khoản {account}", r_unit_admin: "Ban Tổ chức", r_city_admin: "Quản trị thành phố",
    r_cell_secretary: "Bí thư chi bộ", alert_download: "Tải danh sách hồ sơ tài khoản này đã mở (XLSX)",
    alert_close: "Đóng cảnh báo", alert_note: "Đồng chí đã kiểm tra, xử lý thế nào? (được lưu lại)",
    alert_note_needed: "Đề nghị ghi nội dung đã kiểm tra.", alert_closed: "Đã đóng cảnh báo về {who}.",
    alert_reason: "Cảnh báo truy cập bất thường lúc {at}",
  },
  en: {
    rc: "Reconcile with the national database (CSDL 3.0)", rc_note: "Upload an export of the national member database (CSV or XLSX, the import's columns). It is compared with the records of your units; nothing changes until you confirm.",
    rc_choose: "Choose the export (CSV, XLSX)", rc_compare: "Compare", rc_comparing: "Comparing…",
    rc_of: "Comparison of {file} on {day}", rc_unit: "Unit", rc_new: "New", rc_changed: "Changed",
    rc_missing: "Not in the file", rc_conflicts: "Pending corrections", rc_outside: "Moved to or from other units",
    rc_identical: "Identical", rc_total: "Total",
    rc_missing_note: "Members missing from the export are reported for checking, never deleted.",
    rc_conflict_note: "What a member asked to correct (not decided yet) is left as it is; decide their request as usual.",
    rc_report: "Download the report (Excel)", rc_report_csv: "Download the report (CSV)", rc_apply: "Apply the changes",
    rc_confirm: "Apply {n} changes to the registry ({new} new members, {changed} members updated)? Each is kept in the member's history and sent as an event, as an edit is.",
    rc_applied: "Applied on {day}: {applied} members updated, {events} events; {skipped} skipped; {held} held for a pending correction request.",
    rc_nothing: "Nothing to apply: the registry matches the export (but for the members missing from it).",
    rc_outside_rows: "{n} rows are of units outside yours and were not compared.",
    rc_refused: "The file was not compared: correct these rows and upload it again (nothing changed)",
    title: "Member registry", search: "Find a member", search_hint: "Name, card number or phone",
    find: "Find", import: "Import records from a file (CSV, XLSX)", file: "File", upload: "Import",
    corrections: "Correction requests", name: "Full name", card: "Card", unit: "Cell", status: "Standing",
    open: "Open the record", transfer: "Transfer", to_unit: "To cell (type its name)", kind: "Kind",
    official: "Official", temporary: "Temporary", reason: "Reason", change_status: "Change standing",
    until: "Temporary stay until", until_hint: "Day/month/year, e.g. 31/03/2027. The member returns home that day.",
    until_needed: "Enter a real end date, day/month/year, after today.",
    until_said: "On {day} they return home.",
    away: "Attending {unit} temporarily until {day}.", come_back: "End the temporary stay",
    come_back_why: "Why it ends early", came_back: "{name} attends their home cell again.",
    confirm: "Confirm", done: "Updated.", none: "Nobody found.", running: "Importing…",
    imported: "Imported", rejected: "Refused", of: "of", row: "Row", field: "Field", column: "Column", problem: "Problem",
    member: "Member", changes: "Asks for", accept: "Accept", reject: "Reject", no_requests: "No requests.",
    active: "Active", probationary: "Probationary", exempt: "Exempt", transferred_out: "Transferred out",
    deceased: "Deceased", removed: "Removed", born: "Born", born_year: "Born in", phone: "Phone",
    male: "Male", female: "Female", gender: "Gender", admitted_on: "Admitted on", official_on: "Full member since",
    eligible: "Eligible", ineligible_reason: "Why not eligible",
    decided_by_writer: "Decided by a registry administrator",
    dsr: "Members' requests about their personal data", dsr_show: "Show", dsr_all_open: "Every open request", dsr_only_overdue: "Overdue requests only",
    dsr_none: "No request waiting.", dsr_overdue: "Overdue", dsr_received_on: "Received",
    dsr_ack_by: "Answer due by", dsr_due_by: "Settle by", dsr_extended: "Extended, because",
    dsr_acknowledge: "Confirm receipt", dsr_confirm_ack: "Confirm you received the request of {name}?",
    dsr_extend: "Extend", dsr_days: "Days to extend (at most 15, once only)", dsr_extend_reason: "Why (the member reads it)",
    dsr_complete: "Settled", dsr_outcome: "What was done (the member reads it)",
    dsr_refuse: "Not done", dsr_refuse_reason: "Why not (the member reads it)",
    dsr_preset: "Use the standard reason: the registry is kept under the Party's rules",
    dsr_send: "Send", dsr_done: "Updated the request of {name}.",
    dsr_correction: "Correction", dsr_restriction: "Restriction", dsr_objection: "Objection",
    dsr_erasure: "Erasure", dsr_other: "Something else",
    dsr_received: "Not answered yet", dsr_acknowledged: "In hand", dsr_extended_s: "In hand (extended)",
    dsr_as_correction: "Decided under Correction requests",
    dsr_restrict: "Restrict processing", dsr_restrict_outcome: "What was done (the member reads it)",
    dsr_restrict_preset: "Processing of your data is restricted: the record is kept under the Party's rules, but it is "
      + "no longer shared with other systems until you ask for the restriction to be lifted.",
    restricted_note: "This member's data is restricted at their request: the record is kept but not shared with other "
      + "systems.",
    more: "Show more", more_note: "There are more. Press “Show more” or type more of the name, or the card number.",
    template: "Download the template (XLSX)", template_note: "The first row names the columns in Vietnamese (Số thẻ đảng viên, Họ và tên, Ngày sinh, Chi bộ…); dates day/month/year, e.g. 01/05/1960; the cell by its name.",
    unit_search: "Type a cell's name, e.g. Chi bộ số 2", unit_none: "No cell found.", unit_pick: "Choose a cell from the list.",
    chosen: "Chosen", reason_needed: "Please give the reason.",
    confirm_transfer: "Transfer ({kind}) {name} from {from} to {to}?",
    confirm_status: "Record {name} as “{status}”? This cannot be undone here.",
    reason_is: "Reason", current: "Now", proposed: "Proposed", reject_reason: "Reason for refusing (the member reads it)",
    send_reject: "Send the refusal", cancel: "Cancel", accepted: "Accepted the request of {name}.",
    rejected_one: "Refused the request of {name}.", file_problem: "The file was not imported",
    choose_file: "Choose a file (CSV, XLSX)", no_file: "No file chosen",
    left_deceased: "The member has died", left_removed: "The member was removed from the rolls", left_transferred_out: "The member transferred out",
    left_note: "{standing}: no transfer is possible any more. If this standing was recorded by mistake, put it right under “Change standing” below.",
    confirm_restore: "Record {name} again as “{status}” (the record says “{was}”)?",
    alerts: "Unusual reads", alerts_none: "No alerts.",
    alert_line: "{who} opened {reads} full records (with citizen ID and phone) within an hour, from {from} to {to}: more than the {threshold} an hour allowed.",
    alert_account: "Account {account}", r_unit_admin: "Organisation board", r_city_admin: "City administrator",
    r_cell_secretary: "Cell secretary", alert_download: "Download the records this account opened (XLSX)",
    alert_close: "Close the alert", alert_note: "What did you check and do? (kept on record)",
    alert_note_needed: "Please say what was checked.", alert_closed: "Closed the alert about {who}.",
    alert_reason: "Unusual-read alert of {at}",
  },
});

const $ = (id) => document.getElementById(id);
const el = Sotay.el;
const STATUSES = ["active", "probationary", "exempt", "transferred_out", "deceased", "removed"];
const GRAVE = ["deceased", "removed"];  // asked to confirm, with a reason
// Standings the members service transfers no one from (members.transfer_member); it still takes a
// change of standing, to put right one recorded by mistake.
const LEFT = ["transferred_out", "deceased", "removed"];
const PAGE = 20;
const fail = (err) => { $("error").textContent = Sotay.explain(err); };
const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k] ?? "");

// What the import and the registry say of a row or a file, in Vietnamese (the shared reasons are
// common.js's; these are the importer's own).
const IMPORT_REASONS_VI = [
  [/^missing required columns: (.+)$/, "thiếu cột bắt buộc: $1"],
  [/^duplicate columns: (.+)$/, "có cột trùng nhau: $1"],
  [/^the file is empty.*$/, "tệp trống: dòng đầu phải là tên các cột"],
  [/^the CSV file must be saved as UTF-8$/, "tệp CSV phải được lưu dạng UTF-8 (trong Excel: Lưu thành → CSV UTF-8)"],
  [/^the \.xlsx file is not a valid Excel workbook$/, "tệp .xlsx không phải bảng tính Excel hợp lệ"],
  [/^unsupported file type.*$/, "chỉ nhận tệp .csv hoặc .xlsx"],
  [/^the \.xlsx file .*$/, "tệp .xlsx quá lớn hoặc không phải bảng tính do Excel tạo"],
  [/^is not an open party cell of the registry$/, "không phải chi bộ đang hoạt động trong hồ sơ"],
  [/^names more than one cell.*$/, "trùng tên với nhiều chi bộ, đề nghị ghi mã chi bộ"],
  [/^appears twice in this file$/, "bị trùng với một dòng khác trong tệp"],
  [/^is already in the registry$/, "đã có trong hồ sơ"],
  [/^belongs to another member$/, "trùng với đảng viên khác trong hồ sơ"],
  [/^must be one of: male, female$/, "phải là Nam hoặc Nữ"],
  [/^must be one of: active.*$/, "phải là một trong: Đang sinh hoạt, Dự bị, Miễn sinh hoạt, Đã chuyển đi, Từ trần, Xoá tên"],
  [/^cannot be in the future$/, "không được là ngày trong tương lai"],
  [/^member cannot be older than (\d+)$/, "tuổi không được quá $1"],
  [/^member must be (\d+) or older at admission$/, "phải đủ $1 tuổi khi vào Đảng"],
  [/^requires admitted_on$/, "cần có Ngày vào Đảng"],
  [/^must be after admitted_on$/, "phải sau Ngày vào Đảng"],
  [/^is required when eligible is false$/, "cần ghi khi không đủ điều kiện"],
  [/^must be empty when eligible is true$/, "phải để trống khi đủ điều kiện"],
  [/^must be false for a member who is .*$/, "phải là Không với đảng viên không còn sinh hoạt"],
  [/^must be text$/, "phải là chữ"],
  [/^must be true or false$/, "phải là Có hoặc Không"],
  [/^must be a unit code.*$/, "phải là tên (hoặc mã) của một chi bộ"],
];
// A refused row's column as the file heads it, and the field's own name beside it when that differs.
function columnName(x) {
  const ours = Sotay.t(x.field);
  if (!x.column) return ours;
  if (x.column.toLowerCase().includes(ours.toLowerCase())) return x.column;
  return `${x.column} (${ours})`;
}
function importReason(text) {
  if (Sotay.lang !== "vi") return text;
  const known = IMPORT_REASONS_VI.find(([re]) => re.test(text));
  return known ? text.replace(known[0], known[1]) : Sotay.reason(text);
}

// --- search --------------------------------------------------------------------------------
let searched = { q: "", cursor: null };

async function search(e, more = false) {
  if (e) e.preventDefault();
  $("error").textContent = "";
  if (!more) searched = { q: $("q").value, cursor: null };
  try {
    // In a body, not in the URL: a phone number typed here must not reach the proxies' logs.
    const { items, next_cursor } = await Sotay.json("/api/members/v1/members/search", { method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ q: searched.q, limit: PAGE, ...(more ? { cursor: searched.cursor } : {}) }) });
    searched.cursor = next_cursor;
    $("members").tHead.replaceChildren(el("tr", {}, ...["name", "born_year", "unit", "status", ""].map((k) => el("th", {}, k ? Sotay.t(k) : ""))));
    const rows = items.map((m) => el("tr", { "data-id": m.id },
      el("td", { "data-label": Sotay.t("name") }, el("strong", {}, m.full_name), el("div", { class: "muted" }, `${Sotay.t("card")} ${m.party_card_no}`)),
      el("td", { class: "born", "data-label": Sotay.t("born_year") }, m.date_of_birth.slice(0, 4)),
      el("td", { class: "cell", "data-label": Sotay.t("unit") }, m.unit_name || m.unit),
      el("td", { "data-label": Sotay.t("status") }, Sotay.t(m.status)),
      el("td", {}, el("button", { class: "secondary open", onclick: () => openMember(m.id) }, Sotay.t("open")))));
    if (more) $("members").tBodies[0].append(...rows);
    else $("members").tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5" }, Sotay.t("none")))]));
    $("more").hidden = !next_cursor;
    $("more-note").textContent = next_cursor ? Sotay.t("more_note") : "";
  } catch (err) { fail(err); }
}

// --- a member's record -----------------------------------------------------------------------
// A form asking, in the page, to confirm `text` (with the reason given); `act(key)` does it.
function confirmation(id, text, reason, act) {
  const form = el("form", { id, class: "confirm", role: "alertdialog", "aria-labelledby": `${id}-text` },
    el("p", { id: `${id}-text`, class: "notice" }, text),
    reason ? el("p", {}, `${Sotay.t("reason_is")}: ${reason}`) : "",
    el("div", { class: "actions" }, el("button", { type: "submit", class: "yes" }, Sotay.t("confirm")),
      el("button", { type: "button", class: "secondary no", onclick: () => form.remove() }, Sotay.t("cancel"))));
  Sotay.sending(form, async (key) => { await act(key); }, fail);
  return form;
}

function unitPicker(current) {
  let chosen = null, asked = 0;
  const input = el("input", { id: "to-unit", type: "search", autocomplete: "off", placeholder: Sotay.t("unit_search"),
    "aria-controls": "to-unit-results", "aria-autocomplete": "list" });
  const results = el("ul", { id: "to-unit-results", class: "unit-results", hidden: "" });
  const shown = el("p", { id: "to-unit-chosen", class: "notice", "aria-live": "polite" });
  const find = async () => {
    const q = input.value.trim(), mine = ++asked;
    chosen = null; shown.textContent = "";
    if (!q) { results.hidden = true; return; }
    try {
      const { items } = await Sotay.json(`/api/members/v1/org-units?kind=cell&limit=20&q=${encodeURIComponent(q)}`);
      if (mine !== asked) return;
      const open = items.filter((u) => !u.closed && u.code !== current);
      results.replaceChildren(...(open.length ? open.map((u) => el("li", {}, el("button", { type: "button", class: "unit-choice",
        "data-code": u.code, onclick: () => { chosen = u; input.value = u.name; results.hidden = true;
          shown.textContent = `${Sotay.t("chosen")}: ${u.name}`; input.dispatchEvent(new Event("change", { bubbles: true })); } }, u.name)))
        : [el("li", { class: "muted" }, Sotay.t("unit_none"))]));
      results.hidden = false;
    } catch (err) { fail(err); }
  };
  let timer = null;
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(find, 250); });
  return { input, box: el("div", { class: "unit-picker" }, input, results, shown), chosen: () => chosen };
}

// The transfer of member `m` (in the cell named `here`), confirmed in the page with its reason.
function transferForm(m, here) {
  const picker = unitPicker(m.unit);
  const kind = el("select", { id: "transfer-kind" }, ...["official", "temporary"].map((k) => el("option", { value: k }, Sotay.t(k))));
  const transferWhy = el("input", { id: "transfer-reason", maxlength: "1000" });
  // A temporary transfer ends on a day typed dd/mm/yyyy: the member returns home that day.
  const until = el("input", { id: "transfer-until", inputmode: "numeric", placeholder: Sotay.t("date_placeholder"),
    "aria-describedby": "transfer-until-hint", maxlength: "10" });
  const untilBox = el("div", { id: "transfer-until-box", hidden: "" },
    el("label", { for: "transfer-until" }, Sotay.t("until")),
    el("p", { id: "transfer-until-hint", class: "hint" }, Sotay.t("until_hint")), until);
  kind.addEventListener("change", () => { untilBox.hidden = kind.value !== "temporary"; });
  const transfer = el("form", { id: "transfer-form", novalidate: "" }, el("h3", {}, Sotay.t("transfer")),
    el("label", { for: "to-unit" }, Sotay.t("to_unit")), picker.box,
    el("label", { for: "transfer-kind" }, Sotay.t("kind")), kind, untilBox,
    el("label", { for: "transfer-reason" }, Sotay.t("reason")), transferWhy,
    el("p", {}, el("button", { type: "submit" }, Sotay.t("transfer"))));
  transfer.addEventListener("submit", (e) => {
    e.preventDefault();
    Sotay.clearFieldErrors(transfer);
    const to = picker.chosen();
    if (!to) { Sotay.fieldError(picker.input, Sotay.t("unit_pick")); picker.input.focus(); return; }
    const temporary = kind.value === "temporary";
    const untilIso = temporary ? Sotay.isoDate(until.value.trim()) : null;
    if (temporary && !untilIso) { Sotay.fieldError(until, Sotay.t("until_needed")); until.focus(); return; }
    if (!transferWhy.value.trim()) { Sotay.fieldError(transferWhy, Sotay.t("reason_needed")); transferWhy.focus(); return; }
    const text = fill(Sotay.t("confirm_transfer"), { kind: Sotay.t(kind.value).toLowerCase(), name: m.full_name, from: here, to: to.name })
      + (temporary ? ` ${fill(Sotay.t("until_said"), { day: Sotay.date(untilIso) })}` : "");
    const ask = confirmation("transfer-confirm", text, transferWhy.value.trim(), async (key) => {
      await Sotay.post(`/api/members/v1/members/${m.id}/transfers`, { to_unit: to.code, kind: kind.value,
        reason: transferWhy.value.trim(), ...(temporary ? { until: untilIso } : {}) }, key);
      await done(m.id);
    });
    $("transfer-confirm")?.remove();
    transfer.after(ask);
    ask.querySelector("button.yes").focus();
  });
  return transfer;
}

// A unit's name from the org tree (the code only while it is not known).
const unitNameOf = (code) => Sotay.unitName(code).then((name) => name || code);

// A member on a temporary transfer: where and until when, and ending it early (with a reason).
function awayNote(m) {
  const where = el("strong", {}, "…");
  unitNameOf(m.temporary_unit).then((name) => { where.textContent = name; });
  const [before, after] = Sotay.t("away").replace("{day}", Sotay.date(m.temporary_until)).split("{unit}");
  const why = el("input", { id: "come-back-reason", maxlength: "1000" });
  const form = el("form", { id: "come-back-form", novalidate: "" },
    el("label", { for: "come-back-reason" }, Sotay.t("come_back_why")), why,
    el("p", {}, el("button", { type: "submit", class: "secondary" }, Sotay.t("come_back"))));
  Sotay.sending(form, async (key) => {
    Sotay.clearFieldErrors(form);
    if (!why.value.trim()) { Sotay.fieldError(why, Sotay.t("reason_needed")); why.focus(); return; }
    await Sotay.post(`/api/members/v1/members/${m.id}/return`, { reason: why.value.trim() }, key);
    await done(m.id);
    $("member-done").textContent = fill(Sotay.t("came_back"), { name: m.full_name });
  }, (err) => { Sotay.showFieldErrors(form, err, () => why); fail(err); });
  return el("div", { id: "member-away", class: "notice" }, el("p", {}, before, where, after || ""), form);
}

async function openMember(id) {
  $("error").textContent = "";
  try {
    const m = await Sotay.json(`/api/members/v1/members/${id}`);
    document.querySelectorAll("#members tr[aria-current]").forEach((r) => r.removeAttribute("aria-current"));
    const row = document.querySelector(`#members tr[data-id="${id}"]`);
    if (row) row.setAttribute("aria-current", "true");
    const here = m.unit_name || m.unit;
    const left = LEFT.includes(m.status);

    const status = el("select", { id: "new-status" }, ...STATUSES.map((s) => el("option", { value: s }, Sotay.t(s))));
    status.value = m.status;
    const why = el("input", { id: "status-reason", maxlength: "1000" });
    const change = el("form", { id: "status-form", novalidate: "" }, el("h3", {}, Sotay.t("change_status")),
      el("label", { for: "new-status" }, Sotay.t("status")), status,
      el("label", { for: "status-reason" }, Sotay.t("reason")), why,
      el("p", {}, el("button", { type: "submit" }, Sotay.t("change_status"))));
    const changeStatus = async (key) => {
      // Back in standing from one the member had left, they are eligible again: leaving made them not,
      // and the service keeps that unless told.
      const back = left && !LEFT.includes(status.value);
      await Sotay.post(`/api/members/v1/members/${id}/status`, { status: status.value, reason: why.value.trim() || null,
        ...(back ? { eligible: true } : {}) }, key);
      await done(id);
    };
    change.addEventListener("submit", async (e) => {
      e.preventDefault();
      Sotay.clearFieldErrors(change);
      $("status-confirm")?.remove();
      if (!GRAVE.includes(status.value) && !left) {
        try { await changeStatus(crypto.randomUUID()); } catch (err) { fail(err); }
        return;
      }
      if (!why.value.trim()) { Sotay.fieldError(why, Sotay.t("reason_needed")); why.focus(); return; }
      const ask = confirmation("status-confirm", fill(Sotay.t(left ? "confirm_restore" : "confirm_status"),
        { name: m.full_name, status: Sotay.t(status.value), was: Sotay.t(m.status) }), why.value.trim(), changeStatus);
      change.after(ask);
      ask.querySelector("button.yes").focus();
    });

    const rows = [["name", m.full_name], ["card", m.party_card_no], ["born", Sotay.date(m.date_of_birth)],
                  ["gender", m.gender ? Sotay.t(m.gender) : "—"], ["unit", here],
                  ["status", Sotay.t(m.status)], ["phone", m.phone ? Sotay.phone(m.phone) : "—"]];
    $("member").replaceChildren(el("h3", { id: "member-name", tabindex: "-1" }, m.full_name),
      el("dl", { class: "record" }, ...rows.flatMap(([k, v]) => [el("dt", {}, Sotay.t(k)), el("dd", { "data-field": k }, v)])),
      left ? el("p", { id: "member-left", class: "notice" }, fill(Sotay.t("left_note"), { standing: Sotay.t(`left_${m.status}`) })) : "",
      m.restricted ? el("p", { id: "member-restricted", class: "notice" }, Sotay.t("restricted_note")) : "",
      m.temporary_unit ? awayNote(m) : "",
      el("p", { id: "member-done", class: "notice", role: "status" }), left ? "" : transferForm(m, here), change);
    // The record opens below the list: take the reader there.
    $("member").scrollIntoView({ block: "start" });
    $("member-name").focus({ preventScroll: true });
  } catch (err) { fail(err); }
}

async function done(id) {
  await openMember(id);
  $("member-done").textContent = Sotay.t("done");
  const keep = window.scrollY;
  await search();
  window.scrollTo(0, keep);
}

// --- imports ---------------------------------------------------------------------------------
async function upload() {
  $("error").textContent = ""; $("import-progress").textContent = "";
  $("import-errors").tBodies[0].replaceChildren();
  const body = new FormData();
  body.append("file", $("file").files[0]);
  try {
    const started = await Sotay.json("/api/members/v1/imports", { method: "POST", body });
    for (;;) {
      const r = await Sotay.json(`/api/members/v1/imports/${started.id}`);
      $("import-progress").textContent = r.status === "running" ? `${Sotay.t("running")} ${Sotay.number(r.imported + r.rejected)} ${Sotay.t("of")} ${Sotay.number(r.total_rows || 0)}`
        : `${Sotay.t("imported")}: ${Sotay.number(r.imported)}; ${Sotay.t("rejected")}: ${Sotay.number(r.rejected)}`;
      const errors = [...r.errors].sort((a, b) => a.row - b.row);
      $("import-errors").tBodies[0].replaceChildren(...(errors.length ? [el("tr", {}, ...["row", "column", "problem"].map((k) => el("th", {}, Sotay.t(k))))] : []),
        ...errors.map((x) => el("tr", { class: "import-error" }, el("td", {}, x.row), el("td", {}, columnName(x)),
          el("td", {}, importReason(x.reason)))));
      if (r.status !== "running") break;
      await new Promise((ok) => setTimeout(ok, 500));
    }
  } catch (err) {
    const about = ((err.problem && err.problem.errors) || []).find((x) => x.field === "file");
    if (about) $("error").textContent = `${Sotay.t("file_problem")}: ${importReason(about.reason)}`;
    else fail(err);
  }
}

// --- reconciliation with the national database (docs/reconcile.md) ----------------------------
// An export uploaded and compared (nothing changes yet): counts per unit, the report to download,
// and applying it once confirmed in the page. Shown to registry writers only.
const dayOf = (iso) => new Date(iso).toLocaleDateString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh", day: "2-digit",
  month: "2-digit", year: "numeric" });
function showReconciliation(r) {
  const keys = ["new", "changed", "missing", "conflicts", "outside", "identical"];
  const head = el("tr", {}, el("th", {}, Sotay.t("rc_unit")), ...keys.map((k) => el("th", {}, Sotay.t(`rc_${k}`))));
  const total = { ...r.totals, identical: r.identical };
  const line = (name, u, cls) => el("tr", cls ? { class: cls } : {}, el("td", {}, name),
    ...keys.map((k) => el("td", { "data-label": Sotay.t(`rc_${k}`), class: "num" }, Sotay.number(u[k] || 0))));
  const applied = r.outcome;
  const differences = r.totals.new + r.totals.changed;
  const apply = el("button", { type: "button", id: "rc-apply" }, Sotay.t("rc_apply"));
  apply.addEventListener("click", () => {
    if ($("rc-confirm")) return;
    apply.after(confirmation("rc-confirm", fill(Sotay.t("rc_confirm"), { n: Sotay.number(differences),
      new: Sotay.number(r.totals.new), changed: Sotay.number(r.totals.changed) }), null, async (key) => {
      const done = await Sotay.json(`/api/members/v1/reconciliations/${r.id}/apply`,
        { method: "POST", headers: { "Idempotency-Key": key } });
      showReconciliation(done);
    }));
  });
  const report = (fmt, label) => {
    const b = el("button", { type: "button", class: "secondary", id: `rc-report-${fmt}` }, Sotay.t(label));
    b.addEventListener("click", () => Sotay.download(`/api/members/v1/reconciliations/${r.id}/report.${fmt}`,
      `doi-soat.${fmt}`).catch(fail));
    return b;
  };
  $("rc-result").replaceChildren(
    el("h3", {}, fill(Sotay.t("rc_of"), { file: r.filename, day: dayOf(r.created_at) })),
    el("div", { class: "scroll" }, el("table", { id: "rc-units", class: "cards" }, el("thead", {}, head),
      el("tbody", {}, ...r.units.map((u) => line(u.name, u)), line(Sotay.t("rc_total"), total, "total")))),
    r.rows_outside ? el("p", { class: "muted" }, fill(Sotay.t("rc_outside_rows"), { n: Sotay.number(r.rows_outside) })) : "",
    el("p", { class: "notice" }, Sotay.t("rc_missing_note")),
    r.totals.conflicts ? el("p", { class: "notice" }, Sotay.t("rc_conflict_note")) : "",
    el("div", { class: "actions" }, report("xlsx", "rc_report"), report("csv", "rc_report_csv"),
      applied || !differences ? "" : apply),
    applied ? el("p", { id: "rc-done", class: "notice", role: "status" }, fill(Sotay.t("rc_applied"), {
      day: dayOf(r.applied_at), applied: Sotay.number(applied.applied || 0), events: Sotay.number(applied.events || 0),
      skipped: Sotay.number(applied.skipped || 0), held: Sotay.number(applied.held || 0) }))
      : !differences ? el("p", { id: "rc-done", class: "notice", role: "status" }, Sotay.t("rc_nothing")) : "");
}
async function reconcileFile() {
  $("error").textContent = "";
  const body = new FormData();
  body.append("file", $("rc-file").files[0]);
  $("rc-result").replaceChildren(el("p", { role: "status" }, Sotay.t("rc_comparing")));
  try {
    showReconciliation(await Sotay.json("/api/members/v1/reconciliations", { method: "POST", body }));
  } catch (err) {
    $("rc-result").replaceChildren();
    const rows = ((err.problem && err.problem.errors) || []).filter((x) => x.field === "file");
    if (!rows.length) { fail(err); return; }
    $("rc-result").replaceChildren(el("p", { class: "error", role: "alert" }, Sotay.t("rc_refused")),
      el("div", { class: "scroll" }, el("table", { id: "rc-errors", class: "text" }, el("tbody", {},
        el("tr", {}, ...["row", "column", "problem"].map((k) => el("th", {}, Sotay.t(k)))),
        ...rows.map((x) => el("tr", {}, el("td", {}, x.row ?? ""), el("td", {}, x.row ? columnName({ ...x, field: x.name }) : ""),
          el("td", {}, importReason(x.reason))))))));
  }
}
async function loadReconciliations() {
  let items;
  try {
    items = (await Sotay.json("/api/members/v1/reconciliations")).items;
  } catch (err) {
    if (err.status === 403) return;  // not a registry writer: the section stays hidden
    fail(err); return;
  }
  $("reconcile").hidden = false;
  if (items.length) showReconciliation(items[0]);
}

// --- correction requests ---------------------------------------------------------------------
const shownValue = (field, value) => {
  if (value === null || value === undefined || value === "") return "—";
  if (field === "date_of_birth") return Sotay.date(String(value));
  if (field === "phone") return Sotay.phone(value);
  if (field === "gender") return Sotay.t(value);
  return String(value);
};

async function loadCorrections(said) {
  try {
    const { items } = await Sotay.json("/api/members/v1/corrections?status=pending");
    $("corrections-done").textContent = said || "";
    $("corrections").tHead.replaceChildren(el("tr", {}, ...["member", "changes", ""].map((k) => el("th", {}, k ? Sotay.t(k) : ""))));
    $("corrections").tBodies[0].replaceChildren(...(items.length ? items.map((c) => {
      const decide = async (accept, reason, key) => {
        await Sotay.post(`/api/members/v1/corrections/${c.id}/${accept ? "accept" : "reject"}`, { reason }, key);
        await loadCorrections(fill(Sotay.t(accept ? "accepted" : "rejected_one"), { name: c.full_name }));
      };
      const actions = el("div", { class: "actions" });
      const askReason = () => {
        const input = el("textarea", { id: `reject-reason-${c.id}`, class: "reject-reason", rows: "2", maxlength: "1000" });
        const form = el("form", { class: "reject-form", novalidate: "" },
          el("label", { for: input.id }, Sotay.t("reject_reason")), input,
          el("div", { class: "actions" }, el("button", { type: "submit", class: "send-reject" }, Sotay.t("send_reject")),
            el("button", { type: "button", class: "secondary", onclick: () => { form.remove(); actions.hidden = false; } }, Sotay.t("cancel"))));
        Sotay.sending(form, async (key) => {
          if (!input.value.trim()) { Sotay.fieldError(input, Sotay.t("reason_needed")); input.focus(); return; }
          await decide(false, input.value.trim(), key);
        }, fail);
        actions.hidden = true;
        actions.after(form);
        input.focus();
      };
      if (c.can_decide) {
        const accept = el("form", { class: "accept-form" }, el("button", { type: "submit", class: "accept" }, Sotay.t("accept")));
        Sotay.sending(accept, (key) => decide(true, null, key), fail);
        actions.append(accept, el("button", { type: "button", class: "secondary reject", onclick: askReason }, Sotay.t("reject")));
      }
      const current = c.current || {};
      return el("tr", { "data-id": c.id },
        el("td", { "data-label": Sotay.t("member") }, el("strong", {}, c.full_name), el("div", { class: "muted" }, `${Sotay.t("card")} ${c.party_card_no}`)),
        el("td", { "data-label": Sotay.t("changes") }, ...Object.entries(c.changes).map(([k, v]) => el("div", { class: "change", "data-field": k },
          el("div", { class: "change-field" }, Sotay.t(k)),
          el("div", { class: "current" }, el("span", { class: "muted" }, `${Sotay.t("current")}: `), shownValue(k, current[k])),
          el("div", { class: "proposed" }, el("span", { class: "muted" }, `${Sotay.t("proposed")}: `), el("strong", {}, shownValue(k, v))))),
          c.note ? el("div", { class: "muted note" }, c.note) : ""),
        el("td", {}, c.can_decide ? actions : el("span", { class: "muted" }, Sotay.t("decided_by_writer"))));
    }) : [el("tr", {}, el("td", { colspan: "3" }, Sotay.t("no_requests")))]));
  } catch (err) { fail(err); }
}

// --- members' data-subject requests (handlers/subject_requests.py): the most urgent first, the
// overdue marked; acknowledge (confirmed in the page), extend once (days and a reason), settle (what
// was done) or refuse (why: a standard reason for an erasure of the registry). The member reads the
// reasons and outcomes as written, so they are the unit's words to them, in Vietnamese.
const REGISTRY_KEPT = "Hồ sơ đảng viên được lưu giữ theo Điều lệ và quy định của Đảng nên không thể xoá. "
  + "Đồng chí có thể yêu cầu hạn chế việc xem hồ sơ: chỉ cán bộ phụ trách được xem, và mọi lần xem đều được ghi lại.";

function requestAction(r, actions, what, fields, body) {
  const form = el("form", { class: `dsr-form ${what}-form`, novalidate: "" }, ...fields,
    el("div", { class: "actions" }, el("button", { type: "submit", class: "send" }, Sotay.t("dsr_send")),
      el("button", { type: "button", class: "secondary", onclick: () => { form.remove(); actions.hidden = false; } }, Sotay.t("cancel"))));
  Sotay.sending(form, async (key) => {
    Sotay.clearFieldErrors(form);
    const text = form.querySelector("textarea");
    if (text && !text.value.trim()) { Sotay.fieldError(text, Sotay.t("reason_needed")); text.focus(); return; }
    await Sotay.post(`/api/members/v1/subject-requests/${r.id}/${what}`, body(), key);
    await loadRequests(fill(Sotay.t("dsr_done"), { name: r.full_name }));
  }, (err) => { Sotay.showFieldErrors(form, err, (f) => form.querySelector(`[name="${f}"]`)); fail(err); });
  actions.hidden = true;
  actions.after(form);
  (form.querySelector("textarea") || form.querySelector("button")).focus();
}

function requestActions(r) {
  const actions = el("div", { class: "actions" });
  const text = (what, label) => el("textarea", { id: `dsr-${what}-${r.id}`, name: what === "complete" ? "outcome" : "reason",
    rows: "3", maxlength: "2000", "aria-label": Sotay.t(label) });
  const labelled = (input, label) => [el("label", { for: input.id }, Sotay.t(label)), input];
  const button = (what, label, open) => el("button", { type: "button", class: `secondary ${what}`, onclick: open }, Sotay.t(label));
  if (r.status === "received") {
    actions.append(button("acknowledge", "dsr_acknowledge", () => {
      actions.hidden = true;
      actions.after(confirmation(`dsr-ack-${r.id}`, fill(Sotay.t("dsr_confirm_ack"), { name: r.full_name }), null, async (key) => {
        await Sotay.post(`/api/members/v1/subject-requests/${r.id}/acknowledge`, {}, key);
        await loadRequests(fill(Sotay.t("dsr_done"), { name: r.full_name }));
      }));
    }));
  }
  if (!r.extended_to) {
    actions.append(button("extend", "dsr_extend", () => {
      const days = el("select", { id: `dsr-days-${r.id}`, name: "days" },
        ...Array.from({ length: 15 }, (_, i) => el("option", { value: String(15 - i) }, String(15 - i))));
      const why = text("extend", "dsr_extend_reason");
      requestAction(r, actions, "extend", [...labelled(days, "dsr_days"), ...labelled(why, "dsr_extend_reason")],
        () => ({ days: Number(days.value), reason: why.value.trim() }));
    }));
  }
  if (r.correction_id) {
    actions.append(el("p", { class: "muted" }, Sotay.t("dsr_as_correction")));
    return actions;
  }
  if (["restriction", "objection"].includes(r.kind)) {
    // Restricting settles the request: the record stays, nothing of the member leaves the registry
    // (PUT …/restriction with the request's id completes it with these words).
    actions.append(button("restrict", "dsr_restrict", () => {
      const outcome = text("restrict", "dsr_restrict_outcome");
      outcome.value = Sotay.t("dsr_restrict_preset");
      const form = el("form", { class: "dsr-form restrict-form", novalidate: "" },
        ...labelled(outcome, "dsr_restrict_outcome"),
        el("div", { class: "actions" }, el("button", { type: "submit", class: "send" }, Sotay.t("dsr_send")),
          el("button", { type: "button", class: "secondary", onclick: () => { form.remove(); actions.hidden = false; } },
            Sotay.t("cancel"))));
      Sotay.sending(form, async (key) => {
        Sotay.clearFieldErrors(form);
        if (!outcome.value.trim()) { Sotay.fieldError(outcome, Sotay.t("reason_needed")); outcome.focus(); return; }
        await Sotay.json(`/api/members/v1/members/${r.member_id}/restriction`, { method: "PUT",
          headers: { "Content-Type": "application/json", "Idempotency-Key": key },
          body: JSON.stringify({ restricted: true, reason: outcome.value.trim(), request_id: r.id }) });
        await loadRequests(fill(Sotay.t("dsr_done"), { name: r.full_name }));
      }, (err) => { Sotay.showFieldErrors(form, err, () => outcome); fail(err); });
      actions.hidden = true;
      actions.after(form);
      outcome.focus();
    }));
  }
  actions.append(button("complete", "dsr_complete", () => {
    const outcome = text("complete", "dsr_outcome");
    requestAction(r, actions, "complete", labelled(outcome, "dsr_outcome"), () => ({ outcome: outcome.value.trim() }));
  }), button("refuse", "dsr_refuse", () => {
    const why = text("refuse", "dsr_refuse_reason");
    const preset = el("button", { type: "button", class: "secondary preset", onclick: () => { why.value = REGISTRY_KEPT; why.focus(); } },
      Sotay.t("dsr_preset"));
    requestAction(r, actions, "refuse", [...labelled(why, "dsr_refuse_reason"), el("p", {}, preset)],
      () => ({ reason: why.value.trim() }));
  }));
  return actions;
}

async function loadRequests(said) {
  let items;
  try {
    ({ items } = await Sotay.json(`/api/members/v1/subject-requests${$("dsr-filter").value === "overdue" ? "?overdue=true" : ""}`));
  } catch (err) {
    if (err.status === 403) return;  // not a registry writer: the section stays hidden
    fail(err); return;
  }
  $("subject-requests").hidden = false;
  $("dsr-done").textContent = said || "";
  $("dsr-list").replaceChildren(...(items.length ? items.map((r) => el("li", { class: `dsr${r.overdue ? " behind" : ""}`, "data-id": r.id, "data-status": r.status },
    el("p", {}, el("strong", {}, r.full_name), ` · ${Sotay.t("card")} ${r.party_card_no} · ${r.unit_name}`),
    el("p", {}, el("span", { class: "state" }, Sotay.t(r.status === "extended" ? "dsr_extended_s" : `dsr_${r.status}`)),
      r.overdue ? el("strong", { class: "overdue" }, ` — ${Sotay.t("dsr_overdue")}`) : "", ` · ${Sotay.t(`dsr_${r.kind}`)}`),
    el("p", { class: "muted note" }, r.asked),
    el("p", { class: "deadline" }, `${Sotay.t("dsr_received_on")} ${Sotay.date(r.received_at)}`
      + (r.status === "received" ? ` · ${Sotay.t("dsr_ack_by")}: ${Sotay.date(r.acknowledge_by)}` : "")
      + ` · ${Sotay.t("dsr_due_by")}: ${Sotay.date(r.extended_to || r.due_by)}`),
    r.extension_reason ? el("p", {}, `${Sotay.t("dsr_extended")}: ${r.extension_reason}`) : "",
    r.can_act ? requestActions(r) : ""))
    : [el("li", { class: "none muted" }, Sotay.t("dsr_none"))]));
}

// --- unusual-read alerts (the city's operators; anyone else is refused them, and sees nothing) --
const when = (iso) => `${new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  timeZone: "Asia/Ho_Chi_Minh" }).format(new Date(iso))} ${Sotay.date(iso)}`;
// Who read, as people say it: the name when the registry knows them, the role and the unit's name.
function reader(a) {
  const role = a.reader_role ? [Sotay.t(`r_${a.reader_role}`), a.reader_unit_name || a.reader_unit].filter(Boolean).join(", ") : "";
  const who = a.reader_name || fill(Sotay.t("alert_account"), { account: a.account });
  return role ? `${who} (${role})` : who;
}

async function loadAlerts(said) {
  let items;
  try {
    ({ items } = await Sotay.json("/api/members/v1/alerts"));
  } catch (err) {
    if (err.status === 403) return;  // not an operator
    fail(err); return;
  }
  $("alerts").hidden = false;
  $("alerts-done").textContent = said || "";
  $("alert-list").replaceChildren(...(items.length ? items.map((a) => {
    const download = el("button", { type: "button", class: "secondary download" }, Sotay.t("alert_download"));
    download.addEventListener("click", () => Sotay.download("/api/members/v1/access-history/export.xlsx",
      "lich-su-truy-cap.xlsx", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ account: a.account, since: a.window_start,
          reason: fill(Sotay.t("alert_reason"), { at: when(a.raised_at) }) }) }).catch(fail));
    const note = el("textarea", { id: `alert-note-${a.id}`, class: "alert-note", rows: "2", maxlength: "1000" });
    const close = el("form", { class: "close-form", novalidate: "" },
      el("label", { for: note.id }, Sotay.t("alert_note")), note,
      el("p", {}, el("button", { type: "submit" }, Sotay.t("alert_close"))));
    Sotay.sending(close, async (key) => {
      Sotay.clearFieldErrors(close);
      if (!note.value.trim()) { Sotay.fieldError(note, Sotay.t("alert_note_needed")); note.focus(); return; }
      await Sotay.post(`/api/members/v1/alerts/${a.id}/close`, { note: note.value.trim() }, key);
      await loadAlerts(fill(Sotay.t("alert_closed"), { who: reader(a) }));
    }, fail);
    return el("li", { class: "alert", "data-id": a.id },
      el("p", { class: "alert-line" }, fill(Sotay.t("alert_line"), { who: reader(a), reads: Sotay.number(a.reads),
        threshold: Sotay.number(a.threshold), from: when(a.window_start), to: when(a.window_end) })),
      el("p", {}, download), close);
  }) : [el("li", { class: "none muted" }, Sotay.t("alerts_none"))]));
}

async function load() {
  $("console").hidden = false; $("signout").hidden = false;
  await Promise.all([search(), loadCorrections(), loadAlerts(), loadRequests(), loadReconciliations()]);
}

$("search-form").addEventListener("submit", (e) => search(e));
$("more").addEventListener("click", () => search(null, true));
$("dsr-filter").addEventListener("change", () => loadRequests());
$("template").addEventListener("click", (e) => {
  e.preventDefault();
  Sotay.download("/api/members/v1/imports/template.xlsx", "mau-nhap-dang-vien.xlsx").catch(fail);
});
// The browser's own file button speaks the browser's language: ours is a label, the chosen file named beside it.
$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  $("file-name").textContent = file ? file.name : Sotay.t("no_file");
});
Sotay.sending($("import-form"), upload, fail);
$("rc-file").addEventListener("change", () => {
  const file = $("rc-file").files[0];
  $("rc-file-name").textContent = file ? file.name : Sotay.t("no_file");
});
Sotay.sending($("rc-form"), reconcileFile, fail);
Sotay.start(load);
