"""Notifications in the handbook (issue 18): the inbox with what content told the member, their
choices, push turned on for this device and a push received, and a registrant told of the
decision on the device they registered from. The browser's push service is a local one standing
in for the gateway (tests/support/push.py): the page's subscription names it (Chromium's own
would reach Google), content sends to it encrypted and signed, the test decrypts what arrived as
the browser would and hands it to the handbook's service worker, which shows it."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import handbook_system, publish_article, screenshot
from tests.browser.test_handbook import (
    PASSWORD,
    member_account,
    no_english,
    sign_in,
    small_targets,
)
from tests.support.push import vapid_claims
from tests.support.system import eventually, real_server

pytestmark = pytest.mark.integration

# The page's PushManager answers with the local push service's subscription (Chromium's would be
# FCM's, out of reach here); everything else (permission, the service worker) is the browser's.
FAKE_PUSH = """(() => {
  const subscription = SUBSCRIPTION;
  let current = null;
  const fake = { endpoint: subscription.endpoint, toJSON: () => subscription,
                 unsubscribe: async () => { current = null; window.__unsubscribed = true; return true; } };
  PushManager.prototype.subscribe = async function (options) {
    window.__serverKey = Array.from(new Uint8Array(options.applicationServerKey)).length;
    current = fake; return fake;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();"""


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url, push_service):
    async with handbook_system(data_dir, nats_url, database_url, push_hosts="127.0.0.1",
                               push_allow_networks="127.0.0.1/32") as system:
        yield system


async def phone_with_push(browser, base: str, device) -> tuple:
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
    await context.grant_permissions(["notifications"], origin=base)
    await context.add_init_script(script=FAKE_PUSH.replace("SUBSCRIPTION", json.dumps(device.subscription())))
    page = await context.new_page()
    await page.goto(f"{base}/")
    await page.evaluate("() => navigator.serviceWorker.ready")
    return context, page


async def subscriptions(system, endpoint: str) -> list[tuple]:
    async with system.runtimes["content"].context.engine.connect() as db:
        return (await db.execute(text("SELECT account_id, registration_id FROM push_subscriptions "
                                      "WHERE endpoint = :e"), {"e": endpoint})).all()


async def test_the_inbox_says_what_was_told_in_vietnamese_and_the_member_chooses(system, browser):
    await member_account(system, "010000001", "Nguyễn Văn An")
    aid = await publish_article(system, "Hướng dẫn học tập Nghị quyết", "Tóm tắt.", "Nội dung.")
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await sign_in(page, base, "010000001")
        # The menu counts what is not seen: the approval of the account and the article.
        await expect(page.locator("#notice-count")).to_have_text("2")
        await page.click('a[href="#notices"]')
        items = page.locator("ul.notices li")
        await expect(items).to_have_count(2)
        await expect(items.nth(0)).to_contain_text("Tin mới: Hướng dẫn học tập Nghị quyết")
        await expect(items.nth(1)).to_contain_text("Tài khoản của đồng chí đã được chi bộ phê duyệt")
        await expect(items.nth(0).locator(".badge")).to_have_text("Mới")
        await expect(page.locator("#notice-count")).to_be_hidden()  # seen now
        await no_english(page)
        assert await small_targets(page) == []
        await screenshot(page, "handbook-notices")

        # No articles, thank you: saved at once, and said.
        await page.uncheck("#choice-articles")
        await expect(page.locator("#choices-done")).to_have_text("Đã lưu.")
        chosen = await system.client.get("/api/content/v1/notices/choices",
                                         headers=system.auth("member", "ba-dinh-g1-c1", card="010000001",
                                                             subject=await account_of(system, "010000001")))
        assert chosen.json()["articles"] is False
        await page.reload()
        await page.click('a[href="#notices"]')
        await expect(page.locator("ul.notices li")).to_have_count(1)
        await expect(page.locator("#choice-articles")).not_to_be_checked()

        # A notice opens what it is about.
        await page.check("#choice-articles")
        await expect(page.locator("#choices-done")).to_have_text("Đã lưu.")
        await page.reload()
        await page.click('a[href="#notices"]')
        await page.click(f'ul.notices a[href="#article/{aid}"]')
        await expect(page.locator("#article-title")).to_have_text("Hướng dẫn học tập Nghị quyết")
        await context.close()


async def _none(rows) -> bool:
    return await rows == []


async def account_of(system, card: str) -> str:
    async with system.runtimes["identity"].context.engine.connect() as db:
        return str((await db.execute(text("SELECT id FROM accounts WHERE party_card_no = :c"), {"c": card})).scalar())


async def test_a_member_turns_push_on_and_the_device_shows_a_new_article(system, browser, push_service):
    await member_account(system, "010000003", "Lê Văn Cường")
    device = push_service.browser()
    async with real_server(system) as base:
        context, page = await phone_with_push(browser, base, device)
        await sign_in(page, base, "010000003")
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        await page.click('a[href="#notices"]')
        await expect(page.locator("#push-status")).to_have_text(
            "Máy này chưa nhận thông báo. Đồng chí vẫn xem được mọi thông báo ở trang này.")
        await page.click("#push-toggle")
        await expect(page.locator("#push-status")).to_contain_text("Máy này đang nhận thông báo")
        assert await page.evaluate("() => window.__serverKey") == 65  # the VAPID public key, as the browser takes it
        assert len(await subscriptions(system, device.endpoint)) == 1
        await no_english(page)
        await screenshot(page, "handbook-notices-push-on")

        aid = await publish_article(system, "Lịch tiếp công dân tháng 12", "Tóm tắt.", "Nội dung.")
        # (The account's approval, a moment old, may reach the device too.)
        [push] = await eventually(lambda: [p for p in push_service.pushes_to(device)
                                           if device.read(p)["kind"] == "article"], timeout=20)
        payload = device.read(push)
        assert payload["ref"] == aid and set(payload) == {"id", "kind", "ref", "title"}
        key = (await system.client.get("/api/content/v1/push/key")).json()["public_key"]
        assert vapid_claims(push, key)["aud"] == push_service.origin

        # What the browser's push service would hand the service worker: it shows it, in Vietnamese.
        cdp = await context.new_cdp_session(page)
        registrations: list[dict] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
        await cdp.send("ServiceWorker.enable")
        await eventually(lambda: [r for r in registrations if not r["isDeleted"]])
        registration = next(r for r in registrations if not r["isDeleted"])
        await cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": base, "registrationId": registration["registrationId"], "data": json.dumps(payload)})
        shown = await eventually(lambda: page.evaluate(
            "async () => (await (await navigator.serviceWorker.ready).getNotifications())"
            ".map((n) => [n.title, n.body, n.data.url])"), timeout=10)
        assert shown == [["Tin mới", "Lịch tiếp công dân tháng 12", f"/#article/{aid}"]]
        # The open page counts it in its menu at once (the inbox was seen before the article came).
        await expect(page.locator("#notice-count")).to_have_text("1")

        # Signing out: this device is no longer told of this member's notices.
        await page.click("#signout")
        await page.wait_for_function("() => !localStorage.getItem('sotay.push')")
        # (The page forgets the device before content's answer to its DELETE arrives.)
        await eventually(lambda: _none(subscriptions(system, device.endpoint)))
        await context.close()


async def test_a_registrant_is_told_of_the_approval_on_the_device_they_registered_from(system, browser,
                                                                                       push_service):
    device = push_service.browser()
    async with real_server(system) as base:
        context, page = await phone_with_push(browser, base, device)
        await page.fill("#su-card", "010000002")
        await page.fill("#su-name", "Trần Thị Bình")
        await page.fill("#su-born", "01/05/1960")
        await page.fill("#su-phone", "0910000002")
        await page.fill("#su-password", PASSWORD)
        await page.check("#su-purpose-account")
        await page.check("#su-purpose-push")  # the device is offered to be told only to one who agreed to push
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#signup-done")).to_contain_text("đang chờ chi bộ phê duyệt")
        await page.click("#tell-me")
        await expect(page.locator("#signup-tell")).to_contain_text("máy này sẽ nhận được thông báo")
        await no_english(page)
        await screenshot(page, "handbook-registered-tell-me")
        [(account, registration)] = await subscriptions(system, device.endpoint)
        assert account is None and registration is not None

        approved = await system.client.post(f"/api/identity/v1/registrations/{registration}/approve",
                                            headers=system.auth("unit_admin", "ba-dinh"))
        assert approved.status_code == 200, approved.text
        pushes = await eventually(lambda: push_service.pushes_to(device), timeout=20)
        assert device.read(pushes[0])["kind"] == "account_approved"
        # The device is the new account's now.
        [(account, _)] = await subscriptions(system, device.endpoint)
        assert account == approved.json()["account_id"]
        await context.close()
