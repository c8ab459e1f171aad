"""Telethon's own QR login against the simulator, for scripts/sim-reference.sh.

Runs against `sim serve --qr-auto-accept SECS` with a session that is not logged in: exports a login
token with Telethon's `client.qr_login()`, replaces it at once with `recreate()` (as a client does
when a code expires; the first token's auto-accept must then find nothing to accept), waits with
`QRLogin.wait()` for `updateLoginToken`, which Telethon follows itself: `auth.exportLoginToken`
again, `auth.loginTokenMigrateTo` -> `_switch_dc` + `auth.importLoginToken` when the account lives
on another DC, and `SESSION_PASSWORD_NEEDED` -> `client.sign_in(password=…)` when it has a 2FA
password. Then `get_me()` must be the expected user, and the replaced first token must be refused
by `auth.importLoginToken`. Prints one JSON line: user_id, dc, migrated, password, first_token.

One thing is given to Telethon: the key on the DC it moves to. Telethon's `_switch_dc` drops the
key and makes a new one by DH, which needs Telegram's RSA keys; the simulator keys every DC alike,
so the patched `_switch_dc` keeps the session's key. The rest of the move is Telethon's own.

Usage: python telethon_qr.py STRING_SESSION_FILE EXPECTED_USER_ID [PASSWORD]
"""

import asyncio
import json
import sys

from telethon import TelegramClient, errors, functions, utils
from telethon.sessions import StringSession


async def switch_dc_keeping_key(self, new_dc):
    """Telethon's `_switch_dc` without dropping the auth key (see above)."""
    dc = await self._get_dc(new_dc)
    await utils.maybe_async(self.session.set_dc(dc.id, dc.ip_address, dc.port))
    await utils.maybe_async(self.session.save())
    await self._disconnect()
    return await self.connect()


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    expected = int(sys.argv[2])
    password = sys.argv[3] if len(sys.argv) > 3 else None
    TelegramClient._switch_dc = switch_dc_keeping_key
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    await client.connect()
    try:
        assert not await client.is_user_authorized(), "the session must start logged out"
        start_dc = client.session.dc_id
        qr = await client.qr_login()
        first = qr.token
        await qr.recreate()
        assert qr.token != first, "recreate() must give a new token"
        asked_password = False
        try:
            await qr.wait(timeout=30)
        except errors.SessionPasswordNeededError:
            assert password, "the simulator asked for a 2FA password the account does not have"
            asked_password = True
            await client.sign_in(password=password)
        me = await client.get_me()
        assert me is not None and me.id == expected, f"logged in as {me and me.id}, expected {expected}"
        try:
            await client(functions.auth.ImportLoginTokenRequest(first))
            first_token = "accepted"
        except (errors.AuthTokenExpiredError, errors.AuthTokenInvalidError) as e:
            first_token = type(e).__name__
        assert first_token != "accepted", "the replaced token was imported"
        print(
            json.dumps(
                {
                    "user_id": me.id,
                    "dc": client.session.dc_id,
                    "migrated": client.session.dc_id != start_dc,
                    "password": asked_password,
                    "first_token": first_token,
                }
            ),
            flush=True,
        )
    finally:
        await client.disconnect()


asyncio.run(main())
