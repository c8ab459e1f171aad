"""Telethon's iter_dialogs against the simulator's dialog list (part `dialogs` of sim-reference.sh).

Lists every dialog of the account with Telethon's own paging (iter_dialogs: 100 per request, offset
from the last dialog of each page, exclude_pinned after the first) and compares (kind, id) with the
simulator's --dialogs-out: exactly the same dialogs, none twice, Telethon's total equal to their
number. Also checks that folder=1 lists only archived dialogs and that the broadcast/megagroup flags
Telethon reads agree.

Usage: python telethon_dialogs.py STRING_SESSION_FILE DIALOGS_OUT
"""

import asyncio
import json
import sys

from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl.types import Channel, Chat, User


def kind(entity) -> str:
    if isinstance(entity, Channel):
        return "megagroup" if entity.megagroup else "channel"
    if isinstance(entity, Chat):
        return "chat"
    if isinstance(entity, User):
        return "user"
    raise AssertionError(f"unexpected entity {entity!r}")


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    truth = sorted(
        (d["kind"], d["id"]) for d in map(json.loads, open(sys.argv[2], encoding="utf-8"))
    )
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    await client.connect()
    it = client.iter_dialogs()
    seen = []
    async for d in it:
        seen.append((kind(d.entity), d.entity.id))
    assert len(seen) == len(set(seen)), f"a dialog twice: {len(seen)} listed, {len(set(seen))} distinct"
    assert sorted(seen) == truth, (
        f"missing {sorted(set(truth) - set(seen))[:10]}, extra {sorted(set(seen) - set(truth))[:10]}"
    )
    assert it.total == len(truth), f"total {it.total}, dialogs {len(truth)}"
    archived = [d async for d in client.iter_dialogs(folder=1)]
    assert archived and all(d.archived for d in archived), "folder 1 is the archive"
    main_list = [d async for d in client.iter_dialogs(folder=0)]
    assert len(main_list) + len(archived) == len(truth), "main list and archive split the dialogs"
    print(f"dialogs {len(seen)} archived {len(archived)} total {it.total}")
    await client.disconnect()


asyncio.run(main())
