"""Telethon, an independent client, checks the simulator's Telegram penalties (`sim serve --flood telegram`).

Run by scripts/sim-reference.sh against `tgsift sim serve --flood telegram --max-channels N` with N one
less than its channels. Checks, as Telethon sees them on the wire:
  1. contacts.resolveUsername: 5 at once are answered, the 6th gets FLOOD_WAIT of 10 s;
  2. a call sent into that open window gets a longer wait (the penalty doubles);
  3. channels.joinChannel past the channel limit: CHANNELS_TOO_MUCH (Telethon's ChannelsTooMuchError);
  4. sustained flooding (30 FLOOD_WAITs within an hour) freezes the account: reading history answers
     FROZEN_METHOD_INVALID, help.getConfig still works;
  5. ping_delay_disconnect: the server closes a connection whose pings stopped after the delay.
Prints one line per check and, last, the FLOOD_WAITs it received (the simulator's report must agree).

Usage: python telethon_penalties.py STRING_SESSION_FILE @channel…
"""

import asyncio
import logging
import sys
import time

from telethon import TelegramClient, errors, functions
from telethon.sessions import StringSession


async def main() -> None:
    session = open(sys.argv[1], encoding="utf-8").read().strip()
    channels = [c.lstrip("@") for c in sys.argv[2:]]
    assert len(channels) >= 7, "needs at least 7 channels"
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    # Every FLOOD_WAIT must reach this script, not be slept through by Telethon.
    client.flood_sleep_threshold = 0
    await client.connect()
    floods = 0

    async def resolve(name: str) -> None:
        # Telethon refuses, without sending, a call it knows to be inside a flood window; forget
        # them, so every call reaches the server as a client that ignores FLOOD_WAIT would send it.
        client._flood_waited_requests.clear()
        await client(functions.contacts.ResolveUsernameRequest(username=name))

    for name in channels[:5]:
        await resolve(name)
    try:
        await resolve(channels[5])
        raise SystemExit("FAIL 1: the 6th resolve was answered")
    except errors.FloodWaitError as e:
        floods += 1
        assert e.seconds == 10, f"FAIL 1: FLOOD_WAIT_{e.seconds}, expected 10"
        first = e.seconds
    print(f"ok 1: 5 resolves answered, the 6th got FLOOD_WAIT_{first}")

    try:
        await resolve(channels[5])
        raise SystemExit("FAIL 2: a call into the open window was answered")
    except errors.FloodWaitError as e:
        floods += 1
        assert e.seconds >= 2 * (first - 1), f"FAIL 2: FLOOD_WAIT_{e.seconds} is not doubled"
        print(f"ok 2: a call into the open window got FLOOD_WAIT_{e.seconds} (doubled)")

    # The account is a member of every channel; leaving one puts it at the limit (channels - 1).
    target = await client.get_input_entity(channels[0])
    await client(functions.channels.LeaveChannelRequest(channel=target))
    try:
        await client(functions.channels.JoinChannelRequest(channel=target))
        raise SystemExit("FAIL 3: a join past the channel limit was answered")
    except errors.ChannelsTooMuchError:
        print("ok 3: a join past the channel limit got CHANNELS_TOO_MUCH")

    # Keep flooding: every call into the open window is another FLOOD_WAIT, until Telegram freezes.
    frozen = False
    for _ in range(40):
        try:
            await resolve(channels[6])
        except errors.FloodWaitError:
            floods += 1
            continue
        except errors.FrozenMethodInvalidError:
            frozen = True
            break
    assert frozen, "FAIL 4: 40 more floods and the account is not frozen"
    history = await client.get_input_entity(channels[1])
    try:
        await client(functions.messages.GetHistoryRequest(
            peer=history, offset_id=0, offset_date=None, add_offset=0, limit=1,
            max_id=0, min_id=0, hash=0))
        raise SystemExit("FAIL 4: a frozen account read history")
    except errors.FrozenMethodInvalidError:
        pass
    await client(functions.help.GetConfigRequest())
    print(f"ok 4: frozen after {floods} FLOOD_WAITs; history refused, help.getConfig answered")

    # A connection that asked to be dropped 2 s after its last ping is closed by the server then
    # (Telethon logs it, and reconnects on its own).
    closed = []

    class Closed(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "Server closed the connection" in record.getMessage():
                closed.append(time.monotonic())

    watcher = logging.getLogger("telethon.network.connection.connection")
    watcher.setLevel(logging.DEBUG)
    watcher.addHandler(Closed())
    await client(functions.PingDelayDisconnectRequest(ping_id=7, disconnect_delay=2))
    pinged = time.monotonic()
    await asyncio.sleep(4)
    assert closed, "FAIL 5: the connection outlived its disconnect delay"
    after = closed[0] - pinged
    assert 1.5 <= after <= 3.0, f"FAIL 5: closed {after:.1f} s after the ping, expected 2"
    print(f"ok 5: the server closed the connection {after:.1f} s after a ping_delay_disconnect of 2 s")

    print(f"floods {floods}")
    await client.disconnect()


asyncio.run(main())
