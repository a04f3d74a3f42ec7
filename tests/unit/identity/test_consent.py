"""The consent rules of identity's domain (issue 19): what a registrant's consent must hold, the
notice's purposes and texts, and the few words a user agent is kept as."""

from __future__ import annotations

import pytest

from services.identity import domain
from services.identity.adapters import notices


def test_a_consent_needs_the_current_notice_and_every_required_purpose():
    assert domain.consent_problems(1, ["account"]) == []
    assert domain.consent_problems(1, ["account", "push"]) == []
    assert domain.consent_problems(1, []) == [("purposes", "must include the required purpose: account")]
    assert domain.consent_problems(1, ["push", "sms"]) == [
        ("purposes", "is not a purpose of the notice: sms"), ("purposes", "must include the required purpose: account")]
    assert domain.consent_problems(0, ["account"]) == [
        ("notice_version", "is not the current notice (version 1): read it again")]


def test_every_version_has_its_texts_in_both_languages_and_a_required_purpose():
    for notice in domain.NOTICES:
        assert notice.required and len(set(notice.codes)) == len(notice.codes)
        texts = {language: notices.text(notice.version, language) for language in notices.LANGUAGES}
        assert all(f"{notice.version}" in t and "91/2025/QH15" in t for t in texts.values())
        assert notice.published_on.strftime("%d/%m/%Y") in texts["vi"]  # the date as people here write it
    assert domain.ACCOUNT_PURPOSE in domain.CURRENT_NOTICE.required


@pytest.mark.parametrize(("agent", "said"), [
    ("Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 "
     "Mobile Safari/537.36", "Chrome 120, Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
     "Mobile/15E148 Safari/604.1", "Safari 17, iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
     "Safari/537.36 Edg/120.0.2210.91", "Edge 120, Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) coc_coc_browser/117.0.188 "
     "Chrome/111.0.0.0 Safari/537.36", "Cốc Cốc 117, Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox 121, Linux"),
    ("curl/8.5.0", "?, ?"), (None, "?, ?"), ("Chrome/" + "9" * 5000, "Chrome, ?"),
])
def test_a_user_agent_is_kept_as_a_few_words(agent, said):
    assert domain.client_summary(agent) == said
