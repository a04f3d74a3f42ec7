"""The SQL of what identity holds about one account (a data subject's access request). Secrets
stay out (password hashes, refresh and reset code hashes, addresses' hashes): the member is told
that they exist and when they were used, not their values."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import rows_of

PARTS: dict[str, str] = {
    "account": "SELECT id, member_id, party_card_no, phone, platform, unit, status, registration_id, created_at, "
               "activated_at, disabled_reason FROM accounts WHERE id = :account",
    "registrations": "SELECT id, party_card_no, full_name, date_of_birth, phone, platform, match_result, unit, status, "
                     "reason, decided_at, submitted_at FROM registrations WHERE party_card_no = "
                     "(SELECT party_card_no FROM accounts WHERE id = :account) ORDER BY submitted_at",
    "roles": "SELECT role, unit, granted_at FROM grants WHERE account_id = :account ORDER BY granted_at",
    "sign_ins": "SELECT issued_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE account_id = :account "
                "ORDER BY issued_at",
    "password_reset_codes": "SELECT issued_at, expires_at, used_at, voided_at FROM password_reset_codes "
                            "WHERE account_id = :account ORDER BY issued_at",
    "known_addresses": "SELECT last_ok_at FROM known_addresses WHERE account_id = :account ORDER BY last_ok_at",
    # Of the person only keyed hashes (not readable, so not shown) and the phone's last digits.
    "registry_copy": "SELECT member_id, unit, status, eligible, phone_tail FROM registry_members "
                     "WHERE member_id = (SELECT member_id FROM accounts WHERE id = :account)",
    # The consent ledger of the account's registrations: each giving and withdrawal (the address's hash left out).
    "consents": "SELECT at, action, purpose, notice_version, method, client FROM consents WHERE registration_id IN "
                "(SELECT id FROM registrations WHERE party_card_no = (SELECT party_card_no FROM accounts "
                "WHERE id = :account)) ORDER BY at, purpose",
    # What staff did to the account or its registrations (approvals, roles, reset codes), by whom in role.
    "audit": "SELECT at, action, reason FROM audit_log WHERE target = :account_text OR target IN "
             "(SELECT CAST(id AS text) FROM registrations WHERE party_card_no = "
             "(SELECT party_card_no FROM accounts WHERE id = :account)) ORDER BY at",
}


async def everything(db: AsyncConnection, account: Any) -> dict[str, list[dict[str, Any]]]:
    """`account`: the account's id (a uuid), or None for a token that is not an account's."""
    if account is None:
        return {name: [] for name in PARTS}
    return await rows_of(db, PARTS, {"account": account, "account_text": str(account)})
