"""
The benchmark phases, written once for every kind of server.

A phase drives the clients through the L{adapters.BaseClient} interface
and records what it expects to be delivered in a L{Tracker}. Each message
text carries the phase tag, a sequence number and the send time::

    "<tag> <seq> <monotonic ns> xxxx..."

so the receiving connection (same process, same clock) computes the
latency, and the tracker checks every delivery against the expected
recipients: duplicates are caught per receiving connection by
(conversation, msg_id) and by sequence number, and whatever expected
delivery has not arrived when the phase gives up waiting is lost.
"""

import asyncio
import collections
import math
import sys
import time

import adapters
import procstat


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (None if empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(ns_values):
    """Return {"p50", "p99", "max"} in milliseconds (None when empty)."""
    values = sorted(ns_values)

    def ms(v):
        return None if v is None else round(v / 1e6, 3)
    return {"p50": ms(percentile(values, 50)),
            "p99": ms(percentile(values, 99)),
            "max": ms(values[-1] if values else None)}


class _Msg:
    """What is still expected for one sent message."""

    __slots__ = ("left", "undelivered", "recipients", "sender", "sent_ns",
                 "window_deliveries")

    def __init__(self, left, undelivered, recipients, sender, sent_ns,
                 window_deliveries):
        self.window_deliveries = window_deliveries
        self.left = left
        self.undelivered = undelivered
        self.recipients = recipients
        self.sender = sender
        self.sent_ns = sent_ns


class Tracker:
    """
    Expected and received deliveries of one phase, and its send window.

    A message occupies a window slot until its reply (chatroom) and, when
    C{window_deliveries} was asked for, all its deliveries have arrived.
    """

    def __init__(self, tag, window, text_bytes=0):
        self.tag = tag
        self.text_bytes = text_bytes
        self.window = asyncio.Semaphore(window)
        self.messages = {}
        self.seq = 0
        self.outstanding = 0      # messages holding a window slot
        self.undelivered = 0      # expected deliveries not yet received
        self.replies_pending = 0
        self.progress = 0         # bumped by every delivery and reply
        self.last_event_ns = time.monotonic_ns()
        self.base_ns = None       # measure latency from here if set
        self.latencies = []
        self.reply_latencies = []
        self.delivered = 0
        self.duplicated = 0
        self.stray = 0
        self.offline_flagged = 0
        self.rejected = 0
        self.statuses = collections.Counter()
        self.errors = collections.Counter()
        self._seen_ids = set()
        self._seen_seq = set()

    def new(self, sender, recipients, deliveries, reply,
            window_deliveries=True):
        """
        Register a message about to be sent; return (seq, text).

        C{recipients} is a container of client indexes (the sender is never
        a recipient even if it is in it); C{deliveries} how many of them
        should get it.
        """
        self.seq += 1
        now = time.monotonic_ns()
        text = f"{self.tag} {self.seq} {now}"
        if len(text) < self.text_bytes:
            text += " " + "x" * (self.text_bytes - len(text) - 1)
        left = (deliveries if window_deliveries else 0) + (1 if reply else 0)
        self.messages[self.seq] = _Msg(left, deliveries, recipients, sender,
                                       now, window_deliveries)
        self.undelivered += deliveries
        if left:
            self.outstanding += 1
        else:
            self.window.release()
        return self.seq, text

    def _settle(self, msg):
        """One more thing expected of C{msg} has happened."""
        msg.left -= 1
        if msg.left == 0:
            self.outstanding -= 1
            self.window.release()

    def track_reply(self, fut, seq):
        """Count the reply to a chatroom request for message C{seq}."""
        self.replies_pending += 1
        msg = self.messages[seq]

        def replied(f):
            self.replies_pending -= 1
            now = time.monotonic_ns()
            self.progress += 1
            self.last_event_ns = max(self.last_event_ns, now)
            if f.cancelled() or f.exception() is not None:
                self.errors["connection_lost"] += 1
            else:
                reply = f.result()
                self.reply_latencies.append(now - msg.sent_ns)
                if reply.get("type") == "ok":
                    self.statuses[reply.get("status", "ok")] += 1
                else:
                    # Rejected: nothing will be delivered, do not call the
                    # missing deliveries lost but report the error.
                    self.errors[reply.get("code")] += 1
                    self.rejected += 1
                    self.undelivered -= msg.undelivered
                    if msg.window_deliveries:
                        msg.left -= msg.undelivered
                    msg.undelivered = 0
            self._settle(msg)

        fut.add_done_callback(replied)

    def received(self, client, conv, msg_id, text, offline):
        """A chat message arrived on C{client}'s connection."""
        now = time.monotonic_ns()
        try:
            _, seq, sent_ns = text.split(" ", 3)[:3]
            seq, sent_ns = int(seq), int(sent_ns)
        except ValueError:
            self.stray += 1
            return
        if msg_id is not None:
            key = (client.index, conv, msg_id)
            if key in self._seen_ids:
                self.duplicated += 1
                return
            self._seen_ids.add(key)
        key = (client.index, seq)
        if key in self._seen_seq:
            self.duplicated += 1
            return
        self._seen_seq.add(key)
        msg = self.messages.get(seq)
        if (msg is None or client.index == msg.sender
                or client.index not in msg.recipients
                or msg.undelivered <= 0):
            self.stray += 1
            return
        if offline:
            self.offline_flagged += 1
        self.latencies.append(now - (self.base_ns or sent_ns))
        self.delivered += 1
        self.progress += 1
        self.last_event_ns = now
        msg.undelivered -= 1
        self.undelivered -= 1
        if msg.window_deliveries:
            self._settle(msg)

    @property
    def lost(self):
        """Expected deliveries that have not arrived (so far)."""
        return self.undelivered

    @property
    def unanswered(self):
        """Requests still without a reply (so far)."""
        return self.replies_pending


async def wait_until(cond, tracker, stall_timeout, hard_timeout):
    """
    Wait until C{cond()} holds.

    Give up when the tracker has made no progress for C{stall_timeout}
    seconds, or after C{hard_timeout} seconds in all. Return True if the
    condition was met.
    """
    start = time.monotonic()
    last_progress, last_change = tracker.progress, start
    while not cond():
        await asyncio.sleep(0.02)
        now = time.monotonic()
        if tracker.progress != last_progress:
            last_progress, last_change = tracker.progress, now
        elif now - last_change > stall_timeout:
            return False
        if now - start > hard_timeout:
            return False
    return True


async def settle(quiet=0.3, limit=30.0):
    """
    Wait until no connection has received anything for C{quiet} seconds.

    Used after fan-out heavy steps (logins produce presence events, joins
    produce join events) so that their cost lands in the right phase.
    """
    start = time.monotonic()
    while time.monotonic() - start < limit:
        idle = time.monotonic() - adapters.last_receive[0]
        if idle >= quiet:
            return
        await asyncio.sleep(quiet - idle + 0.01)


class Meter:
    """
    CPU and memory readings around a measured stretch of a phase.

    Server figures come from the server's process tree (None when its pid
    is unknown); the generator's own CPU from os.times().
    """

    def __init__(self, sampler):
        self.sampler = sampler

    def start(self):
        self.server0 = self.sampler.sample()
        self.gen0 = procstat.self_cpu_seconds()
        self.t0_ns = time.monotonic_ns()

    def stop(self):
        self.server1 = self.sampler.sample()
        self.gen1 = procstat.self_cpu_seconds()

    def figures(self, work, end_ns=None):
        """
        Return the CPU/memory fields of a phase record.

        C{work} is the number of units (deliveries, connections) the CPU
        time is divided by.
        """
        out = {"gen_cpu_s": round(self.gen1 - self.gen0, 3)}
        out["gen_cpu_us_per_msg"] = (
            round((self.gen1 - self.gen0) * 1e6 / work, 1) if work else None)
        if self.server0 and self.server1:
            cpu = self.server1["cpu_s"] - self.server0["cpu_s"]
            out.update(
                server_cpu_s=round(cpu, 3),
                server_cpu_us_per_msg=(round(cpu * 1e6 / work, 1)
                                       if work else None),
                server_rss_kb_before=self.server0["rss_kb"],
                server_rss_kb_after=self.server1["rss_kb"],
                server_pids=len(self.server1["pids"]),
                server_cpu_s_by_process={
                    name: round(v[0] - self.server0["by_name"].get(
                        name, [0.0])[0], 3)
                    for name, v in self.server1["by_name"].items()},
                server_rss_kb_by_process={
                    name: v[1] for name, v in
                    self.server1["by_name"].items()})
        else:
            out.update(server_cpu_s=None, server_cpu_us_per_msg=None,
                       server_rss_kb_before=None, server_rss_kb_after=None)
        return out


class Bench:
    """
    One benchmark run against one server: its clients and its phases.

    Each phase method returns a dict, the JSON record of that phase.
    """

    def __init__(self, options, adapter, sampler):
        import random
        self.o = options
        self.adapter = adapter
        self.sampler = sampler
        self.rng = random.Random(options.seed)
        self.run = options.run_id
        self.clients = {}
        self.trackers = {}
        self.foreign = 0

    # Plumbing.

    def log(self, text):
        """Progress goes to stderr so stdout stays for results."""
        print(f"[{self.adapter.kind}] {text}", file=sys.stderr, flush=True)

    def on_message(self, client, conv, msg_id, text, offline):
        """Route a received message to the tracker of its phase."""
        tracker = self.trackers.get(text.split(" ", 1)[0])
        if tracker is None:
            self.foreign += 1
        else:
            tracker.received(client, conv, msg_id, text, offline)

    def tracker(self, phase, window):
        tag = f"{self.run}{phase[0]}"
        tracker = self.trackers[tag] = Tracker(tag, window,
                                               self.o.text_bytes)
        return tracker

    def user_name(self, index):
        return f"b{self.run}_{index}"

    def new_client(self, index, name=None):
        return self.adapter(index, name or self.user_name(index),
                            self.on_message, ack_every=self.o.ack_every)

    @property
    def online(self):
        return sorted(self.clients)

    def record(self, phase, **fields):
        rec = {"server": self.adapter.kind, "phase": phase, "run": self.run}
        rec.update(fields)
        return rec

    def delivery_record(self, phase, tracker, meter, sent, seconds,
                        complete, **extra):
        """The record of a phase that sends and delivers messages."""
        lat = latency_summary(tracker.latencies)
        rec = self.record(
            phase, sent=sent, expected=tracker.delivered + tracker.lost,
            delivered=tracker.delivered, lost=tracker.lost,
            duplicated=tracker.duplicated, stray=tracker.stray,
            rejected=tracker.rejected, unanswered=tracker.unanswered,
            complete=complete, seconds=round(seconds, 3),
            throughput=(round(tracker.delivered / seconds, 1)
                        if seconds > 0 else None),
            sends_per_s=round(sent / seconds, 1) if seconds > 0 else None,
            latency_ms=lat, errors=dict(tracker.errors),
            statuses=dict(tracker.statuses))
        if tracker.reply_latencies:
            rec["reply_latency_ms"] = latency_summary(tracker.reply_latencies)
        rec.update(meter.figures(tracker.delivered))
        rec.update(extra)
        return rec

    async def pump(self, tracker, count, send_one):
        """
        Call C{send_one()} C{count} times, each holding a window slot.

        Stop early if no slot frees up for --stall-timeout seconds (the
        server stopped delivering); return how many were sent.
        """
        deadline = time.monotonic() + self.o.phase_timeout
        for sent in range(count):
            if tracker.window.locked():
                try:
                    await asyncio.wait_for(tracker.window.acquire(),
                                           self.o.stall_timeout)
                except asyncio.TimeoutError:
                    self.log(f"stalled after {sent} sends")
                    return sent
                if time.monotonic() > deadline:
                    self.log(f"phase timeout after {sent} sends")
                    return sent
            else:
                await tracker.window.acquire()
            send_one()
        return count

    async def finish(self, tracker):
        """Wait for every reply and delivery; True if all came."""
        return await wait_until(
            lambda: tracker.outstanding == 0 and tracker.undelivered == 0
            and tracker.replies_pending == 0,
            tracker, self.o.stall_timeout, self.o.phase_timeout)

    async def ack_everything(self, clients=None):
        """
        Send a final ack for every conversation with unacked messages.

        Done after a phase's measurement: it keeps the server's pending
        sets small for the next phase, as a real client would.
        """
        futs = []
        for c in clients or self.clients.values():
            futs.extend(c.ack_all())
        if futs:
            done, _ = await asyncio.wait(futs, timeout=self.o.stall_timeout)
            bad = sum(1 for f in done
                      if f.exception() or f.result().get("type") != "ok")
            if bad or len(done) < len(futs):
                self.log(f"{bad} acks failed, {len(futs) - len(done)} "
                         "unanswered")
        return len(futs)

    async def keepalive(self):
        """
        Ping from clients that have sent nothing for --keepalive seconds.

        A server may close connections that stay silent (chatroom has an
        idle timeout); receivers of the benchmark can be silent for longer
        than that while 2000 users log in. Runs until cancelled.
        """
        period = self.o.keepalive
        if period <= 0:
            return
        while True:
            await asyncio.sleep(min(5.0, period / 3))
            stale = time.monotonic() - period
            for client in list(self.clients.values()):
                if client.last_sent < stale:
                    client.ping()

    # Phases.

    async def connect(self):
        """N clients connect, register and log in, a few at a time."""
        n = self.o.clients
        gate = asyncio.Semaphore(self.o.connect_concurrency)
        latencies, failures = [], collections.Counter()
        meter = Meter(self.sampler)
        await self.warm_up()
        await settle()
        meter.start()
        last_ok = [meter.t0_ns]

        async def one(i):
            async with gate:
                t0 = time.monotonic_ns()
                client = self.new_client(i)
                try:
                    await client.open(self.o.host, self.o.port)
                    await client.login(self.o.password)
                except Exception as e:
                    failures[type(e).__name__ + ": " + str(e)[:120]] += 1
                    client.close()
                    return
                now = time.monotonic_ns()
                last_ok[0] = max(last_ok[0], now)
                latencies.append(now - t0)
                self.clients[i] = client

        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(i) for i in range(n))),
                self.o.phase_timeout)
        except asyncio.TimeoutError:
            failures["phase timeout"] += 1
        seconds = (last_ok[0] - meter.t0_ns) / 1e9
        # Logins fan out presence (chatroom) or nothing much (IRC); let it
        # finish so that its CPU is counted here and not in the next phase.
        await settle()
        meter.stop()
        ok = len(self.clients)
        rec = self.record(
            "connect", clients=n, connected=ok, failed=n - ok,
            failures=dict(failures.most_common(5)),
            seconds=round(seconds, 3),
            throughput=round(ok / seconds, 1) if seconds > 0 else None,
            latency_ms=latency_summary(latencies))
        rec.update(meter.figures(ok))
        if meter.server0 and meter.server1 and ok:
            rec["kb_per_conn"] = round(
                (meter.server1["rss_kb"] - meter.server0["rss_kb"]) / ok, 2)
        else:
            rec["kb_per_conn"] = None
        rec["events"] = self.event_counts()
        return rec

    async def warm_up(self):
        """
        Log a few throw-away users in and out before the connect phase.

        The first logins make the server allocate what it keeps for its
        lifetime (thread pool stacks, the password hasher's memory arenas,
        Redis scripts); without this, the RSS grown for 20 smoke clients
        would be read as tens of MB per connection.
        """
        count = min(self.o.warmup, self.o.connect_concurrency)
        if count <= 0:
            return

        async def one(i, retry_for=0.0):
            deadline = time.monotonic() + retry_for
            client = self.new_client(-1 - i, self.user_name(f"w{i}"))
            try:
                await client.open(self.o.host, self.o.port)
                register = True
                while True:
                    try:
                        await client.login(self.o.password,
                                           register=register)
                        return
                    except adapters.ProtocolError as e:
                        # A server may accept connections before its
                        # storage is up and answer "unavailable" (which
                        # PROTOCOL.md allows to retry): wait for it here,
                        # never inside a measured phase.
                        if ("unavailable" not in str(e)
                                or time.monotonic() > deadline):
                            raise
                        # Only the login failed: the account exists.
                        register = ": login ->" not in str(e)
                        await asyncio.sleep(0.2)
            finally:
                client.close()

        await one(0, retry_for=60.0)
        count -= 1
        if count <= 0:
            return

        results = await asyncio.gather(
            *(one(i) for i in range(1, count + 1)), return_exceptions=True)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise RuntimeError(f"warm-up: {len(failed)} of {count} logins "
                               f"failed, first: {failed[0]!r}")

    def event_counts(self):
        """Events other than messages received so far, by type."""
        total = collections.Counter()
        for c in self.clients.values():
            total.update(c.events)
        return dict(total.most_common(8))

    async def p2p(self):
        """
        M direct messages between random pairs of online users (a new
        pair for each message, or one of C{--pairs} pairs fixed at the
        start, from the first user to the second).
        """
        tracker = self.tracker("p2p", self.o.window)
        online = self.online
        if len(online) < 2:
            return self.record("p2p", skipped="fewer than 2 clients online")
        clients, rng = self.clients, self.rng
        fixed = [tuple(rng.sample(online, 2))
                 for _ in range(self.o.pairs or 0)]

        def pick():
            if fixed:
                return fixed[rng.randrange(len(fixed))]
            return rng.sample(online, 2)

        def send_one():
            a, b = pick()
            seq, text = tracker.new(a, (b,), 1,
                                    reply=self.adapter.has_replies)
            fut = clients[a].send_direct(clients[b].name, text)
            if fut is not None:
                tracker.track_reply(fut, seq)

        meter = Meter(self.sampler)
        meter.start()
        sent = await self.pump(tracker, self.o.messages, send_one)
        complete = await self.finish(tracker) and sent == self.o.messages
        meter.stop()
        seconds = (tracker.last_event_ns - meter.t0_ns) / 1e9
        acks = await self.ack_everything()
        return self.delivery_record("p2p", tracker, meter, sent, seconds,
                                    complete, final_acks=acks)

    async def group(self):
        """G groups of S members; K group messages spread over them."""
        o = self.o
        online = self.online
        if len(online) < 2:
            return self.record("group", skipped="fewer than 2 clients online")
        size = min(o.group_size, len(online))
        groups = []
        for j in range(o.groups):
            members = list(dict.fromkeys(
                online[(j * size + k) % len(online)] for k in range(size)))
            groups.append((f"g{self.run}_{j}", members, frozenset(members)))

        # Setup (not measured): the first member creates, the rest join.
        t0 = time.monotonic()
        gate = asyncio.Semaphore(o.connect_concurrency)

        async def join(index, name, create):
            async with gate:
                client = self.clients[index]
                if create:
                    await client.create_group(name)
                else:
                    await client.join_group(name)

        await asyncio.wait_for(asyncio.gather(
            *(join(m[0], name, True) for name, m, _ in groups)),
            o.phase_timeout)
        await asyncio.wait_for(asyncio.gather(
            *(join(i, name, False) for name, m, _ in groups for i in m[1:])),
            o.phase_timeout)
        await settle()
        setup_s = time.monotonic() - t0

        tracker = self.tracker("group", o.group_window)
        clients, rng = self.clients, self.rng
        has_replies = self.adapter.has_replies

        def send_one():
            name, members, member_set = groups[rng.randrange(len(groups))]
            sender = members[rng.randrange(len(members))]
            seq, text = tracker.new(sender, member_set, len(members) - 1,
                                    reply=has_replies)
            fut = clients[sender].send_group(name, text)
            if fut is not None:
                tracker.track_reply(fut, seq)

        meter = Meter(self.sampler)
        meter.start()
        sent = await self.pump(tracker, o.group_messages, send_one)
        complete = await self.finish(tracker) and sent == o.group_messages
        meter.stop()
        seconds = (tracker.last_event_ns - meter.t0_ns) / 1e9
        acks = await self.ack_everything()
        return self.delivery_record(
            "group", tracker, meter, sent, seconds, complete,
            groups=len(groups), group_size=size, setup_s=round(setup_s, 3),
            final_acks=acks)

    async def offline(self):
        """
        One user with P pending messages logs in and drains them.

        Returns two records: "store" (P sends to the logged-out user, timed
        until the last ok) and "drain" (login until the last message).
        """
        o = self.o
        if not self.adapter.supports_offline:
            na = (self.adapter.offline_na or f"{self.adapter.kind} keeps "
                  "no messages for offline users")
            return [self.record("store", na=na), self.record("drain", na=na)]
        online = self.online
        if not online:
            return [self.record("store", skipped="no clients online"),
                    self.record("drain", skipped="no clients online")]
        index = max(max(online), o.clients) + 1
        name = self.user_name("drain")
        away = self.new_client(index, name)
        await away.open(o.host, o.port)
        await away.login(o.password)
        await away.logout()
        away.close()
        # Let the server finish its bookkeeping of the logout, so that a
        # race there is not reported as "delivered while offline".
        await asyncio.sleep(0.2)

        senders = online[:max(1, min(o.drain_senders, len(online)))]
        tracker = self.tracker("offline", o.window)
        clients, rng = self.clients, self.rng
        target = (index,)

        def send_one():
            sender = senders[rng.randrange(len(senders))]
            seq, text = tracker.new(sender, target, 1, reply=True,
                                    window_deliveries=False)
            tracker.track_reply(clients[sender].send_direct(name, text), seq)

        meter = Meter(self.sampler)
        meter.start()
        sent = await self.pump(tracker, o.pending, send_one)
        stored_ok = await wait_until(
            lambda: tracker.replies_pending == 0, tracker,
            o.stall_timeout, o.phase_timeout)
        meter.stop()
        seconds = (tracker.last_event_ns - meter.t0_ns) / 1e9
        stored = tracker.statuses.get("stored", 0)
        store = self.record(
            "store", sent=sent, stored=stored,
            delivered_while_offline=tracker.statuses.get("delivered", 0),
            early_deliveries=tracker.delivered,
            errors=dict(tracker.errors), rejected=tracker.rejected,
            unanswered=tracker.unanswered,
            complete=stored_ok and sent == o.pending and stored == sent,
            seconds=round(seconds, 3),
            throughput=round(sent / seconds, 1) if seconds > 0 else None,
            latency_ms=latency_summary(tracker.reply_latencies))
        store.update(meter.figures(sent))

        # The drain: latency of each message is counted from the login.
        back = self.new_client(index, name)
        await back.open(o.host, o.port)
        meter = Meter(self.sampler)
        meter.start()
        tracker.base_ns = meter.t0_ns
        tracker.latencies = []
        before = tracker.delivered
        await back.login(o.password, register=False)
        complete = await wait_until(
            lambda: tracker.undelivered == 0, tracker,
            o.stall_timeout, o.phase_timeout)
        meter.stop()
        seconds = (tracker.last_event_ns - meter.t0_ns) / 1e9
        drained = tracker.delivered - before
        drain = self.record(
            "drain", pending=sent, delivered=drained, lost=tracker.lost,
            duplicated=tracker.duplicated, stray=tracker.stray,
            not_offline=drained - tracker.offline_flagged,
            complete=complete, seconds=round(seconds, 3),
            throughput=round(drained / seconds, 1) if seconds > 0 else None,
            latency_ms=latency_summary(tracker.latencies))
        drain.update(meter.figures(drained))
        drain["final_acks"] = await self.ack_everything([back])
        back.close()
        return [store, drain]

    async def close_all(self):
        """Close every connection and give the server a moment to notice."""
        for c in self.clients.values():
            c.close()
        await asyncio.sleep(0.2)
