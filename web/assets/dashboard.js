// The rollout dashboard: a unit's figures (its whole subtree), live from the
// metrics stream; the units under it, to sort, filter and drill down; the
// funnel; progress against the plan (an SVG drawn here, no library); the
// summary paragraph and the exports.
//
// It opens where the signed-in person stands (/rollout/place: a member's or a
// cell secretary's cell, a committee's committee, the city for a city role);
// a ?unit= they may not open says so and shows their own unit instead.
"use strict";

Sotay.words({
  vi: {
    title: "Theo dõi triển khai Sổ tay đảng viên điện tử",
    connecting: "Đang kết nối…", live: "Trực tiếp", down: "Mất kết nối, đang thử lại…",
    ended: "Phiên đăng nhập đã kết thúc, số liệu không còn cập nhật", sign_in_again: "Đăng nhập lại",
    updated: "cập nhật lúc", as_of: "Số liệu ngày", reports: "Báo cáo",
    xlsx: "Tải báo cáo Excel (XLSX)", csv: "Tải CSV",
    csv_note: "Tệp CSV dùng dấu chấm phẩy (;) để Excel cài đặt tiếng Việt mở đúng cột; nên dùng tệp Excel (XLSX).",
    below: "Các đơn vị trực thuộc", only_active: "Chỉ hiện đơn vị đã có người cài đặt",
    behind_note: "Dấu ⚠: tỷ lệ cài đặt thấp hơn kế hoạch hôm nay.",
    behind_plan: "chậm so với kế hoạch hôm nay", hidden_rows: "đơn vị chưa có người cài đặt đang được ẩn",
    meetings: "Sinh hoạt chi bộ", unplanned: "Chi bộ chưa lên lịch tháng sau",
    m_planned: "Chi bộ đã lên lịch tháng {m}", m_on_time: "Lên lịch đúng hạn (trước ngày 20)",
    m_held: "Chi bộ đã sinh hoạt tháng {m}", m_attendance: "Tỷ lệ dự sinh hoạt tháng {m}",
    m_note: "Lịch sinh hoạt thường kỳ của tháng sau cần có trước hết ngày {d}.",
    funnel: "Từ đăng ký đến sử dụng", progress: "Tiến độ so với kế hoạch (% đảng viên đủ điều kiện đã cài đặt)",
    unit: "Đơn vị", total: "Tổng cộng", sort_by: "Sắp xếp theo",
    members_total: "Tổng số đảng viên", members_eligible: "Đủ điều kiện",
    accounts_installed: "Đã cài đặt", accounts_web: "Trên máy tính", accounts_mobile: "Trên điện thoại",
    accounts_pending: "Chờ phê duyệt", accounts_approved: "Đã phê duyệt",
    installed_pct_total: "% tổng số", installed_pct_eligible: "% đủ điều kiện", expected_pct_today: "Kế hoạch hôm nay",
    readers_today: "Đọc tin hôm nay", trained_people: "Đã tập huấn",
    hint_members_eligible: "đảng viên có thể đăng ký tài khoản",
    hint_accounts_installed: "gồm cả người đang chờ phê duyệt",
    hint_accounts_web: "đăng ký trên trình duyệt", hint_accounts_mobile: "đăng ký trên ứng dụng điện thoại",
    hint_accounts_pending: "đã đăng ký, chi bộ chưa phê duyệt",
    accounts_overdue: "Chờ quá hạn phê duyệt", hint_accounts_overdue: "đã chuyển lên đơn vị cấp trên",
    requests_overdue: "Yêu cầu về dữ liệu quá hạn", hint_requests_overdue: "của đảng viên, đã chuyển lên cấp trên",
    hint_accounts_approved: "đã được chi bộ phê duyệt",
    hint_installed_pct_total: "đã cài đặt / tổng số đảng viên",
    hint_installed_pct_eligible: "đã cài đặt / số đủ điều kiện",
    hint_expected_pct_today: "% đủ điều kiện cần đạt hôm nay theo kế hoạch",
    hint_readers_today: "số người đã mở đọc tin hôm nay", hint_trained_people: "lượt người dự tập huấn",
    registered: "Đăng ký", pending: "Chờ duyệt", approved: "Đã duyệt", activated: "Đã sử dụng",
    hint_registered: "mọi lượt đăng ký tài khoản", hint_pending: "chưa được chi bộ phê duyệt",
    hint_approved: "đã được phê duyệt", hint_activated: "tài khoản đã đăng nhập ít nhất một lần",
    actual: "Thực tế", planned: "Kế hoạch", today: "Hôm nay", no_history: "Chưa có số liệu để vẽ biểu đồ.",
    none_below: "Không có đơn vị trực thuộc.",
    outside: "Đồng chí không phụ trách đơn vị trong đường dẫn; đang hiển thị đơn vị của đồng chí:",
    unknown: "Không tìm thấy đơn vị trong đường dẫn; đang hiển thị đơn vị của đồng chí:",
  },
  en: {
    title: "Electronic Party-member handbook: rollout",
    connecting: "Connecting…", live: "Live", down: "Connection lost, retrying…",
    ended: "Your session has ended; the figures are no longer updated", sign_in_again: "Sign in again",
    updated: "updated at", as_of: "Figures as of", reports: "Reports",
    xlsx: "Download the Excel report (XLSX)", csv: "Download CSV",
    csv_note: "The CSV file is separated by commas for English regional settings; the Excel file (XLSX) opens anywhere.",
    below: "Units below", only_active: "Only units where someone has installed",
    behind_note: "⚠: installed share below today's plan.",
    behind_plan: "behind today's plan", hidden_rows: "units with no installation are hidden",
    meetings: "Cell meetings", unplanned: "Cells without next month's meeting planned",
    m_planned: "Cells with {m} planned", m_on_time: "Planned on time (by the 20th)",
    m_held: "Cells that met in {m}", m_attendance: "Attendance in {m}",
    m_note: "Next month's regular meeting is due in the plan by the end of {d}.",
    funnel: "From sign-up to use", progress: "Progress against the plan (% of eligible members installed)",
    unit: "Unit", total: "Total", sort_by: "Sort by",
    members_total: "Members", members_eligible: "Eligible",
    accounts_installed: "Installed", accounts_web: "On a computer", accounts_mobile: "On a phone",
    accounts_pending: "Pending approval", accounts_approved: "Approved",
    installed_pct_total: "% of all", installed_pct_eligible: "% of eligible", expected_pct_today: "Plan for today",
    readers_today: "Readers today", trained_people: "Trained",
    hint_members_eligible: "members who can register an account",
    hint_accounts_installed: "includes those awaiting approval",
    hint_accounts_web: "registered in a browser", hint_accounts_mobile: "registered in the phone app",
    hint_accounts_pending: "registered, not yet approved by the cell",
    accounts_overdue: "Waiting past the approval term", hint_accounts_overdue: "sent up to the unit above",
    requests_overdue: "Data requests overdue", hint_requests_overdue: "members' requests, sent up to the unit above",
    hint_accounts_approved: "approved by the cell",
    hint_installed_pct_total: "installed / all members",
    hint_installed_pct_eligible: "installed / eligible members",
    hint_expected_pct_today: "% of eligible the plan expects today",
    hint_readers_today: "people who opened the news today", hint_trained_people: "attendances at training",
    registered: "Registered", pending: "Pending", approved: "Approved", activated: "In use",
    hint_registered: "every account registration", hint_pending: "not yet approved by the cell",
    hint_approved: "approved", hint_activated: "accounts that signed in at least once",
    actual: "Actual", planned: "Plan", today: "Today", no_history: "No figures to draw yet.",
    none_below: "No units below.",
    outside: "The unit in the address is outside your units; showing your own unit:",
    unknown: "The unit in the address was not found; showing your own unit:",
  },
});

const TILES = ["members_total", "members_eligible", "accounts_installed", "accounts_pending", "accounts_overdue",
               "requests_overdue", "accounts_approved",
               "accounts_web", "accounts_mobile", "installed_pct_total", "installed_pct_eligible",
               "expected_pct_today", "readers_today", "trained_people"];
// The table's columns, the most telling first (the unit's name stays in view when it scrolls sideways).
const COLUMNS = ["accounts_installed", "installed_pct_eligible", "expected_pct_today", "accounts_pending",
                 "accounts_overdue", "members_eligible", "members_total", "accounts_web", "accounts_mobile", "readers_today",
                 "trained_people"];
const $ = (id) => document.getElementById(id);
const asked = new URLSearchParams(location.search).get("unit");
let unit = null, place = null, current = null, items = [], past = [], refreshing = null;
let sort = { key: "accounts_installed", dir: -1 };  // units with activity first

const isPct = (key) => key.includes("pct");
const show = (key, value) => (value === null || value === undefined ? "—" : isPct(key) ? Sotay.percent(value) : Sotay.number(value));
const names = new Intl.Collator("vi");
const expectedOf = (code) => (code === unit ? place.plan.expected_pct_today : place.plan.below[code] ?? null);
const behind = (f) => {
  const expected = expectedOf(f.unit_code);
  return expected !== null && f.members_eligible > 0 && f.installed_pct_eligible < expected;
};
const dayMonth = (iso) => Sotay.date(iso).slice(0, 5);

// --- the unit's own figures ---------------------------------------------------------------------

function renderTiles(f) {
  const before = current;
  current = f;
  const values = { ...f, expected_pct_today: place.plan.expected_pct_today };
  $("tiles").replaceChildren(...TILES.filter((key) => key !== "expected_pct_today" || values[key] !== null).map((key) => {
    const late = key === "installed_pct_eligible" && behind(f);
    const tile = Sotay.el("div", { class: `tile${late ? " late" : ""}`, "data-figure": key },
      Sotay.el("div", { class: "value" }, show(key, values[key])),
      Sotay.el("div", { class: "label" }, Sotay.t(key), late ? Sotay.el("span", { class: "flag", title: Sotay.t("behind_plan") }, " ⚠") : ""));
    if (Sotay.t(`hint_${key}`) !== `hint_${key}`) tile.append(Sotay.el("div", { class: "hint" }, Sotay.t(`hint_${key}`)));
    if (before && before[key] !== f[key]) tile.classList.add("flash");
    return tile;
  }));
  $("unit-name").textContent = f.unit_name;
  $("as-of").textContent = Sotay.date(f.as_of);
  renderFunnel(f);
}

// A bar filled to `pct` percent. Its width is set through the CSSOM: the pages' Content-Security-Policy
// refuses style attributes (no 'unsafe-inline'), not styles set from our own script.
function bar(pct) {
  const fill = Sotay.el("div", { class: "fill" });
  fill.style.width = `${pct}%`;
  return fill;
}

function renderFunnel(f) {
  const top = Math.max(1, f.funnel.registered);
  $("funnel").replaceChildren(...["registered", "pending", "approved", "activated"].map((key) => Sotay.el("div",
    { class: "step", "data-step": key },
    Sotay.el("span", {}, Sotay.t(key), Sotay.el("small", { class: "hint" }, Sotay.t(`hint_${key}`))),
    Sotay.el("div", { class: "barwrap" }, bar((f.funnel[key] * 100) / top)),
    Sotay.el("span", { class: "n" }, Sotay.number(f.funnel[key])))));
}

function renderCrumbs() {
  const trail = place.trail;
  $("crumbs").replaceChildren(...trail.flatMap((u, i) => {
    const node = i === trail.length - 1 ? Sotay.el("strong", { "aria-current": "page" }, u.name)
      : Sotay.el("a", { href: `/dashboard?unit=${encodeURIComponent(u.code)}` }, u.name);
    return i ? [Sotay.el("span", { "aria-hidden": "true" }, "›"), node] : [node];
  }));
}

// --- the units below: sortable, filterable, a totals row --------------------------------------------

async function loadChildren() {
  ({ items } = await Sotay.json(`/api/metrics/v1/rollout/children?unit=${encodeURIComponent(unit)}`));
  renderChildren();
}

function sortedItems() {
  const value = (f) => (sort.key === "unit_name" ? f.unit_name : sort.key === "expected_pct_today" ? expectedOf(f.unit_code) ?? -1 : f[sort.key]);
  return [...items].sort((a, b) => {
    const x = value(a), y = value(b);
    const by = sort.key === "unit_name" ? names.compare(x, y) : x - y;
    return by * sort.dir || names.compare(a.unit_name, b.unit_name);
  });
}

function header(key) {
  const here = sort.key === key;
  const button = Sotay.el("button", { type: "button", class: "sort", "data-sort": key,
    title: `${Sotay.t("sort_by")}: ${Sotay.t(key === "unit_name" ? "unit" : key)}` },
  Sotay.t(key === "unit_name" ? "unit" : key), Sotay.el("span", { "aria-hidden": "true", class: "arrow" }, here ? (sort.dir > 0 ? " ▲" : " ▼") : " ↕"));
  button.addEventListener("click", () => {
    sort = here ? { key, dir: -sort.dir } : { key, dir: key === "unit_name" ? 1 : -1 };
    renderChildren();
    $("children").querySelector(`button[data-sort="${key}"]`).focus();
  });
  return Sotay.el("th", { scope: "col", "data-col": key, "aria-sort": here ? (sort.dir > 0 ? "ascending" : "descending") : "none" }, button);
}

function cells(f, label) {
  const late = behind(f);
  return [label, ...COLUMNS.map((key) => {
    const value = key === "expected_pct_today" ? expectedOf(f.unit_code) : f[key];
    const td = Sotay.el("td", { "data-figure": key }, show(key, value));
    if (key === "installed_pct_eligible" && late) {
      td.append(Sotay.el("span", { class: "flag", title: Sotay.t("behind_plan") }, " ⚠"),
        Sotay.el("span", { class: "visually-hidden" }, ` (${Sotay.t("behind_plan")})`));
    }
    return td;
  })];
}

function renderChildren() {
  const table = $("children");
  table.tHead.replaceChildren(Sotay.el("tr", {}, header("unit_name"), ...COLUMNS.map(header)));
  const onlyActive = $("only-active").checked;
  const shown = sortedItems().filter((f) => !onlyActive || f.accounts_installed > 0);
  const rows = shown.map((f) => Sotay.el("tr", { class: behind(f) ? "late" : "", "data-unit": f.unit_code },
    ...cells(f, Sotay.el("th", { scope: "row" }, Sotay.el("a", { href: `/dashboard?unit=${encodeURIComponent(f.unit_code)}` }, f.unit_name)))));
  const hidden = items.length - shown.length;
  if (hidden) rows.push(Sotay.el("tr", { class: "hidden-rows" }, Sotay.el("td", { colspan: COLUMNS.length + 1 }, `${Sotay.number(hidden)} ${Sotay.t("hidden_rows")}`)));
  // A unit with none below (a cell): said in a sentence, without an empty table and its filter.
  const none = !items.length;
  $("none-below").hidden = !none;
  for (const part of [table.closest(".units-scroll"), $("only-active").closest("label"), $("behind-note")]) part.hidden = none;
  table.tBodies[0].replaceChildren(...rows);
  table.tFoot.replaceChildren(...(current && items.length ? [Sotay.el("tr", { class: `total${behind(current) ? " late" : ""}` },
    ...cells(current, Sotay.el("th", { scope: "row" }, `${Sotay.t("total")}: ${current.unit_name}`)))] : []));
  const expected = place.plan.expected_pct_today;
  $("behind-note").textContent = Sotay.t("behind_note") + (expected === null ? "" : ` ${Sotay.t("expected_pct_today")}: ${Sotay.percent(expected)}.`);
}

// --- the progress chart --------------------------------------------------------------------------

async function loadHistory() {
  const answer = await Sotay.json(`/api/metrics/v1/rollout/history?unit=${encodeURIComponent(unit)}&figure=installed_pct_eligible`);
  past = answer.points.filter((p) => p.value !== null && p.value !== undefined);
  renderChart();
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderChart() {
  if (!current) return;
  const box = $("chart");
  const today = current.as_of;
  // Today's point is the figure on screen (the history's last one may lag it by a few seconds).
  const points = [...past.filter((p) => p.day !== today), { day: today, value: current.installed_pct_eligible }];
  const waves = place.plan.waves;
  const DAY = 86400000;
  const t = (iso) => Date.parse(`${iso}T00:00:00Z`);
  const stamps = [...points.map((p) => t(p.day)), ...waves.flatMap((w) => [t(w.starts_on), t(w.deadline)])];
  let t0 = Math.min(...stamps), t1 = Math.max(...stamps, t(today));
  if (t1 - t0 < 7 * DAY) t0 = t1 - 7 * DAY;
  const W = Math.max(300, Math.min(960, box.clientWidth || 720)), H = 280;
  const left = 48, right = 20, top = 24, bottom = 44;
  const x = (iso) => left + ((t(iso) - t0) / (t1 - t0)) * (W - left - right);
  const y = (v) => top + (1 - v / 100) * (H - top - bottom);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": `${Sotay.t("progress")}: ${Sotay.t("actual")} ${Sotay.percent(current.installed_pct_eligible)}` });
  for (const v of [0, 25, 50, 75, 100]) {
    chart.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), stroke: v ? "#e3e3e3" : "#888" }),
      svg("text", { x: left - 6, y: y(v) + 5, "text-anchor": "end", "font-size": 13, fill: "#4a4a4a" }, `${v}%`));
  }
  // The date axis: a tick every ~110 px; dd/mm within a year, dd/mm/yyyy across years.
  const long = t1 - t0 > 330 * DAY;
  const ticks = Math.max(2, Math.floor((W - left - right) / (long ? 120 : 90)));
  const axis = svg("g", { class: "axis-x" });
  for (let i = 0; i <= ticks; i += 1) {
    const iso = new Date(t0 + Math.round(((t1 - t0) * i) / ticks / DAY) * DAY).toISOString().slice(0, 10);
    const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
    axis.append(svg("line", { x1: x(iso), x2: x(iso), y1: y(0), y2: y(0) + 5, stroke: "#888" }),
      svg("text", { x: x(iso), y: H - bottom + 22, "text-anchor": anchor, "font-size": 13, fill: "#4a4a4a", "data-day": iso },
        long ? Sotay.date(iso) : dayMonth(iso)));
  }
  chart.append(axis);
  // The plan: each wave from 0 at its start to its target at its deadline, then level.
  for (const w of waves) {
    const line = [[w.starts_on, 0], [w.deadline, w.target_pct]];
    if (t(w.starts_on) > t0) line.unshift([new Date(t0).toISOString().slice(0, 10), 0]);
    if (t(w.deadline) < t1) line.push([new Date(t1).toISOString().slice(0, 10), w.target_pct]);
    chart.append(svg("polyline", { class: "plan", fill: "none", stroke: "#1d4ed8", "stroke-width": 3, "stroke-dasharray": "8 6",
      points: line.map(([d, v]) => `${x(d)},${y(v)}`).join(" ") }, undefined));
  }
  // Today.
  chart.append(svg("line", { class: "today", x1: x(today), x2: x(today), y1: top - 8, y2: y(0), stroke: "#1a1a1a", "stroke-width": 1.5, "stroke-dasharray": "3 3" }),
    svg("text", { x: Math.min(x(today), W - right), y: top - 10, "text-anchor": x(today) > W / 2 ? "end" : "start", "font-size": 13, fill: "#1a1a1a" },
      `${Sotay.t("today")} ${Sotay.date(today)}`));
  // The actual history.
  chart.append(svg("polyline", { class: "actual", fill: "none", stroke: "#a50e0e", "stroke-width": 3,
    points: points.map((p) => `${x(p.day)},${y(p.value)}`).join(" ") }));
  for (const p of points.length <= 60 ? points : points.slice(-1)) {
    chart.append(svg("circle", { cx: x(p.day), cy: y(p.value), r: 4, fill: "#a50e0e" }, undefined));
  }
  const last = points[points.length - 1];
  chart.append(svg("text", { x: x(last.day) - 8, y: y(last.value) + (last.value > 85 ? 20 : -10), "text-anchor": "end",
    "font-size": 14, "font-weight": 700, fill: "#a50e0e" }, `${Sotay.t("actual")} ${Sotay.percent(last.value)}`));
  box.replaceChildren(chart);
  const legend = [Sotay.el("span", { class: "key actual" }, Sotay.t("actual"))];
  for (const w of waves) legend.push(Sotay.el("span", { class: "key plan" }, `${Sotay.t("planned")}: ${w.name} (${Sotay.date(w.starts_on)} – ${Sotay.date(w.deadline)}, ${Sotay.percent(w.target_pct)})`));
  legend.push(Sotay.el("span", { class: "key today" }, `${Sotay.t("today")} ${Sotay.date(today)}`));
  $("legend").replaceChildren(...legend);
}

// --- the summary and the exports --------------------------------------------------------------------

async function renderSummary() {
  const { text } = await Sotay.json(`/api/metrics/v1/reports/summary?unit=${encodeURIComponent(unit)}&lang=${Sotay.lang}`);
  $("summary").textContent = text;
}

// The file as the server names it (the unit and the day in its name).
const download = (fmt) => Sotay.download(
  `/api/metrics/v1/reports/rollout.${fmt}?unit=${encodeURIComponent(unit)}&lang=${Sotay.lang}`, `rollout-${unit}.${fmt}`);

// --- live --------------------------------------------------------------------------------------------

// The badge says what is true: connecting, live, the connection lost (and retrying), or the
// session ended (the stream closed by the server, or refused): then the figures stop updating.
function setLive(state) {
  const badge = $("live");
  badge.dataset.state = state;
  badge.dataset.t = state;
  badge.textContent = Sotay.t(state);
  badge.classList.toggle("off", state !== "live");
  badge.classList.toggle("ended", state === "ended");
  $("live-again").hidden = state !== "ended";
}

function stamp() {
  $("updated").textContent = `(${Sotay.t("updated")} ${new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit",
    second: "2-digit", timeZone: "Asia/Ho_Chi_Minh" }).format(new Date())})`;
}

// Server-sent events read with fetch (EventSource cannot send the Authorization header). A stream
// silent for longer than the server's keep-alive (15 s) is taken for lost; `event: ended` says the
// token it was opened with lapsed: expired (reconnect with the renewed one) or the session ended.
function follow(path, onEvent) {
  let controller = null, heard = Date.now(), pause = 2000;
  setInterval(() => { if (controller && Date.now() - heard > 40000) controller.abort(); }, 5000);
  (async () => {
    for (;;) {
      controller = new AbortController();
      let lapsed = null;
      try {
        const token = Sotay.token();
        const r = await fetch(path, { signal: controller.signal,
          headers: { Accept: "text/event-stream", ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
        if (r.status === 401) { setLive("ended"); return; }
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        setLive("live"); pause = 2000; heard = Date.now();
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          heard = Date.now();
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const lines = buffer.slice(0, end).split("\n"); buffer = buffer.slice(end + 2);
            const type = (lines.find((l) => l.startsWith("event: ")) || "event: message").slice(7);
            const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
            if (!data) continue;
            if (type === "ended") lapsed = JSON.parse(data).reason;
            else onEvent(JSON.parse(data));
          }
        }
      } catch (e) { /* lost: said below */ }
      if (lapsed === "ended") { setLive("ended"); return; }
      if (lapsed === "expired") continue;
      setLive("down");
      await new Promise((ok) => setTimeout(ok, pause));
      pause = Math.min(pause * 2, 30000);
    }
  })();
}

// A change of this unit's figures: show it at once; the table, summary and chart follow within a second.
function onSnapshot(f) {
  renderTiles(f);
  stamp();
  if (!refreshing) refreshing = setTimeout(() => { refreshing = null; loadChildren(); renderSummary(); loadHistory(); }, 1000);
}

// --- the cells' meetings (content's planning: next month planned, this month held and attended) ---------

const monthOf = (iso) => `${iso.slice(5, 7)}/${iso.slice(0, 4)}`;
const filled = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => values[k]);
// This month in Hanoi (YYYY-MM), whatever the device's time zone.
const hanoiMonth = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Ho_Chi_Minh" }).format(new Date()).slice(0, 7);

async function loadMeetings() {
  const ask = (month) => Sotay.json(`/api/content/v1/meetings/planning?unit=${encodeURIComponent(unit)}`
    + (month ? `&month=${month}` : ""));
  let next, now;
  try {
    [next, now] = await Promise.all([ask(null), ask(hanoiMonth())]);
  } catch (err) {
    if (err.status === 403) { $("meetings").hidden = true; return; }  // not a role that follows the meetings
    throw err;
  }
  const tile = (key, value, label) => Sotay.el("div", { class: "tile", "data-figure": key },
    Sotay.el("div", { class: "value" }, value), Sotay.el("div", { class: "label" }, label));
  const ofAll = (n, total) => `${Sotay.number(n)}/${Sotay.number(total)}`;
  $("meeting-tiles").replaceChildren(
    tile("meetings_planned", ofAll(next.planned, next.total), filled(Sotay.t("m_planned"), { m: monthOf(next.month) })),
    tile("meetings_on_time", ofAll(next.on_time, next.total), Sotay.t("m_on_time")),
    tile("meetings_held", ofAll(now.held, now.total), filled(Sotay.t("m_held"), { m: monthOf(now.month) })),
    tile("meetings_attendance", now.attendance_pct == null ? "—" : `${String(now.attendance_pct).replace(".", ",")}%`,
      filled(Sotay.t("m_attendance"), { m: monthOf(now.month) })));
  $("meetings-note").textContent = filled(Sotay.t("m_note"), { d: Sotay.date(new Date(new Date(next.deadline) - 1).toISOString()) });
  const missing = next.cells.filter((c) => !c.meeting_id);
  $("unplanned-box").hidden = !missing.length;
  $("unplanned").replaceChildren(...missing.slice(0, 200).map((c) => Sotay.el("li", {}, c.name)));
  $("meetings").hidden = false;
}

async function load() {
  $("board").hidden = false; $("signout").hidden = false;
  place = await Sotay.json(`/api/metrics/v1/rollout/place${asked ? `?unit=${encodeURIComponent(asked)}` : ""}`);
  unit = place.unit.code;
  if (place.refused) {
    $("notice").textContent = `${Sotay.t(place.refused)} ${place.unit.name}.`;
    $("notice").hidden = false;
  }
  if (asked !== unit) window.history.replaceState(null, "", `/dashboard?unit=${encodeURIComponent(unit)}`);
  renderTiles(await Sotay.json(`/api/metrics/v1/rollout?unit=${encodeURIComponent(unit)}`));
  stamp();
  renderCrumbs();
  await Promise.all([loadChildren(), renderSummary(), loadHistory(), loadMeetings()]);
  follow(`/api/metrics/v1/rollout/stream?unit=${encodeURIComponent(unit)}`, onSnapshot);
}

$("xlsx").addEventListener("click", () => download("xlsx").catch((err) => { $("error").textContent = Sotay.explain(err); }));
$("csv").addEventListener("click", () => download("csv").catch((err) => { $("error").textContent = Sotay.explain(err); }));
$("only-active").addEventListener("change", renderChildren);
$("live-again").addEventListener("click", () => location.reload());
let resizing = null;
window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(renderChart, 150); });
Sotay.start(() => load().catch((err) => { $("error").textContent = Sotay.explain(err); }));
