"""Demo content for `sotay up --demo`: a few city-wide articles written from
the press report the project started from, taken through the real workflow
(an editor writes and submits, a chief editor approves and publishes), the
plan they cite in the documents library, and a study topic on it with a short
quiz (học tập nghị quyết), written by the editor and published by the chief
editor."""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Any

from sqlalchemy import text

from services.content.domain.study import Question
from services.content.handlers import articles, library, study
from sotay.kit.auth import Grant, Principal
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.content.demo")

EDITOR = Principal("demo-editor-city", (Grant("editor", "city"),))
CHIEF = Principal("demo-chief-editor-city", (Grant("chief_editor", "city"),))

ARTICLES = [
    ("Triển khai Sổ tay đảng viên điện tử trong toàn Đảng bộ Thành phố", "news",
     "Ban Thường vụ Thành ủy ban hành **Kế hoạch số 121-KH/TU** ngày 22/12/2022 về triển khai và ứng dụng phần "
     "mềm *Sổ tay đảng viên điện tử* và phần mềm *Điều hành tác nghiệp quản lý đảng viên*.\n\n"
     "9 đơn vị làm điểm triển khai ngay trong tuần cuối tháng 12/2022 và đầu tháng 1/2023; 41 đơn vị còn lại "
     "triển khai từ tháng 4/2023."),
    ("Hướng dẫn cài đặt và đăng ký tài khoản", "guidance",
     "## Các bước\n\n1. Tải ứng dụng *Sổ tay đảng viên* trên điện thoại hoặc mở trang web trên máy tính.\n"
     "2. Đăng ký bằng số thẻ đảng viên, họ tên, ngày sinh và số điện thoại.\n"
     "3. Chờ chi bộ duyệt tài khoản, sau đó đăng nhập.\n\n"
     "Đảng viên vắng mặt tại buổi sinh hoạt chi bộ được tổ hỗ trợ hướng dẫn trực tiếp tại nhà."),
    ("Đọc tin hằng ngày: để Sổ tay thực sự “sống”", "news",
     "Phần mềm chỉ thực sự phát huy hiệu quả khi đảng viên truy cập, đọc tin hằng ngày và nội dung được "
     "biên tập gần gũi, thiết thực với từng chi bộ."),
    ("Hỏi đáp: quên mật khẩu thì làm thế nào?", "qa",
     "Đăng nhập bằng số thẻ đảng viên hoặc số điện thoại. Nếu nhập sai nhiều lần, hệ thống tạm chờ vài giây "
     "trước lần thử tiếp theo, không khóa tài khoản. Liên hệ bí thư chi bộ để được hỗ trợ."),
]


STUDY_TITLE = "Học tập, quán triệt Kế hoạch số 121-KH/TU về Sổ tay đảng viên điện tử"
STUDY_DESCRIPTION = ("Đồng chí đọc Kế hoạch số 121-KH/TU của Ban Thường vụ Thành ủy, rồi làm bài kiểm tra ngắn "
                     "(3 câu) để tự kiểm tra mức độ nắm nội dung. Đồng chí làm lại được; điểm cao nhất được ghi nhận.")
QUIZ = [
    Question("Kế hoạch số 121-KH/TU được ban hành ngày nào?", ("22/12/2022", "01/02/2023", "30/6/2023"), 0,
             "Ban Thường vụ Thành ủy ban hành Kế hoạch số 121-KH/TU ngày 22/12/2022."),
    Question("Có bao nhiêu đơn vị làm điểm triển khai Sổ tay đảng viên điện tử?",
             ("5 đơn vị", "9 đơn vị", "50 đơn vị"), 1,
             "9 đơn vị làm điểm từ cuối tháng 12/2022; 41 đơn vị còn lại triển khai từ tháng 4/2023."),
    Question("Sau khi đăng ký tài khoản, đảng viên cần làm gì?",
             ("Đăng nhập ngay", "Chờ chi bộ phê duyệt tài khoản rồi đăng nhập", "Đăng ký lại lần nữa"), 1,
             "Chi bộ đối chiếu với hồ sơ đảng viên và phê duyệt tài khoản; sau đó đồng chí đăng nhập."),
]


PLAN_TEXT = "Kế hoạch số 121-KH/TU ngày 22/12/2022 (bản tóm tắt cho bản demo).\n".encode()


async def load_demo_content(ctx: ServiceContext, *, wait_s: float = 120.0) -> dict[str, Any]:
    """Once the org tree has reached content (from members events), publish the demo articles."""
    async with ctx.engine.connect() as db:
        if (await db.execute(text("SELECT EXISTS (SELECT 1 FROM articles)"))).scalar_one():
            return {"loaded": False, "reason": "there are articles already"}
    for _ in range(int(wait_s * 2)):
        async with ctx.engine.connect() as db:
            if (await db.execute(text("SELECT EXISTS (SELECT 1 FROM org_units WHERE code = 'city')"))).scalar_one():
                break
        await asyncio.sleep(0.5)
    else:
        return {"loaded": False, "reason": "the org tree did not reach content"}
    async with ctx.engine.begin() as db:
        plan = await library.add(db, EDITOR, library.DocumentInput(
            kind="other", title="Kế hoạch triển khai và ứng dụng phần mềm Sổ tay đảng viên điện tử",
            number="121-KH/TU", issued_on=date(2022, 12, 22), issuing_body="Ban Thường vụ Thành ủy Hà Nội", unit=None,
            filename="ke-hoach-121-KH-TU.txt", size=len(PLAN_TEXT), read=library.reading(PLAN_TEXT)))
        for title, category, body in ARTICLES:
            article = await articles.create(db, EDITOR, articles.Draft(
                title=title, summary=None, body=body, body_format="markdown", category=category, tags=["sổ tay"],
                audience=["city"], attachments=[str(plan["id"])] if "121-KH/TU" in body else [], unit=None))
            await articles.submit(db, EDITOR, article["id"])
            await articles.approve(db, CHIEF, article["id"], None)
            await articles.publish(db, CHIEF, article["id"], None, None)
        topic = await study.create(db, EDITOR, study.TopicInput(
            title=STUDY_TITLE, description=STUDY_DESCRIPTION, documents=[str(plan["id"])], questions=QUIZ,
            audience=["city"], unit=None))
        await study.publish(db, CHIEF, topic["id"])
    log.info("demo: %d articles and a study topic published", len(ARTICLES))
    return {"loaded": True, "articles": len(ARTICLES), "documents": 1, "study_topics": 1}
