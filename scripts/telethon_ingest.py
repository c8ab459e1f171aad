"""The peer in scripts/bench.sh: Telethon reading a whole channel oldest first into SQLite.

What a Python user of Telethon writes to archive a channel: `iter_messages(reverse=True, wait_time=0)`
(no artificial pause between pages), each page stored with the sqlite3 module in one transaction.
Prints one line: messages, seconds, messages/s and the process's CPU seconds.

Usage: python telethon_ingest.py STRING_SESSION_FILE @channel DB
"""

import asyncio
import resource
import sqlite3
import sys
import time

from telethon import TelegramClient
from telethon.sessions import StringSession


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    channel = sys.argv[2]
    db = sqlite3.connect(sys.argv[3])
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS posts (id INTEGER PRIMARY KEY, date INTEGER, edit_date INTEGER,"
        " text TEXT, views INTEGER, forwards INTEGER, grouped_id INTEGER, has_media INTEGER)"
    )
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    await client.connect()
    t0 = time.perf_counter()
    n, batch = 0, []

    def flush() -> None:
        db.executemany("INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
        db.commit()

    async for m in client.iter_messages(channel, reverse=True, wait_time=0):
        if m.action is not None:  # service messages are not posts
            continue
        batch.append(
            (
                m.id,
                int(m.date.timestamp()),
                int(m.edit_date.timestamp()) if m.edit_date else None,
                m.message or "",
                m.views,
                m.forwards,
                m.grouped_id,
                1 if m.media else 0,
            )
        )
        if len(batch) >= 100:
            flush()
            n += len(batch)
            batch = []
    if batch:
        flush()
        n += len(batch)
    seconds = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"messages={n} seconds={seconds:.2f} msgs_per_s={n / seconds:.0f} "
        f"cpu_s={ru.ru_utime + ru.ru_stime:.2f}"
    )
    await client.disconnect()


asyncio.run(main())
