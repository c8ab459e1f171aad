"""Telethon's view of every post's media, for scripts/sim-reference.sh.

Reads each channel whole and prints one JSON line per message with media, in the shape of
`tgsift sim serve --media-out`, using only Telethon's own high-level accessors (`message.photo`,
`message.document`, `message.file`, `message.voice`, `message.sticker`, `message.video`,
`message.audio`, `message.poll`, `message.geo`, `message.contact`, `message.web_preview`), so the
simulator's objects are read the way a Python user of Telethon reads Telegram's. A media kind
Telethon does not recognise is printed with kind "unknown:<constructor>".

Usage: python telethon_media.py STRING_SESSION_FILE @channel…
"""

import asyncio
import json
import sys

from telethon import TelegramClient
from telethon.sessions import StringSession


def kind_of(m) -> str:
    """The kind as `--media-out` names it, from Telethon's accessors (most specific first)."""
    if m.poll:
        return "poll"
    if m.geo:
        return "geo"
    if m.contact:
        return "contact"
    if m.web_preview:
        return "web_page"
    if m.sticker:
        return "sticker"
    if m.voice:
        return "voice"
    if m.audio:
        return "audio"
    if m.video:
        return "video"
    if m.photo:
        return "photo"
    if m.document:
        return "document"
    return "unknown:" + type(m.media).__name__


def seconds(d):
    """Telethon gives a video's duration as a float (layer 229 has a double): whole seconds as int."""
    if isinstance(d, float) and d.is_integer():
        return int(d)
    return d


def line(m) -> dict:
    f = m.file
    file = m.photo or m.document
    return {
        "channel": m.peer_id.channel_id,
        "message_id": m.id,
        "kind": kind_of(m),
        "mime": f.mime_type if f else None,
        "size": f.size if f else None,
        "file_name": f.name if f else None,
        "width": f.width if f else None,
        "height": f.height if f else None,
        "duration": seconds(f.duration) if f else None,
        "file_id": file.id if file else 0,
        "dc_id": file.dc_id if file else 0,
    }


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    await client.connect()
    try:
        for channel in sys.argv[2:]:
            async for m in client.iter_messages(channel, wait_time=0):
                if m.action is None and m.media is not None:
                    print(json.dumps(line(m), ensure_ascii=False), flush=True)
    finally:
        await client.disconnect()


asyncio.run(main())
