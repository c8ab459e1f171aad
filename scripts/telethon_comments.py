"""Telethon's view of the comments under channel posts, for scripts/sim-reference.sh.

For each channel: `GetFullChannelRequest` names the linked discussion group; the newest posts are
read with `iter_messages`, and every post whose `replies` says it has comments (at least
MIN_THREADS over all channels) is read with Telethon's own `iter_messages(channel,
reply_to=post)`, newest first, and one thread per channel again oldest first (`reverse=True`,
Telethon's negative add_offset); `get_messages(..., limit=0).total` is the thread's count. One
post per channel without a comment section (`replies` is None) must make Telethon raise.

Prints JSON lines: {"channel", "linked_chat_id"} per channel, one line per comment in the shape
of `tgsift sim serve --comments-out` (`channel`, `post`, `id`, `date`, `edit_date`, `reply_to`,
`top_id`, `sender`, `sender_id`, `signature`, `text`, `media`), {"channel", "post", "total",
"read"} per thread, and {"channel", "post", "error"} per post without comments.

Usage: python telethon_comments.py STRING_SESSION_FILE @channel…
"""

import asyncio
import json
import sys

from telethon import TelegramClient, functions, types
from telethon.sessions import StringSession

MIN_THREADS = 24
NEWEST = 300


def sender(m, group_id: int):
    """(kind, id, signature) of a comment, from its from_id and post_author."""
    peer = m.from_id
    if isinstance(peer, types.PeerUser):
        return "user", peer.user_id, None
    if isinstance(peer, types.PeerChannel) and peer.channel_id == group_id:
        return "anonymous", None, m.post_author
    if isinstance(peer, types.PeerChannel):
        return "channel", peer.channel_id, None
    return "unknown:" + type(peer).__name__, None, m.post_author


def line(channel_id: int, post: int, group_id: int, m) -> dict:
    kind, sender_id, signature = sender(m, group_id)
    r = m.reply_to
    reply_to = r.reply_to_msg_id if r else None
    return {
        "channel": channel_id,
        "post": post,
        "id": m.id,
        "date": int(m.date.timestamp()),
        "edit_date": int(m.edit_date.timestamp()) if m.edit_date else None,
        "reply_to": reply_to,
        "top_id": (r.reply_to_top_id or reply_to) if r else None,
        "sender": kind,
        "sender_id": sender_id,
        "signature": signature,
        "text": m.message,
        "media": m.media is not None,
    }


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    await client.connect()
    out = lambda d: print(json.dumps(d, ensure_ascii=False), flush=True)  # noqa: E731
    try:
        channels = sys.argv[2:]
        per_channel = -(-MIN_THREADS // len(channels))
        for name in channels:
            entity = await client.get_entity(name)
            full = await client(functions.channels.GetFullChannelRequest(entity))
            group_id = full.full_chat.linked_chat_id
            out({"channel": entity.id, "linked_chat_id": group_id})
            with_comments, without = [], []
            async for m in client.iter_messages(entity, limit=NEWEST, wait_time=0):
                if m.action is not None:
                    continue
                if m.replies is None:
                    without.append(m.id)
                elif m.replies.replies > 0:
                    with_comments.append(m.id)
            # Newest posts first until the share is reached, then the oldest without comments.
            if not without:
                async for m in client.iter_messages(entity, reverse=True, limit=NEWEST, wait_time=0):
                    if m.action is None and m.replies is None:
                        without.append(m.id)
            for i, post in enumerate(with_comments[:per_channel]):
                got = [m async for m in client.iter_messages(entity, reply_to=post, wait_time=0)]
                for m in reversed(got):
                    out(line(entity.id, post, group_id, m))
                total = (await client.get_messages(entity, reply_to=post, limit=0)).total
                out({"channel": entity.id, "post": post, "total": total, "read": len(got)})
                if i == 0:
                    back = [
                        m.id
                        async for m in client.iter_messages(
                            entity, reply_to=post, reverse=True, limit=None, wait_time=0
                        )
                    ]
                    if back != [m.id for m in reversed(got)]:
                        raise SystemExit(f"post {post}: reverse reading gave {back}")
            if without:
                post = without[-1]
                try:
                    got = [m async for m in client.iter_messages(entity, reply_to=post, wait_time=0)]
                    out({"channel": entity.id, "post": post, "error": None, "read": len(got)})
                except Exception as e:  # noqa: BLE001 — the error's name is what is compared
                    out({"channel": entity.id, "post": post, "error": type(e).__name__})
    finally:
        await client.disconnect()


asyncio.run(main())
