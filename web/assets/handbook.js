// The member handbook on the web (the "computer" platform): sign up, sign in,
// the feed with what is not read yet, an article (opening it records the
// read) and its feedback, the cell's meetings with attendance, the study
// topics addressed to the member (học tập nghị quyết: the resolution's
// documents and a quiz, then the score and the right answers), the
// notifications (an inbox, what to be told of, push on this device), and the
// member's own record with a correction request and the requests made, the
// yearly review (a self-assessment while the cycle is open, the level decided,
// the years before), and their consents to the privacy notice (shown at sign-up too: nothing ticked
// beforehand), each to withdraw or give again.
//
// For people, elderly many of them, on phones: dates are typed and shown
// dd/mm/yyyy, units by name, the phone as people write it; each error next to
// its field; a form is sent once however often it is tapped (sending()).
"use strict";

Sotay.words({
  vi: {
    title: "Sổ tay đảng viên điện tử", feed: "Tin tức", meetings: "Sinh hoạt chi bộ", profile: "Thông tin cá nhân",
    signup: "Đăng ký tài khoản", signup_note: "Sau khi đăng ký, chi bộ của đồng chí sẽ phê duyệt tài khoản.",
    full_name: "Họ và tên", date_of_birth: "Ngày sinh", phone: "Số điện thoại", password: "Mật khẩu",
    new_password: "Mật khẩu (ít nhất 8 ký tự)", signed_up: "Đăng ký đã được gửi và đang chờ chi bộ phê duyệt.",
    unread: "Chưa đọc", no_news: "Chưa có tin.", back: "← Trở lại", feedback: "Ý kiến",
    your_feedback: "Ý kiến của đồng chí", send: "Gửi", sent: "Đã gửi ý kiến.",
    sent_pending: "Đã gửi ý kiến. Ý kiến đang chờ chi bộ duyệt trước khi hiện cho mọi người.",
    yours_pending: "Ý kiến của đồng chí, đang chờ duyệt", yours_hidden: "Ý kiến của đồng chí, không được hiển thị",
    no_meetings: "Chưa có lịch sinh hoạt.",
    study: "Học tập", study_title: "Học tập nghị quyết",
    study_note: "Các chuyên đề học tập nghị quyết gửi tới đồng chí. Đồng chí đọc tài liệu, rồi làm bài kiểm tra ngắn để tự kiểm tra.",
    no_topics: "Chưa có chuyên đề học tập nào.", published_on: "Ngày đăng", n_questions: "{n} câu hỏi",
    n_documents: "{n} tài liệu", not_taken: "Chưa làm bài", taken: "Đã làm bài: đúng {s}/{m} câu",
    documents: "Tài liệu học tập", no_documents: "Chuyên đề này không kèm tài liệu.", download: "Tải về",
    quiz: "Bài kiểm tra", quiz_intro: "Bài kiểm tra có {n} câu hỏi. Mỗi câu, đồng chí chọn một đáp án đúng nhất rồi bấm “Câu tiếp theo”.",
    quiz_start: "Bắt đầu làm bài", question_of: "Câu {i}/{n}", next_question: "Câu tiếp theo",
    prev_question: "Câu trước", submit_quiz: "Nộp bài", choose_one: "Đề nghị đồng chí chọn một đáp án.",
    unanswered: "Đồng chí chưa trả lời câu {list}.",
    score_line: "Đồng chí trả lời đúng {s}/{m} câu ({p}).", best_line: "Điểm cao nhất của đồng chí: đúng {s}/{m} câu. Đã làm {a} lần.",
    review: "Đáp án", you_chose: "Đồng chí chọn", is_right: "đúng", is_wrong: "chưa đúng", right_answer: "Đáp án đúng",
    explanation: "Giải thích", retake: "Làm lại bài kiểm tra",
    retake_note: "Đồng chí làm lại được bao nhiêu lần cũng được; điểm cao nhất được ghi nhận.",
    n_study: "Học tập nghị quyết: {t}", p_study_results: "Bài kiểm tra học tập nghị quyết",
    not_a_member: "Chỉ đảng viên có trong hồ sơ của chi bộ mới làm bài kiểm tra.",
    attend: "Tôi sẽ tham dự", absent: "Tôi vắng mặt", answered_yes: "Đồng chí đã báo tham dự.",
    answered_no: "Đồng chí đã báo vắng mặt.", place: "Địa điểm", agenda: "Nội dung",
    meeting_past: "Buổi sinh hoạt đã diễn ra.", meeting_started: "Buổi sinh hoạt đã bắt đầu.",
    absent_reason: "Lý do vắng mặt (chi bộ sẽ đọc được)", thematic_meeting: "Sinh hoạt chuyên đề",
    correction: "Đề nghị sửa thông tin", field_choice: "Thông tin cần sửa", value: "Thông tin đúng", note: "Ghi chú",
    request_sent: "Đề nghị đã được gửi tới chi bộ.", unit: "Chi bộ", unit_above: "Trực thuộc", card: "Số thẻ đảng viên",
    status: "Tình trạng", admitted_on: "Ngày vào Đảng", official_on: "Ngày chính thức",
    my_corrections: "Các đề nghị sửa thông tin của đồng chí", no_corrections: "Đồng chí chưa gửi đề nghị nào.",
    requests: "Yêu cầu về dữ liệu của đồng chí",
    requests_note: "Đồng chí có quyền yêu cầu sửa, hạn chế, phản đối việc xử lý hoặc xoá dữ liệu của mình. Chi bộ trả lời trong 2 ngày làm việc và giải quyết trong 15 ngày.",
    rq_kind: "Đồng chí muốn", rq_asked: "Nội dung yêu cầu", rq_send: "Gửi yêu cầu", rq_sent: "Yêu cầu đã được gửi tới chi bộ.",
    rq_correction: "Sửa thông tin không đúng", rq_restriction: "Hạn chế việc dùng hoặc xem dữ liệu của tôi",
    rq_objection: "Phản đối một việc dùng dữ liệu của tôi", rq_erasure: "Xoá dữ liệu của tôi", rq_other: "Yêu cầu khác",
    rq_erasure_note: "Hồ sơ đảng viên được lưu giữ theo Điều lệ và quy định của Đảng nên không xoá được. Chi bộ vẫn trả lời đồng chí; đồng chí có thể yêu cầu hạn chế việc xem hồ sơ.",
    rq_none: "Đồng chí chưa gửi yêu cầu nào.", rq_ack_by: "Hạn trả lời", rq_due_by: "Hạn giải quyết",
    rq_extended: "Đã gia hạn, lý do", rq_outcome: "Kết quả", rq_refusal: "Lý do không thực hiện", rq_overdue: "Quá hạn",
    rq_received: "Đã gửi, chờ chi bộ trả lời", rq_acknowledged: "Chi bộ đã nhận, đang giải quyết",
    rq_extended_s: "Đang giải quyết (đã gia hạn)", rq_completed: "Đã giải quyết", rq_refused: "Không thực hiện",
    my_data: "Dữ liệu hệ thống lưu về đồng chí",
    my_data_note: "Đồng chí có quyền biết hệ thống lưu những gì về mình, ai đã xem hồ sơ của mình và để làm gì (Luật Bảo vệ dữ liệu cá nhân).",
    my_data_open: "Xem dữ liệu của tôi", my_data_download: "Tải về tệp dữ liệu (JSON)", nothing_held: "Không có.",
    svc_members: "Hồ sơ đảng viên", svc_identity: "Tài khoản", svc_content: "Tin tức, ý kiến, sinh hoạt", svc_metrics: "Số liệu triển khai",
    p_meeting_presence: "Dự sinh hoạt chi bộ (chi bộ ghi nhận)", p_record: "Hồ sơ", p_history: "Các lần thay đổi hồ sơ", p_corrections: "Đề nghị sửa thông tin", p_requests: "Yêu cầu về dữ liệu của đồng chí",
    p_reads_of_your_record: "Những lần cán bộ xem hồ sơ của đồng chí", p_account: "Tài khoản", p_registrations: "Đăng ký",
    p_roles: "Vai trò", p_sign_ins: "Các lần đăng nhập", p_password_reset_codes: "Mã đặt lại mật khẩu",
    p_known_addresses: "Nơi đăng nhập quen", p_registry_copy: "Bản sao hồ sơ dùng để đối chiếu khi đăng ký",
    p_consents: "Sự đồng ý xử lý dữ liệu cá nhân", p_audit: "Việc cán bộ đã làm với tài khoản", p_where_you_sit: "Chi bộ (để gửi tin đúng người)", p_reads: "Tin đã đọc",
    p_feedback: "Ý kiến đã gửi", p_meeting_answers: "Trả lời lịch sinh hoạt", p_bookmarks: "Tài liệu đã lưu",
    p_notification_choices: "Lựa chọn nhận thông báo", p_push_devices: "Máy nhận thông báo", p_member: "Hồ sơ (để đếm số liệu)",
    p_reading: "Ngày đọc tin gần nhất",
    sent_on: "Gửi ngày", decided_on: "Quyết định ngày", decision_reason: "Lý do",
    c_pending: "Đang chờ xem xét", c_accepted: "Đã chấp nhận", c_rejected: "Không chấp nhận",
    s_active: "Đang sinh hoạt", s_probationary: "Dự bị", s_exempt: "Miễn sinh hoạt",
    s_transferred_out: "Đã chuyển sinh hoạt đi", s_deceased: "Đã từ trần", s_removed: "Đã ra khỏi Đảng",
    reg_pending: "Đăng ký của đồng chí (gửi ngày {d}) đang chờ chi bộ phê duyệt. Khi được phê duyệt, đồng chí đăng nhập được bằng số thẻ và mật khẩu này.",
    reg_rejected: "Đăng ký của đồng chí chưa được chấp thuận. Lý do: {r}. Đồng chí có thể liên hệ chi bộ hoặc đăng ký lại.",
    reg_rejected_no_reason: "Đăng ký của đồng chí chưa được chấp thuận. Đề nghị liên hệ chi bộ.",
    offline_reading: "Không có mạng: đồng chí đang đọc tin đã lưu trên máy. Khi có mạng, trang tự cập nhật.",
    updating: "Đang cập nhật…",
    needs_connection: "Phần này cần có mạng. Đề nghị thử lại khi có mạng.",
    notices: "Thông báo", no_notices: "Chưa có thông báo nào trong 30 ngày qua.", new_notice: "Mới",
    n_article: "Tin mới: {t}", n_meeting: "Chi bộ triệu tập sinh hoạt lúc {w}, tại {p}.",
    n_meeting_reminder: "Nhắc lịch: chi bộ sinh hoạt lúc {w}, tại {p}.",
    n_account_approved: "Tài khoản của đồng chí đã được chi bộ phê duyệt. Chào mừng đồng chí đến với Sổ tay đảng viên điện tử.",
    n_account_rejected: "Đăng ký của đồng chí chưa được chấp thuận.",
    choices: "Đồng chí muốn nhận thông báo về", c_articles: "Tin bài mới cho đơn vị của đồng chí",
    c_meetings: "Lịch sinh hoạt chi bộ (khi triệu tập và nhắc trước một ngày)", c_account: "Tài khoản của đồng chí",
    on_device: "Thông báo trên máy này", push_on: "Bật thông báo trên máy này", push_off: "Tắt thông báo trên máy này",
    push_is_on: "Máy này đang nhận thông báo, kể cả khi không mở Sổ tay.",
    push_is_off: "Máy này chưa nhận thông báo. Đồng chí vẫn xem được mọi thông báo ở trang này.",
    push_unsupported: "Trình duyệt này không nhận được thông báo đẩy. Đồng chí vẫn xem được mọi thông báo ở trang này.",
    push_denied: "Máy này đang chặn thông báo của Sổ tay. Để bật, đồng chí mở phần cài đặt của trình duyệt, mục Thông báo, và cho phép trang này.",
    push_note: "Thông báo được gửi qua dịch vụ của hãng trình duyệt (có thể đặt ở nước ngoài), đã mã hoá và không mang họ tên hay thông tin cá nhân của đồng chí.",
    tell_me: "Báo cho tôi trên máy này khi chi bộ phê duyệt", told_later: "Khi chi bộ quyết định, máy này sẽ nhận được thông báo.",
    consent_title: "Đồng ý cho xử lý dữ liệu cá nhân",
    consent_hint: "Đồng chí đọc thông báo, rồi tự đánh dấu vào những mục đồng ý. Mục “bắt buộc” cần có thì mới lập được tài khoản.",
    read_notice: "Đọc Thông báo về xử lý dữ liệu cá nhân", required_mark: "bắt buộc", optional_mark: "tùy chọn",
    "consent.purposes": "Sự đồng ý", "consent.notice_version": "Thông báo về xử lý dữ liệu cá nhân", purposes: "Sự đồng ý",
    notice_unavailable: "Chưa tải được Thông báo về xử lý dữ liệu cá nhân. Đề nghị kiểm tra mạng rồi tải lại trang.",
    privacy: "Dữ liệu cá nhân và sự đồng ý", notice_version: "phiên bản {v}",
    consent_needed: "Đồng chí chưa đồng ý với thông báo về dữ liệu cá nhân (phiên bản mới nhất). Đề nghị đồng chí đọc và đồng ý",
    consent_needed_link: "tại đây",
    consent_current: "Đồng chí đã đồng ý với Thông báo về xử lý dữ liệu cá nhân phiên bản {v} ngày {d}.",
    consent_older: "Thông báo về xử lý dữ liệu cá nhân đã được cập nhật (phiên bản {v}). Đề nghị đồng chí đọc bản mới và bấm “Đồng ý” ở mục bắt buộc.",
    consent_none: "Đồng chí chưa đồng ý với Thông báo về xử lý dữ liệu cá nhân hiện hành (phiên bản {v}). Đề nghị đồng chí đọc và bấm “Đồng ý” ở mục bắt buộc.",
    consent_closing: "Đồng chí đã rút lại sự đồng ý ở mục bắt buộc, tức là đề nghị đóng tài khoản Sổ tay. Chi bộ sẽ liên hệ với đồng chí để hoàn tất. Trong lúc chờ, tài khoản vẫn dùng được; nếu đổi ý, đồng chí bấm “Đồng ý” ở mục bắt buộc.",
    p_given: "Đã đồng ý ngày {d}", p_given_old: "Đã đồng ý phiên bản {v} ngày {d}", p_withdrawn: "Đã rút lại ngày {d}",
    p_none: "Chưa đồng ý", give: "Đồng ý", withdraw: "Rút lại sự đồng ý",
    withdraw_required: "Mục này bắt buộc để dùng Sổ tay. Rút lại nghĩa là đồng chí đề nghị đóng tài khoản Sổ tay: chi bộ sẽ liên hệ với đồng chí để hoàn tất. Hồ sơ đảng viên của đồng chí vẫn được giữ theo quy định của Đảng; việc sinh hoạt Đảng không bị ảnh hưởng.",
    withdraw_confirm: "Tôi vẫn rút lại và đề nghị đóng tài khoản",
    given_done: "Đã ghi nhận sự đồng ý của đồng chí.", withdrawn_done: "Đã ghi nhận việc đồng chí rút lại sự đồng ý.",
    push_withdrawn_done: "Đã ghi nhận việc đồng chí rút lại sự đồng ý. Sổ tay không gửi thông báo đẩy đến máy nào của đồng chí nữa.",
    closing_done: "Đã ghi nhận đề nghị đóng tài khoản của đồng chí. Chi bộ sẽ liên hệ với đồng chí.",
    consent_history: "Các lần đồng chí đồng ý và rút lại", h_given: "Đồng ý", h_withdrawn: "Rút lại",
    on_web: "trên máy tính", on_mobile: "trên điện thoại", unknown_client: "trình duyệt không rõ",
    review: "Kiểm điểm", rv_title: "Kiểm điểm, đánh giá, xếp loại đảng viên năm {y}",
    rv_none: "Hiện chưa có đợt kiểm điểm nào đang mở.",
    rv_note: "Đồng chí tự viết bản kiểm điểm và tự đề xuất mức xếp loại. Chi bộ nhận xét, đề xuất; cấp ủy có thẩm quyền quyết định mức xếp loại của đồng chí.",
    rv_due: "Hạn nộp bản tự kiểm điểm", rv_decision_due: "Hạn cấp ủy quyết định xếp loại",
    rv_text: "Bản tự kiểm điểm của đồng chí",
    rv_text_hint: "Ưu điểm, khuyết điểm trong năm; việc thực hiện nhiệm vụ được giao; hướng khắc phục.",
    rv_level: "Đồng chí tự đề xuất mức xếp loại", rv_send: "Gửi bản tự kiểm điểm",
    rv_sent: "Đã gửi bản tự kiểm điểm. Đồng chí có thể sửa và gửi lại đến hết ngày {d}.",
    rv_submitted_on: "Đồng chí đã gửi bản tự kiểm điểm ngày {d}.", rv_not_submitted: "Đồng chí chưa gửi bản tự kiểm điểm.",
    rv_closed_unsubmitted: "Đã hết hạn nộp bản tự kiểm điểm; chi bộ nhận xét, đánh giá đồng chí.",
    rv_yours: "Đồng chí tự đề xuất", rv_your_text: "Bản tự kiểm điểm", rv_cell: "Chi bộ đề xuất",
    rv_cell_comment: "Nhận xét của chi bộ", rv_result: "Kết quả xếp loại", rv_decided_by: "Quyết định ngày {d}, {u}",
    rv_waiting: "Đang chờ cấp ủy có thẩm quyền quyết định (hạn {d}).",
    rv_past: "Kết quả các năm trước", rv_no_past: "Chưa có kết quả năm nào trước đây.", rv_year: "Năm {y}",
    rv_not_member: "Phần này dành cho đảng viên có hồ sơ trong Sổ tay.",
    rv_self_assessment_closed: "Đã hết hạn nộp bản tự kiểm điểm.",
    rv_review_decided: "Cấp ủy đã quyết định xếp loại của đồng chí, không sửa được nữa.",
    rv_not_reviewed: "Đồng chí đang miễn sinh hoạt (hoặc không còn sinh hoạt) nên không thuộc diện xếp loại.",
    rv_no_cycle: "Đợt kiểm điểm này không còn nữa. Đề nghị tải lại trang.",
    lv_excellent: "Hoàn thành xuất sắc nhiệm vụ", lv_good: "Hoàn thành tốt nhiệm vụ", lv_done: "Hoàn thành nhiệm vụ",
    lv_not_done: "Không hoàn thành nhiệm vụ", self_assessment: "Bản tự kiểm điểm", proposed_level: "Mức xếp loại",
    p_reviews: "Kiểm điểm, xếp loại hằng năm",
    push_consent_note: "Bật thông báo trên máy này là đồng chí đồng ý với mục “Thông báo đẩy” trong Thông báo về xử lý dữ liệu cá nhân; đồng chí rút lại được ở mục “Thông tin cá nhân”.",
  },
  en: {
    title: "Electronic Party-member handbook", feed: "News", meetings: "Cell meetings", profile: "My record",
    signup: "Create an account", signup_note: "Once you sign up, your cell approves your account.",
    full_name: "Full name", date_of_birth: "Date of birth", phone: "Phone number", password: "Password",
    new_password: "Password (at least 8 characters)", signed_up: "Your sign-up was sent; your cell will approve it.",
    unread: "New", no_news: "No news yet.", back: "← Back", feedback: "Feedback",
    your_feedback: "Your feedback", send: "Send", sent: "Your feedback was sent.",
    sent_pending: "Your feedback was sent. It awaits your cell's moderation before others see it.",
    yours_pending: "Your feedback, awaiting moderation", yours_hidden: "Your feedback, not shown to others",
    no_meetings: "No meetings yet.",
    study: "Study", study_title: "Studying the resolutions",
    study_note: "The study topics sent to you. Read the documents, then take a short quiz to test yourself.",
    no_topics: "No study topics yet.", published_on: "Published on", n_questions: "{n} questions",
    n_documents: "{n} documents", not_taken: "Not taken yet", taken: "Taken: {s} of {m} right",
    documents: "Documents to study", no_documents: "This topic has no documents.", download: "Download",
    quiz: "Quiz", quiz_intro: "The quiz has {n} questions. For each, choose the best answer, then press “Next question”.",
    quiz_start: "Start the quiz", question_of: "Question {i} of {n}", next_question: "Next question",
    prev_question: "Previous question", submit_quiz: "Submit", choose_one: "Please choose an answer.",
    unanswered: "You have not answered question {list}.",
    score_line: "You got {s} of {m} right ({p}).", best_line: "Your best: {s} of {m} right. Taken {a} times.",
    review: "Answers", you_chose: "You chose", is_right: "right", is_wrong: "not right", right_answer: "The right answer",
    explanation: "Why", retake: "Take the quiz again",
    retake_note: "You may take it again as often as you like; your best score is the one kept.",
    n_study: "Study: {t}", p_study_results: "Study quizzes",
    not_a_member: "Only members in their cell's registry take the quiz.",
    attend: "I will attend", absent: "I cannot attend", answered_yes: "You said you will attend.",
    answered_no: "You said you cannot attend.", place: "Place", agenda: "Agenda",
    meeting_past: "This meeting has taken place.", meeting_started: "This meeting has started.",
    absent_reason: "Why you cannot come (your cell reads it)", thematic_meeting: "Thematic meeting",
    correction: "Ask for a correction", field_choice: "What is wrong", value: "What it should be", note: "Note",
    request_sent: "Your request was sent to your cell.", unit: "Cell", unit_above: "Part of", card: "Party card number",
    status: "Standing", admitted_on: "Admitted on", official_on: "Full member since",
    my_corrections: "Your correction requests", no_corrections: "You have not asked for a correction.",
    requests: "Your requests about your data",
    requests_note: "You may ask to correct, restrict, object to a use of, or erase your data. Your cell answers within 2 working days and settles it within 15 days.",
    rq_kind: "You want to", rq_asked: "What you ask", rq_send: "Send the request", rq_sent: "Your request was sent to your cell.",
    rq_correction: "Correct something wrong", rq_restriction: "Restrict the use or reading of my data",
    rq_objection: "Object to a use of my data", rq_erasure: "Erase my data", rq_other: "Something else",
    rq_erasure_note: "The member registry is kept under the Party's Charter and rules, so it cannot be erased. Your cell still answers you; you may ask to restrict who reads your record.",
    rq_none: "You have not sent a request.", rq_ack_by: "Answer due by", rq_due_by: "Settle by",
    rq_extended: "Extended, because", rq_outcome: "Outcome", rq_refusal: "Why not", rq_overdue: "Overdue",
    rq_received: "Sent, awaiting your cell's answer", rq_acknowledged: "Received by your cell, in hand",
    rq_extended_s: "In hand (extended)", rq_completed: "Settled", rq_refused: "Not done",
    my_data: "The data the system holds about you",
    my_data_note: "You have the right to know what the system holds about you, who read your record and why (Personal Data Protection Law).",
    my_data_open: "See my data", my_data_download: "Download the data file (JSON)", nothing_held: "None.",
    svc_members: "Member record", svc_identity: "Account", svc_content: "News, feedback, meetings", svc_metrics: "Rollout figures",
    p_meeting_presence: "Meetings you came to (as your cell recorded)", p_record: "Record", p_history: "Changes to the record", p_corrections: "Correction requests", p_requests: "Your requests about your data",
    p_reads_of_your_record: "Staff reads of your record", p_account: "Account", p_registrations: "Registrations",
    p_roles: "Roles", p_sign_ins: "Sign-ins", p_password_reset_codes: "Password reset codes",
    p_known_addresses: "Usual sign-in places", p_registry_copy: "Registry copy used to match registrations",
    p_consents: "Consents to the processing of personal data", p_audit: "What staff did to your account", p_where_you_sit: "Cell (to send news to the right people)", p_reads: "Articles read",
    p_feedback: "Feedback sent", p_meeting_answers: "Meeting answers", p_bookmarks: "Saved documents",
    p_notification_choices: "Notification choices", p_push_devices: "Devices told by push", p_member: "Record (as counted)",
    p_reading: "Last day of reading",
    sent_on: "Sent on", decided_on: "Decided on", decision_reason: "Reason",
    c_pending: "Awaiting a decision", c_accepted: "Accepted", c_rejected: "Not accepted",
    s_active: "Active", s_probationary: "Probationary", s_exempt: "Exempt from meetings",
    s_transferred_out: "Transferred out", s_deceased: "Deceased", s_removed: "Removed",
    reg_pending: "Your registration (sent on {d}) is waiting for your cell's approval. Once approved, you sign in with this card number and password.",
    reg_rejected: "Your registration was not accepted. Reason: {r}. You may contact your cell or register again.",
    reg_rejected_no_reason: "Your registration was not accepted. Please contact your cell.",
    offline_reading: "No connection: you are reading the news kept on this device. The page updates once you are back online.",
    updating: "Updating…",
    needs_connection: "This needs a connection. Please try again once you are online.",
    notices: "Notifications", no_notices: "No notifications in the last 30 days.", new_notice: "New",
    n_article: "New article: {t}", n_meeting: "Your cell calls a meeting at {w}, at {p}.",
    n_meeting_reminder: "Reminder: your cell meets at {w}, at {p}.",
    n_account_approved: "Your cell approved your account. Welcome to the electronic Party-member handbook.",
    n_account_rejected: "Your registration was not accepted.",
    choices: "Tell me about", c_articles: "New articles for my units",
    c_meetings: "My cell's meetings (when called, and a reminder the day before)", c_account: "My account",
    on_device: "Notifications on this device", push_on: "Turn on notifications on this device",
    push_off: "Turn off notifications on this device",
    push_is_on: "This device receives notifications, even when the handbook is closed.",
    push_is_off: "This device does not receive notifications. You can still read every notification on this page.",
    push_unsupported: "This browser cannot receive push notifications. You can still read every notification on this page.",
    push_denied: "This device blocks the handbook's notifications. To turn them on, open the browser's settings, Notifications, and allow this site.",
    push_note: "Notifications go through the browser maker's service (possibly abroad), encrypted, with no name or personal details of yours.",
    tell_me: "Tell me on this device when my cell decides", told_later: "This device will be told when your cell decides.",
    consent_title: "Consent to the processing of your personal data",
    consent_hint: "Read the notice, then tick what you agree to yourself. The “required” one is needed for an account.",
    read_notice: "Read the privacy notice", required_mark: "required", optional_mark: "optional",
    "consent.purposes": "Consent", "consent.notice_version": "Privacy notice", purposes: "Consent",
    notice_unavailable: "The privacy notice could not be loaded. Check the connection and reload the page.",
    privacy: "Personal data and consent", notice_version: "version {v}",
    consent_needed: "You have not agreed to the personal data notice (its latest version). Please read it and agree",
    consent_needed_link: "here",
    consent_current: "You agreed to version {v} of the privacy notice on {d}.",
    consent_older: "The privacy notice has changed (version {v}). Please read the new version and press “Agree” on the required purpose.",
    consent_none: "You have not agreed to the current privacy notice (version {v}). Please read it and press “Agree” on the required purpose.",
    consent_closing: "You withdrew the required purpose: you asked for your handbook account to be closed. Your cell will contact you to complete it. Until then the account still works; if you change your mind, press “Agree” on the required purpose.",
    p_given: "Agreed on {d}", p_given_old: "Agreed to version {v} on {d}", p_withdrawn: "Withdrawn on {d}",
    p_none: "Not agreed", give: "Agree", withdraw: "Withdraw consent",
    withdraw_required: "The handbook cannot work without this purpose. Withdrawing it means asking for your handbook account to be closed: your cell will contact you to complete it. Your member record is kept under Party rules; your Party membership and activities are not affected.",
    withdraw_confirm: "Withdraw all the same and ask to close my account",
    given_done: "Your consent was recorded.", withdrawn_done: "Your withdrawal was recorded.",
    push_withdrawn_done: "Your withdrawal was recorded. The handbook no longer sends push notifications to any of your devices.",
    closing_done: "Your request to close the account was recorded. Your cell will contact you.",
    consent_history: "Each time you agreed or withdrew", h_given: "Agreed", h_withdrawn: "Withdrew",
    on_web: "on a computer", on_mobile: "on a phone", unknown_client: "unknown browser",
    review: "Yearly review", rv_title: "The yearly review and ranking of {y}",
    rv_none: "No yearly review is open now.",
    rv_note: "Write your self-assessment and propose your level. Your cell comments and proposes; the Party committee with authority decides your level.",
    rv_due: "Self-assessments due by", rv_decision_due: "Levels decided by",
    rv_text: "Your self-assessment",
    rv_text_hint: "Your strengths and shortcomings this year; the tasks you were given; how you will improve.",
    rv_level: "The level you propose", rv_send: "Send my self-assessment",
    rv_sent: "Your self-assessment was sent. You may change and send it again until {d}.",
    rv_submitted_on: "You sent your self-assessment on {d}.", rv_not_submitted: "You have not sent a self-assessment.",
    rv_closed_unsubmitted: "Self-assessments are closed; your cell assesses you.",
    rv_yours: "You proposed", rv_your_text: "Your self-assessment", rv_cell: "Your cell proposed",
    rv_cell_comment: "Your cell's comment", rv_result: "Your level", rv_decided_by: "Decided on {d}, {u}",
    rv_waiting: "Awaiting the decision of the Party committee with authority (by {d}).",
    rv_past: "Earlier years", rv_no_past: "No earlier year's result.", rv_year: "{y}",
    rv_not_member: "This is for members with a record in the handbook.",
    rv_self_assessment_closed: "Self-assessments are closed.",
    rv_review_decided: "Your level has been decided: it can no longer be changed.",
    rv_not_reviewed: "You are exempt from Party activities (or no longer active), so you are not rated.",
    rv_no_cycle: "This review is no longer open. Please reload the page.",
    lv_excellent: "Completed tasks excellently", lv_good: "Completed tasks well", lv_done: "Completed tasks",
    lv_not_done: "Did not complete tasks", self_assessment: "Self-assessment", proposed_level: "Level",
    p_reviews: "Yearly reviews",
    push_consent_note: "Turning notifications on here means agreeing to “Push notifications” in the privacy notice; you can withdraw it under “My record”.",
  },
});

const $ = (id) => document.getElementById(id);
const el = Sotay.el, t = Sotay.t;
// A moment as a date and a time: dd/mm/yyyy HH:mm, in Hanoi's time.
const when = (iso) => `${Sotay.date(iso)} ${new Intl.DateTimeFormat("vi-VN", { hour: "2-digit", minute: "2-digit",
  hour12: false, timeZone: "Asia/Ho_Chi_Minh" }).format(new Date(iso))}`;
const view = () => $("view");
// What was typed in the view before it is drawn again in another language (redraw), put back
// into the new view as soon as it is drawn.
let carried = null;
// Which route is the newest: a view is drawn only for it. The feed still loading when the member
// taps "Thông tin cá nhân" is not drawn over the profile when its answer comes late.
let routed = 0;
// A view's drawer, taken as the view starts loading (route() calls it synchronously): it draws
// and says true while no later route has begun, and otherwise draws nothing and says false.
const drawer = () => {
  const mine = routed;
  return (...nodes) => (mine === routed ? (render(...nodes), true) : false);
};
function render(...nodes) {
  view().replaceChildren(...nodes);
  if (!carried) return;
  const [typed, focused] = carried;
  carried = null;
  for (const [id, value] of typed) {
    const input = $(id);
    if (input) { input.value = value; input.dispatchEvent(new Event("change")); }
  }
  if (focused && $(focused)) $(focused).focus();
}
const DATE_REASON = "must be a real date written day/month/year (e.g. 01/05/1960)";
const DATE_FIELDS = ["date_of_birth", "admitted_on", "official_on"];
// A value of a member's record as the member reads it.
const shown = (field, value) => (value == null || value === "" ? "—" : DATE_FIELDS.includes(field) ? Sotay.date(value)
  : field === "phone" ? Sotay.phone(value) : String(value));

// From the installed app (install.js) the handbook is used "mobile", from a browser "web".
const platform = () => (typeof SotayApp !== "undefined" && SotayApp.installed ? "mobile" : "web");

// --- the privacy notice (identity's GET /privacy-notice: its version, purposes, texts) -----------
let notice = null;
async function currentNotice(again = false) {
  if (!notice || again) notice = await Sotay.json("/api/identity/v1/privacy-notice");
  return notice;
}
const inLang = (both) => both[Sotay.lang] || both.vi;
// The notice's few Markdown marks (#, ## headings; - and 1. lists; **bold**) as elements, never as HTML.
function noticeNodes(markdown) {
  const inline = (text) => text.split(/\*\*(.+?)\*\*/).map((part, i) => (i % 2 ? el("strong", {}, part) : part));
  const nodes = [];
  let list = null;
  for (const line of markdown.split("\n")) {
    const item = /^(-|\d+\.) (.*)$/.exec(line);
    if (item) {
      if (!list) nodes.push(list = el(item[1] === "-" ? "ul" : "ol"));
      list.append(el("li", {}, ...inline(item[2])));
      continue;
    }
    list = null;
    const heading = /^(#{1,2}) (.*)$/.exec(line);
    if (heading) nodes.push(el(`h${heading[1].length + 2}`, {}, heading[2]));
    else if (line.trim()) nodes.push(el("p", {}, ...inline(line)));
  }
  return nodes;
}
const mark = (p) => el("span", { class: p.required ? "required" : "muted" },
  `(${t(p.required ? "required_mark" : "optional_mark")})`);

// A unit's name (and the names of the units above it) from members' org tree; never a code.

// --- reading what the device kept ------------------------------------------------------------
// The installed handbook's service worker (web/sw.js) keeps what a member reads. Opened by a member
// signed in when last seen, the page shows the feed and the articles kept at once (kept()), while
// the sign-in is renewed and the feed asked for anew, a slow round trip each on a phone's
// connection; without a connection, until it returns. A read made meanwhile waits in this device's
// storage and is sent, with the day it was made, once signed in.
const FEED = "/api/content/v1/feed?limit=50";
const READS = "sotay.reads";
// Why the page shows what the device kept ("updating", "offline_reading"); null when it is live.
let fromDevice = null;
const hanoiDay = () => new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Ho_Chi_Minh" }).format(new Date());
const waitingReads = () => JSON.parse(localStorage.getItem(READS) || "[]");

async function recordRead(id) {
  const day = hanoiDay();
  try {
    if (fromDevice) throw Object.assign(new Error("network"), { code: "network" });
    await Sotay.post(`/api/content/v1/articles/${id}/read`);  // opening it is reading it (once a day counts)
  } catch (err) {
    if (err.code !== "network") throw err;
    const reads = waitingReads();
    if (!reads.some((r) => r.id === id && r.day === day)) reads.push({ id, day });
    localStorage.setItem(READS, JSON.stringify(reads));
  }
}

async function sendWaitingReads() {
  for (const read of waitingReads()) {
    try {
      // One key per read: sent again after a lost answer, it still counts once.
      await Sotay.post(`/api/content/v1/articles/${read.id}/read`, { read_on: read.day }, `read-${read.id}-${read.day}`);
    } catch (err) {
      if (err.code === "network" || err.code === "session_ended") return;  // later, as it is
      // Refused (too old, no longer in the feed): nothing more to send for it.
    }
    localStorage.setItem(READS, JSON.stringify(waitingReads().filter((r) => r.id !== read.id || r.day !== read.day)));
  }
}

// The newest articles of the feed, fetched now so that they can be read without a connection.
async function keepForLater(items) {
  if (!("caches" in window) || !navigator.serviceWorker || !navigator.serviceWorker.controller) return;
  for (const a of items.slice(0, 20)) {
    const url = `/api/content/v1/articles/${a.id}`;
    if (!(await caches.match(url))) await Sotay.api(url).catch(() => null);
  }
}

// The answer to `path`: the network's, or while the page shows what the device kept, the device's
// copy (read here, not through the worker, which would ask the network first).
async function load(path) {
  if (!fromDevice) return Sotay.json(path);
  const copy = "caches" in window && await caches.match(path, { ignoreVary: true });  // kept with a token
  if (!copy) throw Object.assign(new Error("network"), { code: "network" });
  return copy.json();
}

// What the device kept, on screen with `why` above it (Sotay.start: "updating" at once for a member
// signed in when last seen, "offline_reading" without a connection); false when no feed is kept
// (nothing is once signed out: SotayApp.forget()). kept(null) takes it away: the session ended and
// the sign-in form replaces it.
async function kept(why) {
  const feed = why && "caches" in window && await caches.match(FEED, { ignoreVary: true });
  fromDevice = feed ? why : null;
  $("view").hidden = $("offline").hidden = !feed;
  if (!feed) { window.removeEventListener("hashchange", route); return false; }
  $("welcome").hidden = true;
  $("offline").dataset.t = why; $("offline").textContent = t(why);
  window.addEventListener("hashchange", route);
  await route();
  return true;
}

// A part the device does not keep: without a connection, said so; while the sign-in is renewed,
// nothing until the live page (the note says it is being updated).
const notKept = () => render(...(fromDevice === "updating" ? []
  : [el("section", { class: "card" }, el("p", {}, t("needs_connection")))]));

async function showFeed() {
  const draw = drawer();
  const { items } = await load(FEED);
  if (!draw(el("section", { class: "card" }, el("h2", {}, t("feed")),
    ...(items.length ? items.map((a) => el("article", { class: `news${a.unread ? " unread" : ""}`, "data-id": a.id },
      el("h3", {}, el("a", { href: `#article/${a.id}` }, a.title),
        a.unread ? el("span", { class: "badge" }, t("unread")) : ""),
      el("p", { class: "muted" }, when(a.published_at)),
      a.summary ? el("p", {}, a.summary) : "")) : [el("p", {}, t("no_news"))])))) return;
  if (!fromDevice) keepForLater(items);
}

function feedbackItem(f) {
  const mine = f.status === "pending" ? t("yours_pending") : f.status === "hidden" ? t("yours_hidden") : null;
  return el("blockquote", { class: `feedback ${f.status}`, "data-id": f.id },
    mine ? el("p", {}, el("span", { class: `state ${f.status}` }, mine)) : "", el("p", {}, f.body),
    el("p", { class: "muted" }, when(f.created_at)));
}

async function showArticle(id) {
  const draw = drawer();
  const a = await load(`/api/content/v1/articles/${id}`);
  await recordRead(id);
  const body = el("div", { class: "article-body" });
  body.innerHTML = a.body_html;  // sanitised by content (an allow-list) when it was written
  const feedback = el("div", { id: "feedback" });
  const form = el("form", { id: "feedback-form", novalidate: "" },
    el("label", { for: "feedback-body" }, t("your_feedback")),
    el("textarea", { id: "feedback-body", name: "body", rows: "4", maxlength: "5000" }),
    el("p", {}, el("button", { type: "submit" }, t("send"))),
    el("p", { id: "feedback-done", class: "notice", role: "status" }),
    el("p", { id: "feedback-error", class: "error", role: "alert" }));
  const showFeedback = async () => {
    const { items } = await load(`/api/content/v1/articles/${id}/feedback`).catch(() => ({ items: [] }));
    feedback.replaceChildren(...items.map(feedbackItem));
  };
  Sotay.sending(form, async (key) => {
    $("feedback-done").textContent = ""; $("feedback-error").textContent = "";
    const posted = await Sotay.post(`/api/content/v1/articles/${id}/feedback`, { body: $("feedback-body").value }, key);
    $("feedback-body").value = "";
    $("feedback-done").textContent = t(posted.status === "pending" ? "sent_pending" : "sent");
    await showFeedback();
  }, (err) => failed(form, err, $("feedback-error"), () => $("feedback-body")));
  if (!draw(el("section", { class: "card" },
    el("p", {}, el("a", { href: "#feed", class: "button secondary" }, t("back"))),
    el("h2", { id: "article-title" }, a.title), el("p", { class: "muted" }, when(a.published_at)), body),
    // Feedback is sent live only: without a connection a note where the form would be, while the
    // sign-in is renewed nothing (the article is drawn again, with the form, once live).
    el("section", { class: "card" }, el("h2", {}, t("feedback")), feedback,
      fromDevice === "offline_reading" ? el("p", { id: "feedback-offline", class: "notice" }, t("needs_connection"))
        : fromDevice ? "" : form))) return;
  await showFeedback();
}

async function showMeetings() {
  const draw = drawer();
  const { items } = await Sotay.json("/api/content/v1/meetings");
  if (!draw(el("section", { class: "card" }, el("h2", {}, t("meetings")),
    ...(items.length ? items.map(meetingCard) : [el("p", {}, t("no_meetings"))])))) return;
}

// A meeting of the member's cell: when, where, what; "I will attend", or "I cannot attend" with the
// reason, which the secretary sees beside the name (and keeps as the absence's reason).
function meetingCard(m) {
  const answer = el("p", { class: "muted", role: "status" },
    m.my_answer === true ? t("answered_yes") : m.my_answer === false ? t("answered_no") : "");
  const send = async (attending, note, buttons) => {
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await Sotay.post(`/api/content/v1/meetings/${m.id}/attendance`, { attending, ...(note ? { note } : {}) });
      answer.textContent = t(attending ? "answered_yes" : "answered_no");
      why.hidden = true;
    } catch (err) { answer.textContent = Sotay.explain(err); }
    finally { buttons.forEach((b) => { b.disabled = false; }); }
  };
  const reason = el("textarea", { id: `absent-reason-${m.id}`, rows: "2", maxlength: "500" });
  const sendAbsent = el("button", { type: "submit" }, t("send"));
  const why = el("form", { class: "absent-form", hidden: "", novalidate: "" },
    el("label", { for: reason.id }, t("absent_reason")), reason, el("p", {}, sendAbsent));
  why.addEventListener("submit", (e) => {
    e.preventDefault();
    send(false, reason.value.trim() || null, [sendAbsent]);
  });
  const yes = el("button", { class: "attend", onclick: () => send(true, null, [yes, no]) }, t("attend"));
  const no = el("button", { class: "secondary absent", onclick: () => { why.hidden = false; reason.focus(); } },
    t("absent"));
  // A meeting that has started is no longer answered (the service refuses it): it says so instead.
  const started = new Date(m.starts_at) <= new Date();
  return el("article", { class: "meeting", "data-id": m.id },
    el("h3", {}, when(m.starts_at)), m.kind === "thematic" ? el("p", {}, el("strong", {}, t("thematic_meeting"))) : "",
    el("p", {}, `${t("place")}: ${m.place}`), m.agenda ? el("p", {}, `${t("agenda")}: ${m.agenda}`) : "",
    ...(started ? [el("p", { class: "muted meeting-over" }, t(m.held_at ? "meeting_past" : "meeting_started"))]
      : [el("div", { class: "actions" }, yes, no), why]), answer);
}

// --- study and self-testing (học tập nghị quyết) ----------------------------------------------------
// The topics addressed to the member; a topic with its documents and its quiz; then the score and
// the right answers. The quiz is one question at a time: on a phone, an elderly member reads one
// question in large type with its options as whole rows to tap (44 px radios in 56 px rows), never
// loses their place scrolling a long page, and goes back a question when they like; the answers are
// kept here while they go (and when the language changes), and sent together once ("Nộp bài").

let quiz = null;  // { topic, at, answers, key, sending }: the quiz being taken
const fill = (key, values) => Object.entries(values).reduce((s, [k, v]) => s.replace(`{${k}}`, v), t(key));
const percentText = (p) => Sotay.percent(p);

async function showStudy() {
  const draw = drawer();
  const { items } = await Sotay.json("/api/content/v1/study/topics");
  draw(el("section", { class: "card" }, el("h2", {}, t("study_title")), el("p", { class: "muted" }, t("study_note")),
    ...(items.length ? items.map((s) => el("article", { class: `news topic${s.best_score == null ? " unread" : ""}`,
      "data-id": s.id },
    el("h3", {}, el("a", { href: `#study/${s.id}` }, s.title),
      s.best_score == null ? el("span", { class: "badge" }, t("not_taken")) : ""),
    el("p", { class: "muted" }, `${t("published_on")} ${Sotay.date(s.published_at)} · ${fill("n_questions", { n: s.questions })}`
      + (s.documents ? ` · ${fill("n_documents", { n: s.documents })}` : "")),
    s.best_score != null ? el("p", { class: "taken" }, fill("taken", { s: s.best_score, m: s.max_score })) : "",
    s.description ? el("p", {}, s.description) : "")) : [el("p", {}, t("no_topics"))])));
}

function documentItem(d) {
  const download = el("button", { type: "button", class: "secondary", onclick: async (e) => {
    e.target.disabled = true;
    try { await Sotay.download(`/api/content/v1/documents/${d.id}/file`, d.filename); }
    catch (err) { $("error").textContent = Sotay.explain(err); }
    finally { e.target.disabled = false; }
  } }, t("download"));
  return el("li", { "data-id": d.id }, el("p", {}, el("strong", {}, d.title)),
    el("p", { class: "muted" }, [d.number, d.issuing_body, d.issued_on ? Sotay.date(d.issued_on) : ""].filter(Boolean).join(" · ")),
    el("p", {}, download));
}

async function showTopic(id) {
  const draw = drawer();
  const topic = await Sotay.json(`/api/content/v1/study/topics/${id}`);
  if (quiz && quiz.topic !== id) quiz = null;
  const box = el("section", { class: "card quiz", id: "quiz", "aria-live": "polite" });
  if (!draw(el("section", { class: "card" },
    el("p", {}, el("a", { href: "#study", class: "button secondary" }, t("back"))),
    el("h2", { id: "topic-title" }, topic.title),
    topic.published_at ? el("p", { class: "muted" }, `${t("published_on")} ${Sotay.date(topic.published_at)}`) : "",
    el("p", { class: "summary" }, topic.description),
    el("h3", {}, t("documents")),
    topic.documents.length ? el("ul", { class: "documents" }, ...topic.documents.map(documentItem))
      : el("p", { class: "muted" }, t("no_documents"))), box)) return;
  drawQuiz(box, topic);
}

function drawQuiz(box, topic) {
  if (quiz) drawQuestion(box, topic);
  else if (topic.result) drawResult(box, topic);
  else {
    box.replaceChildren(el("h2", {}, t("quiz")), el("p", {}, fill("quiz_intro", { n: topic.questions.length })),
      el("p", {}, el("button", { type: "button", id: "quiz-start", class: "wide",
        onclick: () => { startQuiz(topic); drawQuestion(box, topic, true); } }, t("quiz_start"))));
  }
}

function startQuiz(topic) {
  quiz = { topic: topic.id, at: 0, answers: topic.questions.map(() => null), key: crypto.randomUUID() };
}

function drawQuestion(box, topic, focus = false) {
  const q = topic.questions[quiz.at], n = topic.questions.length, last = quiz.at === n - 1;
  const said = el("p", { id: "quiz-error", class: "error", role: "alert" });
  const options = q.options.map((option, i) => {
    const radio = el("input", { type: "radio", name: `q${quiz.at}`, value: String(i),
      ...(quiz.answers[quiz.at] === i ? { checked: "" } : {}),
      onchange: () => { quiz.answers[quiz.at] = i; said.textContent = ""; } });
    return el("label", { class: "option" }, radio, el("span", {}, option));
  });
  const move = async (step) => {
    if (step > 0 && quiz.answers[quiz.at] == null) { said.textContent = t("choose_one"); return; }
    if (step > 0 && last) { await submitQuiz(box, topic, said); return; }
    quiz.at += step;
    drawQuestion(box, topic, true);
  };
  box.replaceChildren(el("h2", {}, t("quiz")),
    el("p", { class: "quiz-progress" }, fill("question_of", { i: quiz.at + 1, n }),
      el("progress", { value: String(quiz.at + 1), max: String(n), "aria-hidden": "true" })),
    el("fieldset", {}, el("legend", { id: "question", tabindex: "-1" }, q.prompt), ...options), said,
    el("div", { class: "actions quiz-actions" },
      el("button", { type: "button", id: "quiz-next", onclick: () => move(1) }, t(last ? "submit_quiz" : "next_question")),
      quiz.at > 0 ? el("button", { type: "button", id: "quiz-prev", class: "secondary", onclick: () => move(-1) },
        t("prev_question")) : ""));
  if (focus) { $("question").focus({ preventScroll: true }); box.scrollIntoView({ block: "start" }); }
}

async function submitQuiz(box, topic, said) {
  const missing = quiz.answers.map((a, i) => (a == null ? i + 1 : null)).filter(Boolean);
  if (missing.length) { said.textContent = fill("unanswered", { list: missing.join(", ") }); return; }
  if (quiz.sending) return;
  quiz.sending = true;
  const buttons = [...box.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    // One key for this attempt: tapped twice, or sent again after a lost answer, it counts once.
    await Sotay.post(`/api/content/v1/study/topics/${topic.id}/answers`, { answers: quiz.answers }, quiz.key);
    quiz = null;
    const fresh = await Sotay.json(`/api/content/v1/study/topics/${topic.id}`);
    drawResult(box, fresh);
    box.scrollIntoView({ block: "start" });
    $("score").focus({ preventScroll: true });
  } catch (err) {
    said.textContent = err.code === "not_a_member" ? t("not_a_member") : Sotay.explain(err);
    if (quiz) quiz.sending = false;
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function drawResult(box, topic) {
  const r = topic.result;
  const items = r.review.map((q, i) => el("li", { class: q.right ? "right" : "wrong", "data-right": String(q.right) },
    el("p", { class: "prompt" }, el("strong", {}, fill("question_of", { i: i + 1, n: r.review.length })), " ", q.prompt),
    el("ul", { class: "answers" }, ...q.options.map((option, j) => {
      const notes = [];
      if (j === q.chosen) notes.push(`${t("you_chose")}: ${t(q.right ? "is_right" : "is_wrong")}`);
      if (j === q.correct && !q.right) notes.push(t("right_answer"));
      return el("li", { class: [j === q.correct ? "correct" : "", j === q.chosen ? "chosen" : ""].join(" ").trim() },
        el("span", { class: "mark", "aria-hidden": "true" }, j === q.correct ? "✓" : j === q.chosen ? "✗" : ""),
        el("span", {}, option, notes.length ? el("span", { class: "note" }, notes.join("; ")) : ""));
    })),
    q.explanation ? el("p", { class: "explanation" }, `${t("explanation")}: ${q.explanation}`) : ""));
  box.replaceChildren(el("h2", {}, t("quiz")),
    el("p", { class: "score", id: "score", tabindex: "-1" },
      fill("score_line", { s: r.score, m: r.max_score, p: percentText(r.percent) })),
    r.attempts > 1 ? el("p", { id: "best" }, fill("best_line", { s: r.best_score, m: r.max_score, a: r.attempts })) : "",
    el("h3", {}, t("review")), el("ol", { class: "review" }, ...items),
    el("p", {}, el("button", { type: "button", id: "quiz-retake", class: "secondary wide",
      onclick: () => { startQuiz(topic); drawQuestion(box, topic, true); } }, t("retake"))),
    el("p", { class: "muted" }, t("retake_note")));
}

// A failed form: each error next to its field, and all of them (or what else went wrong) under the form.
function failed(form, err, summary, inputOf) {
  Sotay.showFieldErrors(form, err, inputOf);
  summary.textContent = Sotay.explain(err);
}

function correctionItem(c) {
  const changes = Object.entries(c.changes || {}).map(([k, v]) => `${t(k)}: ${shown(k, v)}`).join("; ");
  return el("li", { "data-id": c.id, "data-status": c.status },
    el("p", {}, el("span", { class: `state ${c.status}` }, t(`c_${c.status}`)), " ", changes),
    c.note ? el("p", { class: "muted" }, `${t("note")}: ${c.note}`) : "",
    el("p", { class: "muted" }, `${t("sent_on")} ${Sotay.date(c.created_at)}`
      + (c.decided_at ? ` · ${t("decided_on")} ${Sotay.date(c.decided_at)}` : "")),
    c.decision_reason ? el("p", {}, `${t("decision_reason")}: ${c.decision_reason}`) : "");
}

async function showMyCorrections() {
  const list = $("my-corrections");
  if (!list) return;
  const { items } = await Sotay.json("/api/members/v1/me/corrections");
  list.replaceChildren(...(items.length ? [el("ul", { class: "corrections" }, ...items.slice().reverse().map(correctionItem))]
    : [el("p", { class: "muted" }, t("no_corrections"))]));
}

const REQUEST_KINDS = ["correction", "restriction", "objection", "erasure", "other"];

// A data-subject request as its member sees it: what they asked, where it stands, the day it is
// due (dd/mm/yyyy) and what their unit answered.
function requestItem(r) {
  const open = ["received", "acknowledged", "extended"].includes(r.status);
  const due = r.extended_to || r.due_by;
  return el("li", { "data-id": r.id, "data-status": r.status },
    el("p", {}, el("span", { class: `state ${r.status}` }, t(r.status === "extended" ? "rq_extended_s" : `rq_${r.status}`)),
      r.overdue ? el("span", { class: "state behind" }, ` ${t("rq_overdue")}`) : "", " ", t(`rq_${r.kind}`)),
    el("p", { class: "muted" }, r.asked),
    el("p", { class: "muted" }, `${t("sent_on")} ${Sotay.date(r.received_at)}`),
    r.status === "received" ? el("p", { class: "deadline" }, `${t("rq_ack_by")}: ${Sotay.date(r.acknowledge_by)}`) : "",
    open ? el("p", { class: "deadline" }, `${t("rq_due_by")}: ${Sotay.date(due)}`) : "",
    r.extension_reason ? el("p", {}, `${t("rq_extended")}: ${r.extension_reason}`) : "",
    r.outcome ? el("p", { class: "outcome" }, `${t(r.status === "refused" ? "rq_refusal" : "rq_outcome")}: ${r.outcome}`) : "");
}

async function showMyRequests() {
  const list = $("my-requests");
  if (!list) return;
  const { items } = await Sotay.json("/api/members/v1/me/requests");
  list.replaceChildren(...(items.length ? [el("ul", { class: "corrections" }, ...items.slice().reverse().map(requestItem))]
    : [el("p", { class: "muted" }, t("rq_none"))]));
}

function requestForm() {
  const erasureNote = el("p", { id: "rq-erasure-note", class: "hint", hidden: "" }, t("rq_erasure_note"));
  const kind = el("select", { id: "rq-kind", name: "kind",
    onchange: () => { erasureNote.hidden = kind.value !== "erasure"; } },
    ...REQUEST_KINDS.map((k) => el("option", { value: k }, t(`rq_${k}`))));
  const form = el("form", { id: "request-form", novalidate: "" },
    el("p", {}, t("requests_note")),
    el("label", { for: "rq-kind" }, t("rq_kind")), kind, erasureNote,
    el("label", { for: "rq-asked" }, t("rq_asked")),
    el("textarea", { id: "rq-asked", name: "asked", maxlength: "2000", rows: "3" }),
    el("p", {}, el("button", { type: "submit" }, t("rq_send"))),
    el("p", { id: "request-done", class: "notice", role: "status" }),
    el("p", { id: "request-error", class: "error", role: "alert" }));
  form.addEventListener("input", () => { $("request-done").textContent = ""; });
  Sotay.sending(form, async (key) => {
    $("request-error").textContent = ""; $("request-done").textContent = "";
    const asked = $("rq-asked").value.trim();
    if (!asked) throw Object.assign(new Error("required"), { problem: { errors: [{ field: "asked", reason: "is required" }] } });
    await Sotay.post("/api/members/v1/me/requests", { kind: kind.value, asked }, key);
    form.reset(); erasureNote.hidden = true; Sotay.clearFieldErrors(form);
    $("request-done").textContent = t("rq_sent");
    await showMyRequests();
  }, (err) => failed(form, err, $("request-error"), (f) => (f === "asked" ? $("rq-asked") : f === "kind" ? kind : null)));
  return form;
}

async function showProfile() {
  const draw = drawer();
  const me = await Sotay.json("/api/members/v1/members/me");
  const unit = await Sotay.orgUnit(me.unit);
  const above = unit ? (await Promise.all((unit.path || []).slice(1, -1).map((code) => Sotay.orgUnit(code)))).filter(Boolean).reverse() : [];
  const fields = ["full_name", "date_of_birth", "phone"];
  const valueInput = el("input", { id: "corr-value", name: "value" });
  const hint = el("p", { id: "corr-value-hint", class: "hint" });
  const fitValue = () => {  // a date is typed dd/mm/yyyy, with the hint that says so
    const isDate = $("corr-field").value === "date_of_birth";
    hint.textContent = isDate ? t("date_hint") : "";
    hint.hidden = !isDate;
    valueInput.setAttribute("inputmode", isDate || $("corr-field").value === "phone" ? "numeric" : "text");
    if (isDate) { valueInput.setAttribute("aria-describedby", "corr-value-hint"); valueInput.placeholder = Sotay.t("date_placeholder"); }
    else { valueInput.removeAttribute("aria-describedby"); valueInput.placeholder = ""; }
  };
  const form = el("form", { id: "correction-form", novalidate: "" },
    el("label", { for: "corr-field" }, t("field_choice")),
    el("select", { id: "corr-field", name: "field", onchange: fitValue },
      ...fields.map((f) => el("option", { value: f }, t(f)))),
    el("label", { for: "corr-value" }, t("value")), hint, valueInput,
    el("label", { for: "corr-note" }, t("note")), el("input", { id: "corr-note", name: "note", maxlength: "2000" }),
    el("p", {}, el("button", { type: "submit" }, t("send"))),
    el("p", { id: "correction-done", class: "notice", role: "status" }),
    el("p", { id: "correction-error", class: "error", role: "alert" }));
  form.addEventListener("input", () => { $("correction-done").textContent = ""; });
  Sotay.sending(form, async (key) => {
    $("correction-error").textContent = ""; $("correction-done").textContent = "";
    const field = $("corr-field").value;
    let value = $("corr-value").value.trim();
    if (!value) throw Object.assign(new Error("required"), { problem: { errors: [{ field: `changes.${field}`, reason: "is required" }] } });
    if (field === "date_of_birth") {
      const iso = Sotay.isoDate(value);
      if (!iso) throw Object.assign(new Error("date"), { problem: { errors: [{ field: `changes.${field}`, reason: DATE_REASON }] } });
      value = iso;
    }
    await Sotay.post(`/api/members/v1/members/${me.id}/corrections`,
      { changes: { [field]: value }, note: $("corr-note").value.trim() || null }, key);
    form.reset(); fitValue(); Sotay.clearFieldErrors(form);
    $("correction-done").textContent = t("request_sent");
    await showMyCorrections();
  }, (err) => failed(form, err, $("correction-error"), (f) => (String(f).startsWith("changes") ? $("corr-value")
    : f === "note" ? $("corr-note") : null)));
  const rows = [["full_name", me.full_name], ["card", me.party_card_no], ["date_of_birth", shown("date_of_birth", me.date_of_birth)],
                ["unit", unit ? unit.name : "—"], ...(above.length ? [["unit_above", above.map((u) => u.name).join(", ")]] : []),
                ["status", me.status ? t(`s_${me.status}`) : "—"], ["phone", shown("phone", me.phone)],
                ["admitted_on", shown("admitted_on", me.admitted_on)], ["official_on", shown("official_on", me.official_on)]];
  if (!draw(el("section", { class: "card" }, el("h2", {}, t("profile")),
    el("dl", { class: "record" }, ...rows.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", { "data-field": k }, v ?? "—")]))),
    el("section", { class: "card" }, el("h2", {}, t("correction")), form),
    el("section", { class: "card" }, el("h2", {}, t("my_corrections")), el("div", { id: "my-corrections" })),
    el("section", { class: "card", id: "requests" }, el("h2", {}, t("requests")), requestForm(),
      el("div", { id: "my-requests" })),
    el("section", { class: "card" }, el("h2", {}, t("my_data")), el("p", {}, t("my_data_note")),
      el("p", {}, el("a", { href: "#mydata", class: "button secondary", id: "open-my-data" }, t("my_data_open")))),
    el("section", { class: "card", id: "consents" }))) return;
  fitValue();
  await Promise.all([showMyCorrections(), showMyRequests(), showConsents()]);
}

// The member's consents (identity's /me/consents): where they stand on each purpose of the current
// notice, a button to withdraw or agree (again) on each, what withdrawing the required one means,
// asked before it is done, and every giving and withdrawal with when, how and from what.
async function showConsents(said = "") {
  const box = $("consents");
  if (!box) return;
  let mine;
  try {
    [mine] = await Promise.all([Sotay.json("/api/identity/v1/me/consents"), currentNotice()]);
  } catch (err) {
    if (err.code === "no_consent_record") { box.hidden = true; return; }  // a staff account: no registration
    throw err;
  }
  const status = el("p", { id: "consent-done", class: "notice", role: "status" }, said);
  const error = el("p", { id: "consent-error", class: "error", role: "alert" });
  const account = mine.purposes.find((p) => p.required);
  const standing = mine.closure_requested ? t("consent_closing")
    : account.given && account.notice_version === mine.notice_version
      ? t("consent_current").replace("{v}", mine.notice_version).replace("{d}", Sotay.date(account.at))
      : t(account.given ? "consent_older" : "consent_none").replace("{v}", mine.notice_version);
  const act = (path, body, done) => async (e) => {
    e.target.disabled = true;
    error.textContent = "";
    try {
      await Sotay.post(`/api/identity/v1/me/consents${path}`, { ...body, platform: platform() });
      if (path && body.purposes.includes("push")) await SotayPush.disable();  // this device at once (content forgets the others)
      await showConsents(done);
      await askForConsent();
    } catch (err) { error.textContent = Sotay.explain(err); e.target.disabled = false; }
  };
  const give = (code) => act("", { notice_version: mine.notice_version, purposes: [code] }, t("given_done"));
  const withdraw = (code) => act("/withdraw", { purposes: [code] },
    t(code === "push" ? "push_withdrawn_done" : account.code === code ? "closing_done" : "withdrawn_done"));
  const items = mine.purposes.map((p) => {
    const shown = notice.purposes.find((n) => n.code === p.code);
    const state = !p.notice_version ? t("p_none") : !p.given ? t("p_withdrawn").replace("{d}", Sotay.date(p.at))
      : t(p.notice_version === mine.notice_version ? "p_given" : "p_given_old").replace("{v}", p.notice_version)
        .replace("{d}", Sotay.date(p.at));
    const current = p.given && p.notice_version === mine.notice_version;
    const confirm = el("div", { class: "warn", hidden: "" }, el("p", {}, t("withdraw_required")),
      el("div", { class: "actions" },
        el("button", { type: "button", id: `withdraw-${p.code}-confirm`, onclick: withdraw(p.code) }, t("withdraw_confirm")),
        el("button", { type: "button", class: "secondary", onclick: () => { confirm.hidden = true; } }, t("cancel"))));
    const button = current
      ? el("button", { type: "button", class: "secondary", id: `withdraw-${p.code}`,
        onclick: p.required ? () => { confirm.hidden = false; } : withdraw(p.code) }, t("withdraw"))
      : el("button", { type: "button", id: `give-${p.code}`, onclick: give(p.code) }, t("give"));
    return el("li", { "data-code": p.code, "data-given": String(p.given) },
      el("p", {}, el("strong", {}, inLang(shown.name)), " ", mark(p)),
      el("p", { class: "muted" }, inLang(shown.label)),
      el("p", { class: "state-text" }, state), el("p", {}, button), p.required ? confirm : "");
  });
  const name = (code) => { const p = notice.purposes.find((n) => n.code === code); return p ? inLang(p.name) : code; };
  const history = mine.history.map((h) => el("li", {},
    el("p", {}, `${when(h.at)} · ${t(`h_${h.action}`)}: ${h.purposes.map(name).join(", ")}`),
    el("p", { class: "muted" }, `${t("notice_version").replace("{v}", h.notice_version)} · ${t(`on_${h.method}`)} `
      + `(${h.client.includes("?") ? t("unknown_client") : h.client})`)));
  box.replaceChildren(el("h2", {}, t("privacy")), el("p", { id: "consent-standing" }, standing),
    el("details", { class: "privacy" }, el("summary", {}, `${t("read_notice")} (${t("notice_version").replace("{v}", notice.version)})`),
      el("div", { class: "notice-text" }, ...noticeNodes(inLang(notice.text)))),
    el("ul", { class: "purposes" }, ...items), status, error,
    el("h3", {}, t("consent_history")), el("ul", { class: "consent-history" }, ...history));
}

// --- the yearly review (members' /review-cycles and /me/reviews) ------------------------------------
// While the year's cycle takes self-assessments, the member writes theirs and picks the level they
// propose (big choices, Vietnamese names); then they see what they sent, the cell's proposal and
// comment, and the level decided, by whom and when; and the years before.

const LEVELS = ["excellent", "good", "done", "not_done"];
const level = (code) => (code ? t(`lv_${code}`) : "—");
// A refusal said in the member's words: the review's own codes first, then the usual explanation.
const reviewProblem = (err) => (err.code && t(`rv_${err.code}`) !== `rv_${err.code}` ? t(`rv_${err.code}`) : Sotay.explain(err));

function reviewResult(r) {
  const rows = [];
  if (r.cell_level) rows.push(["rv_cell", level(r.cell_level)], ["rv_cell_comment", r.cell_comment]);
  const out = [];
  if (r.decided_level) {
    out.push(el("p", { class: "result", id: `rv-result-${r.year}` }, `${t("rv_result")}: `, el("strong", {}, level(r.decided_level))),
      el("p", { class: "muted" }, t("rv_decided_by").replace("{d}", Sotay.date(r.decided_at))
        .replace("{u}", r.decided_unit_name || "—")));
  }
  if (rows.length) out.push(el("dl", { class: "record fit" }, ...rows.flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)])));
  return out;
}

// The level ticked but not sent yet, kept when the page is drawn again in the other language.
let tickedLevel = null;

function reviewForm(cycle, mine) {
  tickedLevel = carried ? tickedLevel : (mine && mine.proposed_level) || null;
  const text = el("textarea", { id: "rv-text", name: "self_assessment", rows: "8", maxlength: "5000",
    "aria-describedby": "rv-text-hint" });
  text.value = (mine && mine.self_assessment) || "";
  const choices = el("fieldset", { class: "choices levels", id: "rv-levels",
    onchange: (e) => { if (e.target.checked) tickedLevel = e.target.value; } }, el("legend", {}, t("rv_level")),
    ...LEVELS.map((code) => el("label", { class: "check" },
      el("input", { type: "radio", name: "proposed_level", value: code, id: `rv-level-${code}`,
        ...(tickedLevel === code ? { checked: "" } : {}) }), " ", t(`lv_${code}`))));
  const form = el("form", { id: "review-form", novalidate: "" },
    el("label", { for: "rv-text" }, t("rv_text")), el("p", { id: "rv-text-hint", class: "hint" }, t("rv_text_hint")), text,
    choices, el("p", {}, el("button", { type: "submit" }, t("rv_send"))),
    el("p", { id: "review-done", class: "notice", role: "status" },
      mine && mine.submitted_at ? t("rv_submitted_on").replace("{d}", Sotay.date(mine.submitted_at)) : ""),
    el("p", { id: "review-error", class: "error", role: "alert" }));
  Sotay.sending(form, async (key) => {
    $("review-error").textContent = ""; $("review-done").textContent = "";
    const picked = form.querySelector("input[name=proposed_level]:checked");
    const errors = [...(text.value.trim() ? [] : [{ field: "self_assessment", reason: "is required" }]),
      ...(picked ? [] : [{ field: "proposed_level", reason: "is required" }])];
    if (errors.length) throw Object.assign(new Error("required"), { problem: { errors } });
    await Sotay.post("/api/members/v1/me/reviews", { year: cycle.year, self_assessment: text.value.trim(),
      proposed_level: picked.value }, key);
    Sotay.clearFieldErrors(form);
    $("review-done").textContent = t("rv_sent").replace("{d}", Sotay.date(cycle.self_assessment_due));
  }, (err) => {
    Sotay.showFieldErrors(form, err, (f) => (f === "self_assessment" ? text : f === "proposed_level" ? $("rv-levels") : null));
    $("review-error").textContent = (err.problem && err.problem.errors) ? Sotay.explain(err) : reviewProblem(err);
  });
  return form;
}

async function showReview() {
  const draw = drawer();
  let cycles, mine;
  try {
    [{ items: cycles }, { items: mine }] = await Promise.all([Sotay.json("/api/members/v1/review-cycles"),
      Sotay.json("/api/members/v1/me/reviews")]);
  } catch (err) {
    if (err.status !== 403 && err.status !== 404) throw err;  // a staff account: no record of its own
    draw(el("section", { class: "card" }, el("h2", {}, t("review")), el("p", {}, t("rv_not_member"))));
    return;
  }
  const current = cycles.find((c) => c.stage !== "closed") || null;
  const own = current && mine.find((r) => r.year === current.year);
  const past = mine.filter((r) => !current || r.year !== current.year);
  const now = [];
  if (!current) now.push(el("p", {}, t("rv_none")));
  else {
    now.push(el("p", {}, t("rv_note")),
      el("p", { class: "deadline" }, `${t("rv_due")}: `, el("strong", { id: "rv-due" }, Sotay.date(current.self_assessment_due))),
      el("p", { class: "deadline" }, `${t("rv_decision_due")}: `, el("strong", {}, Sotay.date(current.decision_due))));
    if (current.stage === "self_assessment" && !(own && own.decided_level)) now.push(reviewForm(current, own));
    else {
      now.push(el("p", {}, own && own.submitted_at ? t("rv_submitted_on").replace("{d}", Sotay.date(own.submitted_at))
        : t(current.stage === "self_assessment" ? "rv_not_submitted" : "rv_closed_unsubmitted")));
      if (own && own.self_assessment) {
        now.push(el("dl", { class: "record fit" }, el("dt", {}, t("rv_yours")), el("dd", {}, level(own.proposed_level)),
          el("dt", {}, t("rv_your_text")), el("dd", { class: "own-words" }, own.self_assessment)));
      }
    }
    if (own) now.push(...reviewResult(own));
    if (!(own && own.decided_level)) now.push(el("p", { class: "muted" }, t("rv_waiting").replace("{d}", Sotay.date(current.decision_due))));
  }
  const history = past.length ? el("ul", { class: "corrections", id: "rv-history" }, ...past.map((r) => el("li", { "data-year": r.year },
    el("h3", {}, t("rv_year").replace("{y}", r.year)),
    r.decided_level ? "" : el("p", { class: "muted" }, t("rv_waiting").replace("{d}", Sotay.date(r.decision_due))),
    ...reviewResult(r)))) : el("p", { class: "muted" }, t("rv_no_past"));
  draw(el("section", { class: "card", id: "review-now" },
    el("h2", {}, current ? t("rv_title").replace("{y}", current.year) : t("review")), ...now),
  el("section", { class: "card" }, el("h2", {}, t("rv_past")), history));
}

// --- notifications ------------------------------------------------------------------------------
// The inbox (what content told this member: handlers/notices.py), what they chose to be told, and
// whether this device is told by push (push.js). The menu shows how many are not seen yet.

function noticeText(n) {
  const at = n.details && n.details.starts_at ? when(n.details.starts_at) : "";
  return t(`n_${n.kind}`).replace("{t}", n.title || "").replace("{w}", at).replace("{p}", (n.details && n.details.place) || "");
}

const noticeLink = (n) => (n.kind === "article" ? `#article/${n.ref}` : n.kind === "study" ? `#study/${n.ref}`
  : n.kind.startsWith("meeting") ? "#meetings" : null);

async function showUnseen(count) {
  const badge = $("notice-count");
  if (count === undefined) count = (await Sotay.json("/api/content/v1/notices?limit=1").catch(() => ({ unseen: 0 }))).unseen;
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = !count;
}

async function showNotices() {
  const draw = drawer();
  const [{ items }, chosen] = await Promise.all([Sotay.json("/api/content/v1/notices"),
    Sotay.json("/api/content/v1/notices/choices")]);
  const list = items.length ? el("ul", { class: "notices" }, ...items.map((n) => {
    const link = noticeLink(n);
    const text = link ? el("a", { href: link, class: "target" }, noticeText(n)) : el("span", {}, noticeText(n));
    return el("li", { class: n.unread ? "unread" : "", "data-kind": n.kind, "data-id": n.id },
      el("p", {}, n.unread ? el("span", { class: "badge lead" }, t("new_notice")) : "", text),
      el("p", { class: "muted" }, when(n.at)));
  })) : el("p", {}, t("no_notices"));
  const saved = el("p", { id: "choices-done", class: "notice", role: "status" });
  const choice = (name) => el("label", { class: "check" },
    el("input", { type: "checkbox", id: `choice-${name}`, name, ...(chosen[name] ? { checked: "" } : {}),
      onchange: saveChoices }), " ", t(`c_${name}`));
  async function saveChoices() {
    const body = Object.fromEntries(["articles", "meetings", "account"].map((c) => [c, $(`choice-${c}`).checked]));
    saved.textContent = "";
    try {
      await Sotay.json("/api/content/v1/notices/choices", { method: "PUT", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" } });
      saved.textContent = Sotay.t("saved");
    } catch (err) { saved.textContent = Sotay.explain(err); }
  }
  if (!draw(el("section", { class: "card" }, el("h2", {}, t("notices")), list),
    el("section", { class: "card" }, el("h2", {}, t("choices")),
      el("fieldset", { class: "choices" }, choice("articles"), choice("meetings"), choice("account")), saved),
    el("section", { class: "card" }, el("h2", {}, t("on_device")), el("div", { id: "device-push" })))) return;
  await showDevicePush();
  if (items.length && items.some((n) => n.unread)) {
    await Sotay.post("/api/content/v1/notices/seen", { through: Math.max(...items.map((n) => n.id)) }).catch(() => null);
  }
  await showUnseen(0);
}

// This device's push: on, off, not possible here, or blocked by the person.
async function showDevicePush() {
  const box = $("device-push");
  if (!box) return;
  const status = el("p", { id: "push-status", role: "status" });
  if (!(await SotayPush.available())) {
    box.replaceChildren(el("p", {}, t("push_unsupported")));
    return;
  }
  const on = SotayPush.enabled();
  const button = el("button", { id: "push-toggle", class: on ? "secondary" : "" }, t(on ? "push_off" : "push_on"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (on) await SotayPush.disable();
      else {
        await agreeToPush();
        await SotayPush.enable(async (subscription) =>
          (await Sotay.post("/api/content/v1/push-subscriptions", subscription)).id);
      }
      await showDevicePush();
    } catch (err) {
      status.textContent = err.code === "push_denied" ? t("push_denied") : err.code === "push_unavailable"
        ? t("push_unsupported") : Sotay.explain(err);
      button.disabled = false;
    }
  });
  status.textContent = t(on ? "push_is_on" : "push_is_off");
  box.replaceChildren(status, el("p", {}, button), el("p", { class: "muted" }, t("push_note")),
    el("p", { class: "muted" }, t("push_consent_note")));
}

// Turning push on is agreeing to the notice's push purpose, recorded first unless it stands already.
async function agreeToPush() {
  const mine = await Sotay.json("/api/identity/v1/me/consents").catch((err) => {
    if (err.code === "no_consent_record") return null;  // a staff account: nothing to record
    throw err;
  });
  const push = mine && mine.purposes.find((p) => p.code === "push");
  if (push && !(push.given && push.notice_version === mine.notice_version)) {
    await Sotay.post("/api/identity/v1/me/consents", { notice_version: mine.notice_version, purposes: ["push"],
      platform: platform() });
  }
}

// --- the member's own data (an access request): every service's part, readable here and as a file ---

const SERVICES = ["members", "identity", "content", "metrics"];
// The names of the fields and of their coded values, in the reader's language (a code not here is shown as it is).
const HELD_WORDS = {
  vi: { id: "Mã", member_id: "Mã đảng viên", account_id: "Mã tài khoản", registration_id: "Mã đăng ký",
    party_card_no: "Số thẻ đảng viên", full_name: "Họ và tên", name_folded: "Họ tên (không dấu, để tìm)",
    date_of_birth: "Ngày sinh", gender: "Giới tính", citizen_id: "Số căn cước", phone: "Số điện thoại", unit: "Chi bộ",
    unit_id: "Chi bộ", unit_path: "Vị trí trong tổ chức", temporary_unit_id: "Chi bộ sinh hoạt tạm thời",
    admitted_on: "Ngày vào Đảng", official_on: "Ngày chính thức", status: "Tình trạng", eligible: "Thuộc diện cài đặt",
    ineligible_reason: "Lý do không thuộc diện", reason: "Lý do", has_account: "Có tài khoản", version: "Phiên bản",
    created_at: "Tạo lúc", updated_at: "Cập nhật lúc", at: "Lúc", actor_role: "Vai trò người xem",
    actor_unit_name: "Đơn vị của người xem", what: "Đã xem", purpose: "Để làm gì", masked: "Che bớt số",
    action: "Việc", changes: "Thay đổi", note: "Ghi chú", decided_at: "Quyết định lúc", decision_reason: "Lý do quyết định",
    platform: "Thiết bị", match_result: "Kết quả đối chiếu", submitted_at: "Gửi lúc", activated_at: "Đăng nhập lần đầu",
    disabled_reason: "Lý do khoá", role: "Vai trò", granted_at: "Giao lúc", issued_at: "Cấp lúc", expires_at: "Hết hạn",
    used_at: "Dùng lúc", revoked_at: "Thu hồi lúc", voided_at: "Huỷ lúc", last_ok_at: "Lần cuối", article_id: "Mã bài",
    title: "Tiêu đề", day: "Ngày", read_at: "Đọc lúc", to_unit: "Gửi tới", body: "Nội dung", answer: "Trả lời",
    meeting_id: "Mã buổi sinh hoạt", starts_at: "Bắt đầu", place: "Địa điểm", attending: "Tham dự",
    answered_at: "Trả lời lúc", document_id: "Mã tài liệu", articles: "Tin bài mới", meetings: "Lịch sinh hoạt",
    account: "Tài khoản", seen_through: "Đã xem đến", push_service: "Dịch vụ thông báo", failures: "Lần gửi lỗi",
    installed: "Đã cài đặt", activated: "Đã đăng nhập", last_day: "Ngày đọc gần nhất", answered: "Đã trả lời",
    correction_review: "xem xét đề nghị sửa", registry: "quản lý hồ sơ", self: "chính đồng chí xem",
    request_review: "giải quyết yêu cầu về dữ liệu", requests: "yêu cầu về dữ liệu",
    access_review: "xem lại lịch sử truy cập", breach_notification: "chuẩn bị thông báo sự cố", record: "hồ sơ",
    history: "lịch sử hồ sơ", corrections: "đề nghị sửa", reads: "lịch sử truy cập", active: "Đang sinh hoạt",
    probationary: "Dự bị", exempt: "Miễn sinh hoạt", approved: "Đã phê duyệt", rejected: "Không chấp thuận",
    pending: "Đang chờ", disabled: "Đã khoá", accepted: "Đã chấp nhận", visible: "Đang hiện", hidden: "Không hiện",
    web: "máy tính", mobile: "điện thoại", member: "đảng viên", cell_secretary: "bí thư chi bộ",
    unit_admin: "cán bộ quản trị đơn vị", city_admin: "cán bộ quản trị Thành ủy", editor: "biên tập viên",
    chief_editor: "tổng biên tập", matched: "khớp hồ sơ", not_found: "không tìm thấy", mismatch: "chưa khớp",
    unit_name: "Chi bộ", committee: "Đảng bộ trực thuộc", temporary_unit: "Chi bộ sinh hoạt tạm thời", source: "Nguồn",
    import: "nhập từ tệp", imported: "nhập từ tệp", created: "tạo hồ sơ", updated: "sửa hồ sơ",
    transferred_official: "chuyển sinh hoạt chính thức", transferred_temporary: "chuyển sinh hoạt tạm thời",
    status_changed: "đổi tình trạng", approve_registration: "phê duyệt đăng ký", reject_registration: "từ chối đăng ký",
    grant_role: "giao vai trò", revoke_role: "thu hồi vai trò", disable_account: "khoá tài khoản",
    issue_password_reset: "cấp mã đặt lại mật khẩu", look_up_account_for_reset: "tra tài khoản để đặt lại mật khẩu",
    create_user: "tạo tài khoản cán bộ", notice_version: "Phiên bản thông báo", method: "Cách thức",
    client: "Trình duyệt", given: "đồng ý", withdrawn: "rút lại", push: "thông báo đẩy",
    read_consents: "xem danh sách đồng ý của đơn vị", minimised: "xoá bớt dữ liệu khi hết thời hạn lưu",
    dropped: "Đã xoá", search: "tìm kiếm, danh sách đảng viên", restricted: "hạn chế xử lý dữ liệu",
    restriction_lifted: "bỏ hạn chế xử lý dữ liệu", phone_tail: "3 số cuối điện thoại", present: "Có mặt",
    kind: "Loại", regular: "thường kỳ", thematic: "chuyên đề", topic_id: "Mã chuyên đề", answers: "Đáp án đã chọn",
    score: "Số câu đúng (lần cuối)", best_score: "Số câu đúng cao nhất", max_score: "Số câu hỏi", attempts: "Số lần làm",
    completed_at: "Làm lần đầu",
    year: "Năm", self_assessment: "Bản tự kiểm điểm",
    proposed_level: "Tự đề xuất", submitted_at: "Gửi lúc", cell_level: "Chi bộ đề xuất",
    cell_comment: "Nhận xét của chi bộ", cell_at: "Chi bộ đề xuất lúc", decided_level: "Kết quả xếp loại",
    decided_unit: "Cấp ủy quyết định", decided_unit_name: "Tên cấp ủy quyết định",
    self_assessment_due: "Hạn nộp bản tự kiểm điểm", decision_due: "Hạn quyết định",
    excellent: "Hoàn thành xuất sắc nhiệm vụ", good: "Hoàn thành tốt nhiệm vụ", done: "Hoàn thành nhiệm vụ",
    not_done: "Không hoàn thành nhiệm vụ",
    reviews: "kiểm điểm, xếp loại", yearly_review: "kiểm điểm, xếp loại hằng năm",
    male: "Nam", female: "Nữ", temporary_until: "Sinh hoạt tạm thời đến ngày", restricted_at: "Hạn chế xử lý dữ liệu từ" },
  en: { member_id: "Member id", account_id: "Account id", party_card_no: "Party card number", full_name: "Full name",
    date_of_birth: "Date of birth", phone: "Phone", unit: "Cell", status: "Standing", at: "At",
    actor_role: "Reader's role", actor_unit_name: "Reader's unit", what: "Read", purpose: "Why",
    notice_version: "Notice version", method: "How", client: "Browser", given: "agreed", withdrawn: "withdrew",
    push: "push notifications", account: "Account", minimised: "minimised at the end of retention",
    dropped: "Dropped", search: "a search or a list of members", restricted: "processing restricted",
    restriction_lifted: "restriction lifted", phone_tail: "Last three digits of the phone", present: "Came",
    kind: "Kind", regular: "regular", thematic: "thematic", topic_id: "Topic id", answers: "Answers chosen",
    score: "Right answers (last time)", best_score: "Best right answers", max_score: "Questions", attempts: "Times taken",
    completed_at: "First taken",
    year: "Year", self_assessment: "Self-assessment",
    proposed_level: "You proposed", cell_level: "Your cell proposed", cell_comment: "Your cell's comment",
    decided_level: "Level decided", excellent: "Completed tasks excellently", good: "Completed tasks well",
    done: "Completed tasks", not_done: "Did not complete tasks", reviews: "yearly reviews",
    yearly_review: "the yearly review", male: "Male", female: "Female", gender: "Gender",
    temporary_until: "Attending the temporary cell until", restricted_at: "Processing restricted since",
    unit_path: "Place in the organisation", committee: "Committee" },
};
const heldWord = (code) => (HELD_WORDS[Sotay.lang] || {})[code] || HELD_WORDS.vi[code] || code;
// A value as a person reads it: dates dd/mm/yyyy (with the time when there is one), yes/no, lists joined.
function readable(key, value) {
  if (value == null || value === "") return "—";
  if (typeof value === "boolean") return Sotay.lang === "vi" ? (value ? "Có" : "Không") : (value ? "Yes" : "No");
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T/.test(value)) return when(value);
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) return Sotay.date(value);
  if (key === "phone") return Sotay.phone(value);
  if (Array.isArray(value)) return value.map((v) => readable(key, v)).join(", ");
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => `${heldWord(k)}: ${readable(k, v)}`).join("; ");
  return ["status", "what", "purpose", "role", "actor_role", "platform", "match_result", "action", "source",
    "method", "proposed_level", "cell_level", "decided_level", "gender", "kind"].includes(key)
    ? heldWord(String(value)) : String(value);
}

async function showMyData() {
  const draw = drawer();
  const answers = await Promise.all(SERVICES.map((s) => Sotay.json(`/api/${s}/v1/me/data`)));
  const file = JSON.stringify({ requested_at: new Date().toISOString(), services: answers }, null, 2);
  const download = el("button", { id: "download-my-data", class: "secondary", onclick: () => {
    const a = el("a", { href: URL.createObjectURL(new Blob([file], { type: "application/json" })),
      download: `du-lieu-cua-toi-${Sotay.date(new Date().toISOString()).replace(/\//g, "-")}.json` });
    document.body.append(a); a.click(); a.remove();
  } }, t("my_data_download"));
  if (!draw(el("section", { class: "card" }, el("h2", {}, t("my_data")), el("p", {}, t("my_data_note")), el("p", {}, download)),
    ...answers.map((answer) => el("section", { class: "card my-data", "data-service": answer.service },
      el("h2", {}, t(`svc_${answer.service}`)),
      ...Object.entries(answer.parts).flatMap(([part, rows]) => [el("h3", {}, t(`p_${part}`)),
        rows.length ? el("ul", { class: "held", "data-part": part }, ...rows.map((row) => el("li", {},
          el("dl", { class: "record fit" }, ...Object.entries(row).flatMap(([k, v]) => [el("dt", {}, heldWord(k)),
            el("dd", UNIT_KEYS.includes(k) && v ? { "data-unit": v } : k === "unit_path" && v ? { "data-path": v } : {},
              readable(k, v))])))))
          : el("p", { class: "muted" }, t("nothing_held"))]))))) return;
  // Units by name, not by code (the org tree's, as the record shows them); a place in the tree as
  // the names of the units from the city down.
  for (const dd of view().querySelectorAll("dd[data-unit]")) {
    Sotay.orgUnit(dd.dataset.unit).then((u) => { if (u) dd.textContent = u.name; });
  }
  for (const dd of view().querySelectorAll("dd[data-path]")) {
    const codes = dd.dataset.path.split("/").filter(Boolean);
    Promise.all(codes.map((code) => Sotay.orgUnit(code))).then((units) => {
      if (units.every(Boolean)) dd.textContent = units.map((u) => u.name).join(" › ");
    });
  }
}
const UNIT_KEYS = ["unit", "unit_id", "temporary_unit_id", "to_unit", "decided_unit", "committee"];

async function route() {
  $("error").textContent = "";
  const [name, id] = (location.hash.slice(1) || "feed").split("/");
  const mine = ++routed;
  try {
    if (name === "article" && id) await showArticle(id);
    else if (fromDevice && name !== "feed") notKept();
    else if (name === "meetings") await showMeetings();
    else if (name === "study" && id) await showTopic(id);
    else if (name === "study") await showStudy();
    else if (name === "profile") await showProfile();
    else if (name === "notices") await showNotices();
    else if (name === "mydata") await showMyData();
    else if (name === "review") await showReview();
    else await showFeed();
    if (!fromDevice && name !== "notices") showUnseen();
  } catch (err) {
    if (mine !== routed) return;  // a view the member has left: its failure is not theirs to read
    if (fromDevice === "updating") notKept(); else $("error").textContent = Sotay.explain(err);
  }
}

// The page in the other language, in place: the view is drawn again, and what was typed in it
// (and which field had the focus) is put back.
async function redraw() {
  SotayPush.language(Sotay.lang);
  if (!$("welcome").hidden) await showSignupNotice();
  if (view().hidden) return;
  const typed = [...view().querySelectorAll("input, textarea, select")].filter((i) => i.id)
    .map((i) => [i.id, i.value]);
  const mine = [typed, document.activeElement && document.activeElement.id];
  carried = mine;
  await route();
  // Only what this redraw carried: a redraw begun since (a second switch) carries its own.
  if (carried === mine) carried = null;
}

async function signedIn() {
  $("welcome").hidden = true; $("view").hidden = false; $("nav").hidden = false; $("signout").hidden = false;
  window.addEventListener("hashchange", route);
  fromDevice = null;
  sendWaitingReads();
  window.addEventListener("online", sendWaitingReads);
  SotayPush.language(Sotay.lang);
  // A push arriving while the page is open (web/sw.js tells it): the menu's count follows.
  if (navigator.serviceWorker) {
    navigator.serviceWorker.addEventListener("message", (e) => { if (e.data && e.data.type === "notice") showUnseen(); });
  }
  await route();
  $("offline").hidden = true;  // what the device kept is replaced by now
  await askForConsent();
}

// A member whose account has no consent to the current notice's required purpose (registered by a
// client that sent none, or before a new version) is asked, above every page, until they give it.
async function askForConsent() {
  const mine = await Sotay.json("/api/identity/v1/me/consents").catch(() => null);  // staff: no record
  const needed = mine && !mine.closure_requested
    && mine.purposes.some((p) => p.required && !(p.given && p.notice_version === mine.notice_version));
  $("consent-needed").hidden = !needed;
  if (needed) {
    $("consent-needed").replaceChildren(`${t("consent_needed")} `,
      el("a", { href: "#profile", class: "target", onclick: () => setTimeout(() => $("consents")?.scrollIntoView(), 500) },
        t("consent_needed_link")), ".");
  }
}

// A refused sign-in of someone whose registration is still waiting (or was rejected): say where it stands.
async function refused(card, password) {
  try {
    const reg = await Sotay.json("/api/identity/v1/registrations/status", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ party_card_no: card, password }) });
    if (reg.status === "pending") return t("reg_pending").replace("{d}", Sotay.date(reg.submitted_at));
    if (reg.status === "rejected") return reg.reason ? t("reg_rejected").replace("{r}", reg.reason) : t("reg_rejected_no_reason");
  } catch (err) {
    if (err.code !== "registration_not_found") return Sotay.explain(err);
  }
  return null;
}

// The sign-up's privacy notice, folded, and a box to tick for each of its purposes, none ticked
// beforehand (what the person ticked stays ticked when the language changes; `again`: the notice
// changed since it was read, so it is fetched anew and nothing stays ticked).
async function showSignupNotice(again = false) {
  const box = $("su-purposes");
  const ticked = again ? new Set() : new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  try {
    await currentNotice(again);
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, t("notice_unavailable")));
    return;
  }
  $("su-notice-text").replaceChildren(...noticeNodes(inLang(notice.text)));
  box.replaceChildren(...notice.purposes.map((p) => {
    const tick = el("input", { type: "checkbox", id: `su-purpose-${p.code}`, name: "purpose", value: p.code,
      ...(p.required ? { "aria-required": "true" } : {}) });
    tick.checked = ticked.has(p.code);  // as ticked, never by default (a reset of the form unticks it)
    return el("label", { class: "check" }, tick, el("span", {}, inLang(p.label), " ", mark(p)));
  }));
}

const signup = $("signup-form");
// A field's input; the consent's errors go by the required purpose's box (the first one).
const signupInput = (field) => (String(field).startsWith("consent")
  ? signup.querySelector("#su-purposes input[aria-required]") || $("su-purposes")
  : signup.querySelector(`[name="${String(field).split(".")[0]}"]`));
Sotay.sending(signup, async (key) => {
  $("signup-error").textContent = ""; $("signup-done").textContent = "";
  Sotay.clearFieldErrors(signup);
  const shown = await currentNotice();
  const form = new FormData(signup);
  const purposes = form.getAll("purpose");
  form.delete("purpose");
  const body = { ...Object.fromEntries(form.entries()), platform: platform(),
                 consent: { notice_version: shown.version, purposes } };
  const born = Sotay.isoDate(body.date_of_birth);
  if (body.date_of_birth && !born) {
    throw Object.assign(new Error("date"), { problem: { errors: [{ field: "date_of_birth", reason: DATE_REASON }] } });
  }
  body.date_of_birth = born || body.date_of_birth;
  const registered = await Sotay.post("/api/identity/v1/registrations", body, key);
  signup.reset();
  $("signup-done").textContent = t("signed_up");
  if (purposes.includes("push")) await offerToTell(registered.id);  // only to one who agreed to push
}, async (err) => {
  const errors = (err.problem && err.problem.errors) || [];
  if (errors.some((x) => x.field === "consent.notice_version")) await showSignupNotice(true);
  failed(signup, err, $("signup-error"), signupInput);
});
// Asked for when the sign-up is shown (a member signed in never waits on it).
new MutationObserver(() => { if (!$("welcome").hidden) showSignupNotice(); })
  .observe($("welcome"), { attributes: true, attributeFilter: ["hidden"] });

// After registering: this device may be told of the cell's decision (before there is an account to
// sign in to). Content learns of the registration from identity's event a moment later: a refusal
// for an id it does not know yet is tried again.
async function offerToTell(registrationId) {
  const box = $("signup-tell");
  box.replaceChildren();
  if (!registrationId || !(await SotayPush.available())) return;
  const status = el("p", { role: "status", class: "notice" });
  const button = el("button", { type: "button", class: "secondary", id: "tell-me" }, t("tell_me"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await SotayPush.enable(async (subscription) => {
        for (let attempt = 0; ; attempt += 1) {
          try {
            return (await Sotay.post(`/api/content/v1/registrations/${registrationId}/push-subscriptions`, subscription)).id;
          } catch (err) {
            if (err.code !== "registration_not_found" || attempt >= 5) throw err;
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      });
      button.hidden = true;
      status.textContent = t("told_later");
    } catch (err) {
      status.textContent = err.code === "push_denied" ? t("push_denied") : Sotay.explain(err);
      button.disabled = false;
    }
  });
  box.replaceChildren(el("p", {}, button), status);
}
Sotay.start(signedIn, { language: redraw, refused, reset: "/reset.html", kept });
