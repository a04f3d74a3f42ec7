// The consoles' index (/console/): each console by its Vietnamese name, English behind the switch.
"use strict";

Sotay.words({
  vi: { title: "Bàn làm việc", dashboard: "Theo dõi triển khai", approvals: "Phê duyệt tài khoản",
        editorial: "Biên tập tin bài", registry: "Quản lý hồ sơ đảng viên", resets: "Cấp mã đặt lại mật khẩu",
        meetings: "Sinh hoạt chi bộ", reviews: "Kiểm điểm, xếp loại đảng viên",
        consents: "Sự đồng ý xử lý dữ liệu cá nhân", handbook: "Sổ tay đảng viên" },
  en: { title: "Consoles", dashboard: "Rollout dashboard", approvals: "Account approval", editorial: "Editorial desk",
        registry: "Member registry", resets: "Password reset codes", meetings: "Cell meetings",
        reviews: "Yearly review and ranking of members", consents: "Consent to personal data processing",
        handbook: "Member handbook" },
});

const lang = document.getElementById("lang");
lang.value = Sotay.lang;
lang.addEventListener("change", () => { Sotay.setLang(lang.value); Sotay.translate(); });
Sotay.translate();
