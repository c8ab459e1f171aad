"""Telethon, an independent client, checks the simulator's silences (salts, clock skew, pushes).

Run by scripts/sim-reference.sh, once per simulator (MODE says which one it is):
  ahead    `sim serve --salt-rotate 2 --clock-skew 600 --push-idle-stop 2 --live-rate 10`: checks
           2a (the server clock 600 s ahead: bad_msg_notification 16, Telethon corrects its clock
           and works), 1 (salts rotating every 2 s: ~8 s of getState/getHistory calls all answered,
           through bad_server_salt) and 3 (pushes of a member channel arrive while Telethon asks
           something every second, stop once it has been silent past 2 s, come again after its
           next request);
  behind   `sim serve --clock-skew -600`: check 2b (the server clock 600 s behind:
           bad_msg_notification 17; Telethon resets its last msg_id when it corrects its clock, so
           unlike grammers 0.11 it works);
  unpushed `sim serve --unpushed 1.0 --live-rate 10`: check 4 (no pushes at all, but
           updates.getChannelDifference returns the new posts).
Everything is seen as Telethon sees it on the wire: its MTProto sender's handlers of
bad_server_salt, bad_msg_notification and server-initiated updates are wrapped to count them, and its
requests are logged (so the silent window of check 3 is known to be silent). A raw update handler
(events.Raw) counts the UpdateNewChannelMessage Telethon dispatches too.

Prints one line per check ("ok N: …" or "FAIL N: …"), then a "wire …" line with what it received
(sim-reference.sh compares it with the simulator's own counts); exits 1 if any check failed.

Usage: python telethon_silences.py MODE STRING_SESSION_FILE @channel…
"""

import asyncio
import logging
import sys
import time

from telethon import TelegramClient, events, functions, types
from telethon.network.mtprotosender import MTProtoSender
from telethon.sessions import StringSession

CALL_TIMEOUT = 10.0  # seconds any one call may take before the check fails
NOT_CONTENT = ("PingRequest", "PingDelayDisconnectRequest")  # what the simulator does not count


class Wire:
    """What reached Telethon's MTProto sender, and the requests it sent, with monotonic times."""

    def __init__(self) -> None:
        self.bad_salts: list[float] = []
        self.bad_msgs: list[tuple[float, int, int]] = []  # (time, error code, refused msg_id)
        self.pushes: list[tuple[float, int]] = []  # (time, UpdateNewChannelMessage in the push)
        self.requests: list[tuple[float, str]] = []

    def pushed(self, since: float, until: float = float("inf")) -> int:
        """UpdateNewChannelMessage pushed by the server in (since, until]."""
        return sum(n for t, n in self.pushes if since < t <= until)

    def asked(self, since: float, until: float) -> list[str]:
        """Content requests (not pings) Telethon sent in (since, until]."""
        return [r for t, r in self.requests if since < t <= until and r not in NOT_CONTENT]


wire = Wire()


def new_channel_messages(obj) -> int:
    ups = getattr(obj, "updates", None)
    if ups is None:
        one = getattr(obj, "update", None)
        ups = [one] if one is not None else []
    return sum(isinstance(u, types.UpdateNewChannelMessage) for u in ups)


def spy_on_the_sender() -> None:
    """Wraps MTProtoSender's handlers (before a client exists: it binds them in __init__)."""
    bad_salt = MTProtoSender._handle_bad_server_salt
    bad_msg = MTProtoSender._handle_bad_notification
    update = MTProtoSender._handle_update
    send = MTProtoSender.send

    async def on_bad_salt(self, message):
        wire.bad_salts.append(time.monotonic())
        await bad_salt(self, message)

    async def on_bad_msg(self, message):
        wire.bad_msgs.append((time.monotonic(), message.obj.error_code, message.obj.bad_msg_id))
        await bad_msg(self, message)

    async def on_update(self, message):
        wire.pushes.append((time.monotonic(), new_channel_messages(message.obj)))
        await update(self, message)

    def on_send(self, request, ordered=False):
        for r in request if isinstance(request, list) else [request]:
            wire.requests.append((time.monotonic(), type(r).__name__))
        return send(self, request, ordered)

    MTProtoSender._handle_bad_server_salt = on_bad_salt
    MTProtoSender._handle_bad_notification = on_bad_msg
    MTProtoSender._handle_update = on_update
    MTProtoSender.send = on_send


class Ignored(logging.Handler):
    """Counts the messages Telethon drops for their msg_id time (instead of printing warnings): at
    connect, the simulator's new_session_created stamped with the skewed clock, which comes before
    Telethon has corrected its offset from the bad_msg_notification."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Server sent a very" in record.getMessage():
            self.n += 1


failures: list[str] = []


def result(check: str, ok: bool, text: str) -> bool:
    print(f"{'ok' if ok else 'FAIL'} {check}: {text}", flush=True)
    if not ok:
        failures.append(check)
    return ok


async def call(client: TelegramClient, request):
    return await asyncio.wait_for(client(request), CALL_TIMEOUT)


def history(peer, limit: int = 5):
    return functions.messages.GetHistoryRequest(
        peer=peer, offset_id=0, offset_date=None, add_offset=0, limit=limit,
        max_id=0, min_id=0, hash=0)


async def clock_check(client: TelegramClient, check: str, skew: int, code: int, peer) -> None:
    """The server clock is `skew` s off: Telethon met `code`, corrected its offset, and works."""
    codes = sorted({c for _, c, _ in wire.bad_msgs})
    offset = client._sender._state.time_offset
    answered = 0
    try:
        for i in range(6):
            await call(client, functions.updates.GetStateRequest() if i % 2 else history(peer))
            answered += 1
    except Exception as e:  # noqa: BLE001 — reported, not hidden
        result(check, False, f"server clock {skew:+} s: {answered} of 6 calls answered, then "
               f"{type(e).__name__} {e}; bad_msg codes seen {codes}, Telethon offset {offset:+} s")
        return
    # The msg_ids Telethon sends now against the one refused: moved by the skew (for a server
    # behind, back in time, which Telethon allows itself since it resets its last msg_id).
    refused = [m for _, c, m in wire.bad_msgs if c == code]
    moved = ((client._sender._state._last_msg_id >> 32) - (refused[0] >> 32)) if refused else 0
    result(check, bool(refused) and abs(offset - skew) <= 2 and abs(moved - skew) <= 5,
           f"server clock {skew:+} s: Telethon got bad_msg_notification {codes} (expected {code}), "
           f"set its time offset to {offset:+} s, its msg_ids moved {moved:+} s from the refused "
           f"one, and 6 of 6 calls were answered")


async def salts_check(client: TelegramClient, peer) -> None:
    """Salts rotate every 2 s: ~8 s of calls are all answered, through bad_server_salt."""
    start = time.monotonic()
    calls = 0
    try:
        while time.monotonic() - start < 8.0:
            await call(client, history(peer) if calls % 2 else functions.updates.GetStateRequest())
            calls += 1
            await asyncio.sleep(0.25)
    except Exception as e:  # noqa: BLE001
        result("1", False, f"call {calls + 1} after {time.monotonic() - start:.1f} s of rotating "
               f"salts: {type(e).__name__} {e}")
        return
    salts = sum(1 for t in wire.bad_salts if t > start)
    result("1", salts >= 1,
           f"salts rotating every 2 s: {calls} getState/getHistory calls over "
           f"{time.monotonic() - start:.1f} s all answered; Telethon met bad_server_salt {salts} "
           f"times meanwhile and re-sent")


async def idle_check(client: TelegramClient, raw: list[float]) -> None:
    """--push-idle-stop 2: pushes while asking every second, none after >2 s silent, back after."""
    await call(client, functions.updates.GetStateRequest())
    busy_from = time.monotonic()
    for _ in range(4):
        await asyncio.sleep(1.0)
        await call(client, functions.help.GetConfigRequest())
    last = time.monotonic()  # the answer to the last request: silence starts
    busy = wire.pushed(busy_from, last)
    await asyncio.sleep(6.0)
    quiet_end = time.monotonic()
    before_stop = wire.pushed(last, last + 1.8)
    stopped = wire.pushed(last + 2.5, quiet_end)
    raw_stopped = sum(1 for t in raw if last + 2.5 < t <= quiet_end)
    asked = wire.asked(last, quiet_end)
    await call(client, functions.help.GetConfigRequest())
    resumed_at = time.monotonic()
    for _ in range(3):
        await asyncio.sleep(1.0)
        await call(client, functions.help.GetConfigRequest())
    again = wire.pushed(resumed_at, time.monotonic())
    ok = busy >= 10 and before_stop >= 1 and stopped == 0 and raw_stopped == 0 and again >= 5
    ok = result("3", ok and not asked,
                f"push idle stop 2 s: {busy} channel posts pushed in 4 s of a request a second, "
                f"{before_stop} in the 1.8 s after the last request, {stopped} (raw handler "
                f"{raw_stopped}) from 2.5 s to {quiet_end - last:.1f} s of silence, {again} in the "
                f"3 s after the next request" + (f"; but Telethon sent {asked} while 'silent'"
                                                 if asked else ""))


async def unpushed_check(client: TelegramClient, channels: list[str], raw: list[float]) -> None:
    """--unpushed 1.0: nothing is pushed, getChannelDifference returns the new posts."""
    await call(client, functions.updates.GetStateRequest())
    peers = [await client.get_input_entity(c) for c in channels]

    async def difference(peer, pts: int) -> tuple[int, int]:
        """(pts reached, new messages on the way) asking until the difference is final."""
        news = 0
        for _ in range(100):
            d = await call(client, functions.updates.GetChannelDifferenceRequest(
                channel=peer, filter=types.ChannelMessagesFilterEmpty(), pts=pts, limit=100,
                force=True))
            if isinstance(d, types.updates.ChannelDifferenceTooLong):
                return d.dialog.pts, news + len(d.messages)
            pts = d.pts
            news += len(getattr(d, "new_messages", []))
            if d.final:
                return pts, news
        return pts, news

    start = time.monotonic()
    base = [(await difference(p, 1))[0] for p in peers]
    for _ in range(3):
        await asyncio.sleep(1.0)
        await call(client, functions.help.GetConfigRequest())
    pushed = wire.pushed(start)
    raw_seen = sum(1 for t in raw if t > start)
    news = [(await difference(p, pts))[1] for p, pts in zip(peers, base)]
    result("4", pushed == 0 and raw_seen == 0 and sum(news) >= 5,
           f"unpushed channels: {pushed} channel posts pushed (raw handler {raw_seen}) in "
           f"{time.monotonic() - start:.1f} s of live posting; getChannelDifference then returned "
           f"{sum(news)} new posts ({' + '.join(map(str, news))})")


async def main() -> None:
    mode = sys.argv[1]
    session = open(sys.argv[2], encoding="utf-8").read().strip()
    channels = [c.lstrip("@") for c in sys.argv[3:]]
    assert mode in ("ahead", "behind", "unpushed"), mode
    assert channels, "needs a channel"
    logging.basicConfig(level=logging.WARNING)
    ignored = Ignored()
    state_log = logging.getLogger("telethon.network.mtprotostate")
    state_log.addHandler(ignored)
    state_log.propagate = False
    spy_on_the_sender()
    client = TelegramClient(StringSession(session), 12345, "0123456789abcdef0123456789abcdef")
    client.flood_sleep_threshold = 0
    raw: list[float] = []

    async def on_raw(update) -> None:
        raw.append(time.monotonic())

    client.add_event_handler(on_raw, events.Raw(types.UpdateNewChannelMessage))
    try:
        # connect() logs in from the string session: getState + getDifference (so this connection
        # is subscribed to pushes from here on).
        await asyncio.wait_for(client.connect(), 20)
    except Exception as e:  # noqa: BLE001
        codes = sorted({c for _, c, _ in wire.bad_msgs})
        result("2b" if mode == "behind" else "2a" if mode == "ahead" else "4", False,
               f"Telethon did not connect within 20 s: {type(e).__name__} {e}; bad_msg codes "
               f"{codes}, time offset {client._sender._state.time_offset:+} s, "
               f"{len(wire.bad_msgs)} bad_msg notifications")
    else:
        try:
            peer = await asyncio.wait_for(client.get_input_entity(channels[0]), CALL_TIMEOUT)
            if mode == "ahead":
                await clock_check(client, "2a", 600, 16, peer)
                await salts_check(client, peer)
                await idle_check(client, raw)
            elif mode == "behind":
                await clock_check(client, "2b", -600, 17, peer)
            else:
                await unpushed_check(client, channels, raw)
        except Exception as e:  # noqa: BLE001
            result(mode, False, f"{type(e).__name__} {e}")
        await asyncio.wait_for(client.disconnect(), 10)
    codes = [c for _, c, _ in wire.bad_msgs]
    print(f"wire bad_server_salt={len(wire.bad_salts)} bad_msg_16={codes.count(16)} "
          f"bad_msg_17={codes.count(17)} pushes={len(wire.pushes)} "
          f"channel_posts_pushed={wire.pushed(0)} ignored_for_time={ignored.n}", flush=True)
    if failures:
        print(f"failed: {' '.join(failures)}", flush=True)
        sys.exit(1)


asyncio.run(main())
