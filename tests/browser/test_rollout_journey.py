"""The journey the issue names, all in pages of a real browser: a member
signs up in the handbook; the secretary of their cell approves them in the
approval console; the dashboard, open in another page all along, shows the
sign-up and then the approval without a reload; the member signs in and
reads an article, and readers today goes up. An approver of another cell
sees nothing of it and cannot decide it. Screenshots of each page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from services.identity.adapters.passwords import HASHER
from services.identity.handlers.accounts import create_user
from tests.browser.conftest import (
    ADMIN_CARD,
    ADMIN_PASSWORD,
    publish_article,
    screenshot,
    sign_in_as,
    tile,
    until_tile,
)
from tests.support.system import real_server

pytestmark = pytest.mark.integration

SECRETARY_CARD, SECRETARY_PASSWORD = "010000003", "Bi thu chi bo so mot"
MEMBER = {"card": "010000002", "name": "Trần Thị Bình", "born": "1960-05-01", "phone": "0910000002",
          "password": "Doc tin moi ngay nhe"}


async def sign_in(page, base: str, path: str, card: str, password: str) -> None:
    await page.goto(f"{base}{path}")
    await page.fill("#card", card)
    await page.fill("#password", password)
    await page.click("#signin-form button[type=submit]")


async def test_sign_up_approval_and_reading_show_live_on_the_dashboard(system, browser):
    c = system.client
    async with system.runtimes["identity"].context.engine.begin() as db:
        await create_user(db, card_no=SECRETARY_CARD, card_hash=system.runtimes["identity"].context.pii_hash(SECRETARY_CARD),
                          phone="0910000003", password_hash=HASHER.hash(SECRETARY_PASSWORD),
                          role="cell_secretary", unit="ba-dinh-g1-c1", by="test")
    aid = await publish_article(system, "Hội nghị quán triệt Nghị quyết", "Tin của Thành ủy.",
                                "Sáng nay, Thành ủy tổ chức **hội nghị** quán triệt.")

    async with real_server(system) as base:
        leader = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await sign_in(leader, base, "/dashboard", ADMIN_CARD, ADMIN_PASSWORD)
        await leader.wait_for_selector("#live:not(.off)")
        before = {f: int(await tile(leader, f)) for f in ("accounts_installed", "accounts_pending",
                                                          "accounts_approved", "readers_today")}

        # The member signs up in the handbook.
        member = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
        await member.goto(f"{base}/")
        await screenshot(member, "handbook-welcome")
        await member.fill("#su-card", MEMBER["card"])
        await member.fill("#su-name", MEMBER["name"])
        await member.fill("#su-born", MEMBER["born"])
        await member.fill("#su-phone", MEMBER["phone"])
        await member.fill("#su-password", MEMBER["password"])
        await member.check("#su-purpose-account")
        await member.click("#signup-form button[type=submit]")
        await member.wait_for_selector("#signup-done:has-text('chờ chi bộ phê duyệt')")
        await until_tile(leader, "accounts_installed", str(before["accounts_installed"] + 1))
        await until_tile(leader, "accounts_pending", str(before["accounts_pending"] + 1))

        # Another cell's approver sees nothing of it, and the API refuses them too.
        outsider = await (await browser.new_context()).new_page()
        await sign_in_as(outsider, system, base, "unit_admin", "tay-ho", "/console/approvals")
        await outsider.wait_for_selector("#error:not(:empty), #registrations tbody tr")
        assert MEMBER["card"] not in await outsider.locator("#registrations").inner_text()

        # The secretary of the member's cell approves them in the console.
        secretary = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await sign_in(secretary, base, "/console/approvals", SECRETARY_CARD, SECRETARY_PASSWORD)
        waiting = secretary.locator(f'#registrations tr[data-card="{MEMBER["card"]}"]')
        await waiting.wait_for()
        assert "Khớp hồ sơ" in await waiting.locator(".match").inner_text()
        reg_id = await waiting.get_attribute("data-id")
        refused = await c.post(f"/api/identity/v1/registrations/{reg_id}/approve",
                               headers=system.auth("unit_admin", "tay-ho"))
        assert refused.status_code in (403, 404)
        await screenshot(secretary, "console-approvals")
        await waiting.locator("button.approve").click()
        # The row stays, showing its new state (issue 18).
        await secretary.wait_for_selector(f'#registrations tr[data-card="{MEMBER["card"]}"][data-state="approved"]')
        await until_tile(leader, "accounts_pending", str(before["accounts_pending"]))
        await until_tile(leader, "accounts_approved", str(before["accounts_approved"] + 1))

        # The member signs in, reads the article, and readers today goes up.
        await sign_in(member, base, "/", MEMBER["card"], MEMBER["password"])
        story = member.locator(f'article.news[data-id="{aid}"]')
        await story.wait_for()
        assert "unread" in (await story.get_attribute("class"))
        await screenshot(member, "handbook-feed")
        await story.locator("h3 a").click()
        await member.wait_for_selector("#article-title:has-text('Hội nghị quán triệt')")
        assert "hội nghị" in await member.locator(".article-body strong").inner_text()
        await screenshot(member, "handbook-article")
        await until_tile(leader, "readers_today", str(before["readers_today"] + 1))
        await screenshot(leader, "dashboard-after-journey")
        await member.click("a[href='#feed']")
        await member.wait_for_selector(f'article.news[data-id="{aid}"]:not(.unread)')

        # Feedback under the article, the cell's meeting, and a correction of the member's record.
        await member.goto(f"{base}/#article/{aid}")
        await member.fill("#feedback-body", "Đề nghị gửi thêm tài liệu hội nghị.")
        await member.click("#feedback-form button[type=submit]")
        await member.wait_for_selector("#feedback-done:has-text('Đã gửi')")
        starts = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        called = await c.post("/api/content/v1/meetings", headers=system.auth("cell_secretary", "ba-dinh-g1-c1"),
                              json={"cell": "ba-dinh-g1-c1", "starts_at": starts, "place": "Hội trường phường",
                                    "agenda": "Sinh hoạt chuyên đề tháng 12"})
        assert called.status_code == 201, called.text
        await member.click("a[href='#meetings']")
        meeting = member.locator(f'article.meeting[data-id="{called.json()["id"]}"]')
        await meeting.locator("button", has_text="Tôi sẽ tham dự").click()
        await meeting.locator("[role=status]", has_text="đã báo tham dự").wait_for()
        await screenshot(member, "handbook-meetings")
        roll = (await c.get(f"/api/content/v1/meetings/{called.json()['id']}/attendance",
                            headers=system.auth("cell_secretary", "ba-dinh-g1-c1"))).json()
        assert [m["attending"] for m in roll["members"] if m["full_name"] == MEMBER["name"]] == [True]
        await member.click("a[href='#profile']")
        await member.wait_for_selector(f"dl.record:has-text('{MEMBER['card']}')")
        await member.select_option("#corr-field", "phone")
        await member.fill("#corr-value", "0988000002")
        await member.click("#correction-form button[type=submit]")
        await member.wait_for_selector("#correction-done:has-text('Đề nghị đã được gửi')")
        await screenshot(member, "handbook-profile")
        requests = (await c.get("/api/members/v1/corrections", headers=system.auth("unit_admin", "ba-dinh"))).json()
        assert any(r["changes"] == {"phone": "0988000002"} for r in requests["items"]), requests

        for page in (leader, member, outsider, secretary):
            await page.context.close()
        async with system.runtimes["identity"].context.engine.connect() as db:
            status = (await db.execute(text("SELECT status FROM registrations WHERE id = :i"), {"i": reg_id})).scalar()
        assert status == "approved"
