// The rollout dashboard: a unit's figures (its whole subtree), live from the
// metrics stream; the units under it, to drill down; the funnel; progress
// against the plan; the summary paragraph and the exports.
"use strict";

Sotay.words({
  vi: {
    title: "Theo dõi triển khai Sổ tay đảng viên điện tử", offline: "Chưa kết nối", online: "Trực tiếp",
    signout: "Đăng xuất", signin: "Đăng nhập", card: "Số thẻ đảng viên", password: "Mật khẩu",
    as_of: "Số liệu ngày", summary: "Tóm tắt", csv: "Tải CSV", xlsx: "Tải Excel (XLSX)",
    below: "Các đơn vị trực thuộc", behind_note: "Đơn vị có dấu ⚠ chậm so với kế hoạch.",
    funnel: "Từ đăng ký đến sử dụng", progress: "Tiến độ so với kế hoạch (% đảng viên đủ điều kiện đã cài đặt)",
    unit: "Đơn vị", members_total: "Tổng số đảng viên", members_eligible: "Đủ điều kiện",
    accounts_installed: "Đã cài đặt", accounts_web: "Máy tính", accounts_mobile: "Điện thoại",
    accounts_pending: "Chờ phê duyệt", accounts_approved: "Đã phê duyệt",
    installed_pct_total: "% tổng số", installed_pct_eligible: "% đủ điều kiện",
    readers_today: "Đọc tin hôm nay", trained_people: "Đã tập huấn",
    registered: "Đăng ký", pending: "Chờ duyệt", approved: "Đã duyệt", activated: "Đã sử dụng",
    actual: "Thực tế", planned: "Kế hoạch", no_history: "Chưa có số liệu các ngày trước.",
    none_below: "Không có đơn vị trực thuộc.",
  },
  en: {
    title: "Electronic Party-member handbook: rollout", offline: "Not connected", online: "Live",
    signout: "Sign out", signin: "Sign in", card: "Party card number", password: "Password",
    as_of: "Figures as of", summary: "Summary", csv: "Download CSV", xlsx: "Download Excel (XLSX)",
    below: "Units below", behind_note: "Units marked ⚠ are behind the plan.",
    funnel: "From sign-up to use", progress: "Progress against the plan (% of eligible members installed)",
    unit: "Unit", members_total: "Members", members_eligible: "Eligible",
    accounts_installed: "Installed", accounts_web: "Computer", accounts_mobile: "Phone",
    accounts_pending: "Pending approval", accounts_approved: "Approved",
    installed_pct_total: "% of all", installed_pct_eligible: "% of eligible",
    readers_today: "Readers today", trained_people: "Trained",
    registered: "Registered", pending: "Pending", approved: "Approved", activated: "In use",
    actual: "Actual", planned: "Plan", no_history: "No figures for earlier days yet.",
    none_below: "No units below.",
  },
});

const TILES = ["members_total", "members_eligible", "accounts_installed", "accounts_web", "accounts_mobile",
               "accounts_pending", "accounts_approved", "installed_pct_total", "installed_pct_eligible",
               "readers_today", "trained_people"];
const COLUMNS = ["members_total", "accounts_installed", "accounts_web", "accounts_mobile", "accounts_pending",
                 "installed_pct_total", "installed_pct_eligible", "readers_today", "trained_people"];
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const unit = params.get("unit") || "city";
const trail = (params.get("trail") || "").split(",").filter(Boolean);
let plan = null, current = null, stopStream = null, refreshing = null;

const show = (key, value) => (key.includes("pct") ? Sotay.percent(value) : Sotay.number(value));

function renderTiles(f) {
  const tiles = $("tiles");
  const before = current;
  tiles.replaceChildren(...TILES.map((key) => {
    const tile = Sotay.el("div", { class: "tile", "data-figure": key },
      Sotay.el("div", { class: "value" }, show(key, f[key])), Sotay.el("div", { class: "label" }, Sotay.t(key)));
    if (before && before[key] !== f[key]) tile.classList.add("flash");
    return tile;
  }));
  $("unit-name").textContent = f.unit_name;
  $("as-of").textContent = f.as_of;
  current = f;
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
  const steps = [["registered", f.funnel.registered], ["pending", f.funnel.pending],
                 ["approved", f.funnel.approved], ["activated", f.funnel.activated]];
  const top = Math.max(1, f.funnel.registered);
  $("funnel").replaceChildren(...steps.map(([key, n]) => Sotay.el("div", { class: "step", "data-step": key },
    Sotay.el("span", {}, Sotay.t(key)),
    Sotay.el("div", { class: "barwrap" }, bar((n * 100) / top)),
    Sotay.el("span", { class: "n" }, Sotay.number(n)))));
}

// Where a committee's wave says it should be today (0 at its start, its target at its deadline).
function expectedFor(committee) {
  if (!plan) return null;
  const wave = plan.waves.find((w) => w.units.some((u) => u.unit_code === committee)) || plan.waves[plan.waves.length - 1];
  return wave ? wave.expected_pct_today : null;
}

async function renderChildren() {
  const { items } = await Sotay.json(`/api/metrics/v1/rollout/children?unit=${encodeURIComponent(unit)}`);
  const head = Sotay.el("tr", {}, Sotay.el("th", {}, Sotay.t("unit")),
    ...COLUMNS.map((key) => Sotay.el("th", { class: key.startsWith("accounts_web") || key.startsWith("accounts_mobile") ? "hide-narrow" : "" }, Sotay.t(key))));
  $("children").tHead.replaceChildren(head);
  const nextTrail = [...trail, unit].join(",");
  const rows = items.map((f) => {
    const committee = f.unit_kind === "committee" ? f.unit_code : (unit === "city" ? f.unit_code : trail[1] || unit);
    const expected = expectedFor(committee);
    const behind = expected !== null && f.members_eligible > 0 && f.installed_pct_eligible < expected;
    const link = Sotay.el("a", { href: `/dashboard?unit=${encodeURIComponent(f.unit_code)}&trail=${encodeURIComponent(nextTrail)}` }, f.unit_name);
    return Sotay.el("tr", { class: behind ? "behind" : "", "data-unit": f.unit_code }, Sotay.el("td", {}, link),
      ...COLUMNS.map((key) => Sotay.el("td", { "data-figure": key, class: key === "accounts_web" || key === "accounts_mobile" ? "hide-narrow" : "" }, show(key, f[key]))));
  });
  if (!rows.length) rows.push(Sotay.el("tr", {}, Sotay.el("td", { colspan: COLUMNS.length + 1 }, Sotay.t("none_below"))));
  $("children").tBodies[0].replaceChildren(...rows);
}

async function renderSummary() {
  const { text } = await Sotay.json(`/api/metrics/v1/reports/summary?unit=${encodeURIComponent(unit)}&lang=${Sotay.lang}`);
  $("summary").textContent = text;
}

async function renderChart() {
  const history = await Sotay.json(`/api/metrics/v1/rollout/history?unit=${encodeURIComponent(unit)}&figure=installed_pct_eligible`);
  // Today's point is the figure on screen (the history's last one may lag it by a few seconds).
  const points = history.points.filter((p) => !current || p.day !== current.as_of);
  if (current) points.push({ day: current.as_of, value: current.installed_pct_eligible });
  const committee = unit === "city" ? null : trail[1] || unit;
  const wave = plan && (plan.waves.find((w) => w.units.some((u) => u.unit_code === committee)) || plan.waves[plan.waves.length - 1]);
  const W = 720, H = 260, pad = 40;
  const days = points.map((p) => Date.parse(p.day));
  if (wave) days.push(Date.parse(wave.starts_on), Date.parse(wave.deadline));
  if (days.length < 2) { $("chart").textContent = Sotay.t("no_history"); return; }
  const t0 = Math.min(...days), t1 = Math.max(...days, t0 + 86400000);
  const x = (d) => pad + ((Date.parse(d) - t0) / (t1 - t0)) * (W - 2 * pad);
  const y = (v) => H - pad - (v / 100) * (H - 2 * pad);
  const svg = [`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${Sotay.t("progress")}">`,
    `<line x1="${pad}" y1="${y(0)}" x2="${W - pad}" y2="${y(0)}" stroke="#888"/>`,
    `<line x1="${pad}" y1="${y(100)}" x2="${W - pad}" y2="${y(100)}" stroke="#ddd"/>`,
    `<text x="4" y="${y(100) + 5}" font-size="14">100%</text><text x="12" y="${y(0) + 5}" font-size="14">0%</text>`];
  if (wave) {
    svg.push(`<polyline fill="none" stroke="#1d4ed8" stroke-width="3" stroke-dasharray="8 6" points="${x(wave.starts_on)},${y(0)} ${x(wave.deadline)},${y(wave.target_pct)}"/>`,
      `<text x="${x(wave.deadline) - 80}" y="${y(wave.target_pct) + 20}" font-size="14" fill="#1d4ed8">${Sotay.t("planned")}</text>`);
  }
  if (points.length) {
    svg.push(`<polyline fill="none" stroke="#a50e0e" stroke-width="3" points="${points.map((p) => `${x(p.day)},${y(p.value || 0)}`).join(" ")}"/>`);
    const last = points[points.length - 1];
    svg.push(`<circle cx="${x(last.day)}" cy="${y(last.value || 0)}" r="5" fill="#a50e0e"/>`,
      `<text x="${Math.min(x(last.day) + 8, W - 90)}" y="${y(last.value || 0) - 8}" font-size="14" fill="#a50e0e">${Sotay.t("actual")} ${Sotay.percent(last.value || 0)}</text>`);
  }
  svg.push("</svg>");
  $("chart").innerHTML = svg.join("");
}

function renderCrumbs() {
  const codes = [...trail, unit];
  $("crumbs").replaceChildren(...codes.flatMap((code, i) => {
    const here = i === codes.length - 1;
    const node = here ? Sotay.el("strong", {}, current ? current.unit_name : code)
      : Sotay.el("a", { href: `/dashboard?unit=${encodeURIComponent(code)}&trail=${encodeURIComponent(codes.slice(0, i).join(","))}` }, code);
    return i ? [Sotay.el("span", { "aria-hidden": "true" }, "›"), node] : [node];
  }));
}

// A change of this unit's figures: show it at once; the table below follows within a second.
function onSnapshot(f) {
  renderTiles(f);
  if (!refreshing) refreshing = setTimeout(() => { refreshing = null; renderChildren(); renderSummary(); renderChart(); }, 1000);
}

async function load() {
  $("board").hidden = false; $("signout").hidden = false;
  plan = await Sotay.json("/api/metrics/v1/plan").catch(() => null);  // city admins see the plan
  renderTiles(await Sotay.json(`/api/metrics/v1/rollout?unit=${encodeURIComponent(unit)}`));
  renderCrumbs();
  await Promise.all([renderChildren(), renderSummary(), renderChart()]);
  stopStream = Sotay.stream(`/api/metrics/v1/rollout/stream?unit=${encodeURIComponent(unit)}`, onSnapshot, (on) => {
    $("live").classList.toggle("off", !on);
    $("live").textContent = Sotay.t(on ? "online" : "offline");
    $("live").dataset.t = on ? "online" : "offline";
  });
}

$("csv").addEventListener("click", () => Sotay.download(`/api/metrics/v1/reports/rollout.csv?unit=${encodeURIComponent(unit)}`, `rollout-${unit}.csv`));
$("xlsx").addEventListener("click", () => Sotay.download(`/api/metrics/v1/reports/rollout.xlsx?unit=${encodeURIComponent(unit)}`, `rollout-${unit}.xlsx`));
Sotay.start(() => load().catch((err) => { $("error").textContent = Sotay.explain(err); }));
