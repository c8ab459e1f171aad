"""Telethon's downloads of a sample of posts' files, for scripts/sim-reference.sh.

Picks from the simulator's `--media-out` the smallest files of every kind that has one (photo,
video, document, audio, voice, sticker, web page photo; PER_KIND each), plus the smallest
document-like file over 1 MB (several chunks, a 1 MB boundary crossed), fetches those messages and
downloads each with Telethon's own `client.download_media(message, file=bytes)`: Telethon picks the
photo size (the largest of the ladder), the chunk size and the DC, follows FILE_MIGRATE and exports
its authorization to the file's DC itself. Prints one JSON line per file: channel, message_id,
kind, size and the sha256 of what Telethon downloaded; the simulator's `sha256` is not read here.

One thing is given to Telethon: the key of the DC it borrows for files. Telethon makes a new key by
DH on a DC it has none for, which needs Telegram's RSA keys; the simulator has none to offer, so the
borrowed sender gets the key of the session (as `sim serve` keys every DC alike). Exporting and
importing the authorization there is still Telethon's own.

Usage: python telethon_download.py STRING_SESSION_FILE MEDIA_OUT_FILE @channel…
"""

import asyncio
import collections
import hashlib
import json
import sys

import telethon.client.telegrambaseclient as base
from telethon import TelegramClient
from telethon.sessions import StringSession

PER_KIND = 4
FILE_KINDS = ("photo", "video", "document", "audio", "voice", "sticker", "web_page")


def sample(media_out: str) -> list:
    """The posts to download: the smallest PER_KIND files of each kind, and one over 1 MB."""
    rows = [json.loads(line) for line in open(media_out, encoding="utf-8")]
    with_file = [r for r in rows if r["file_id"] != 0]
    by_kind = collections.defaultdict(list)
    for r in with_file:
        by_kind[r["kind"]].append(r)
    picked = []
    for kind in FILE_KINDS:
        picked += sorted(by_kind[kind], key=lambda r: (r["size"], r["message_id"]))[:PER_KIND]
    big = sorted(
        (r for r in with_file if r["kind"] != "photo" and r["size"] > 1_100_000 and r not in picked),
        key=lambda r: (r["size"], r["message_id"]),
    )
    return picked + big[:1]


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    wanted = sample(sys.argv[2])
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")

    plain_sender = base.MTProtoSender

    def keyed_sender(auth_key, *args, **kwargs):
        return plain_sender(auth_key or client.session.auth_key, *args, **kwargs)

    base.MTProtoSender = keyed_sender
    await client.connect()
    try:
        channels = {}
        for name in sys.argv[3:]:
            entity = await client.get_entity(name)
            channels[entity.id] = entity
        for row in wanted:
            entity = channels[row["channel"]]
            message = await client.get_messages(entity, ids=row["message_id"])
            data = await client.download_media(message, file=bytes)
            print(
                json.dumps(
                    {
                        "channel": row["channel"],
                        "message_id": row["message_id"],
                        "kind": row["kind"],
                        "size": len(data) if data is not None else None,
                        "sha256": hashlib.sha256(data).hexdigest() if data is not None else None,
                    }
                ),
                flush=True,
            )
    finally:
        await client.disconnect()


asyncio.run(main())
