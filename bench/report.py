"""
Turn phase records (dicts, one JSON line each) into the human report.

Used by loadgen.py for one server and by run.py for the side-by-side
table with the chatroom/InspIRCd and chatroom/floor ratios.
"""

import json

PHASES = ("connect", "p2p", "group", "store", "drain")
SERVERS = ("chatroom", "websocket", "floor", "inspircd")
#: The phases whose chatroom/floor ratio is the floor's point.
FLOOR_PHASES = ("p2p", "group")
#: How run.py labels each Redis Cluster master in the CPU split
#: (C{server_cpu_s_by_process}): this prefix and the master's port.
MASTER_PREFIX = "redis-server:"
#: A master's share of a Redis Cluster's p2p work that counts as even,
#: with N masters: 1/N plus or minus this.
EVEN_SHARE = 0.10
#: Below this much Redis CPU in a phase (seconds, read in 10 ms ticks),
#: the masters' shares say nothing (a --smoke run).
MIN_SHARE_CPU_S = 0.5


def problems(rec):
    """
    Return what is wrong with a phase record (empty list if nothing).

    A benchmark that loses or duplicates messages has measured nothing
    worth reporting, so run.py exits non-zero on any of these.
    """
    out = []
    if rec.get("na") or rec.get("skipped"):
        return out
    for field in ("lost", "duplicated", "stray", "failed", "rejected",
                  "unanswered", "not_offline", "delivered_while_offline",
                  "early_deliveries"):
        if rec.get(field):
            out.append(f"{rec['server']} {rec['phase']}: "
                       f"{field}={rec[field]}")
    if rec.get("error"):
        out.append(f"{rec['server']} {rec['phase']}: {rec['error']}")
    if rec.get("complete") is False:
        out.append(f"{rec['server']} {rec['phase']}: incomplete "
                   f"(sent {rec.get('sent')})")
    if rec.get("errors"):
        out.append(f"{rec['server']} {rec['phase']}: errors "
                   f"{rec['errors']}")
    return out


def _fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _count(rec):
    """What a phase counts: deliveries, connections or stored messages."""
    for field in ("delivered", "connected", "stored"):
        if field in rec:
            return rec[field]
    return None


COLUMNS = [
    ("phase", 8, lambda r: r["phase"]),
    ("server", 9, lambda r: r["server"]),
    ("count", 7, lambda r: _fmt(_count(r))),
    ("secs", 7, lambda r: _fmt(r.get("seconds"), 2)),
    ("per sec", 9, lambda r: _fmt(r.get("throughput"), 0)),
    ("p50 ms", 8, lambda r: _fmt((r.get("latency_ms") or {}).get("p50"), 2)),
    ("p99 ms", 8, lambda r: _fmt((r.get("latency_ms") or {}).get("p99"), 2)),
    ("max ms", 8, lambda r: _fmt((r.get("latency_ms") or {}).get("max"), 1)),
    ("lost", 5, lambda r: _fmt(r.get("lost"))),
    ("dup", 4, lambda r: _fmt(r.get("duplicated"))),
    ("srv us/msg", 10, lambda r: _fmt(r.get("server_cpu_us_per_msg"))),
    ("KB/conn", 8, lambda r: _fmt(r.get("kb_per_conn"), 2)),
    ("gen us/msg", 10, lambda r: _fmt(r.get("gen_cpu_us_per_msg"))),
]


def table(records):
    """A fixed-width table, one row per record, phases in run order."""
    head = " ".join(name.rjust(width) for name, width, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    order = {p: i for i, p in enumerate(PHASES)}
    servers = {s: i for i, s in enumerate(SERVERS)}
    for rec in sorted(records, key=lambda r: (order.get(r["phase"], 99),
                                              servers.get(r["server"], 9))):
        note = rec.get("na") or rec.get("skipped") or rec.get("error")
        if note:
            label = "failed" if rec.get("error") else "n/a"
            lines.append(f"{rec['phase']:>8} {rec['server']:>9}  {label}: "
                         f"{note[:90]}")
            continue
        lines.append(" ".join(str(get(rec)).rjust(width)
                              for _, width, get in COLUMNS))
    return "\n".join(lines)


def _ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


RATIO_FIELDS = (
    ("server CPU us per delivery", "server_cpu_us_per_msg"),
    ("server KB per connection", "kb_per_conn"),
    ("throughput (per second)", "throughput"),
)


def _cpu_share(redis):
    """A getter: server CPU per delivery of redis-server (C{redis}) or of
    the other processes of the tree, in microseconds."""
    def get(rec):
        by, count = rec.get("server_cpu_s_by_process"), _count(rec)
        if not by or not count:
            return None
        return sum(v for name, v in by.items()
                   if name.startswith("redis") == redis) * 1e6 / count
    return get


#: The chatroom/floor table adds the split of the CPU between the server
#: process and its redis-server.
FLOOR_RATIO_FIELDS = (
    ("server CPU us per delivery", "server_cpu_us_per_msg"),
    ("  of which server process", _cpu_share(False)),
    ("  of which redis-server", _cpu_share(True)),
    ("throughput (per second)", "throughput"),
)


def _value(rec, field):
    return field(rec) if callable(field) else rec.get(field)


def ratios(records, a="chatroom", b="inspircd", phases=PHASES,
           fields=RATIO_FIELDS):
    """
    Return [(phase, label, a value, b value, a/b)] for phases both ran.

    The "connect" phase divides CPU by connections, not deliveries.
    """
    by = {(r["server"], r["phase"]): r for r in records}
    out = []
    for phase in phases:
        ra, rb = by.get((a, phase)), by.get((b, phase))
        if not ra or not rb or ra.get("na") or rb.get("na"):
            continue
        for label, field in fields:
            va, vb = _value(ra, field), _value(rb, field)
            if va is None and vb is None:
                continue
            if phase == "connect":
                label = label.replace("per delivery", "per connection")
            out.append((phase, label, va, vb, _ratio(va, vb)))
    return out


def _cpu_per_delivery(rec):
    """Server CPU per delivery in microseconds, unrounded when possible."""
    if not rec or rec.get("na") or rec.get("error"):
        return None
    cpu, count = rec.get("server_cpu_s"), rec.get("delivered")
    if cpu is not None and count:
        return cpu * 1e6 / count
    return rec.get("server_cpu_us_per_msg")


def floor_ratios(records, a="chatroom", b="floor"):
    """
    Return {phase: a's server CPU per delivery / b's} for the p2p and
    group phases both ran (server and redis-server CPU together).
    """
    by = {(r["server"], r["phase"]): r for r in records}
    out = {}
    for phase in FLOOR_PHASES:
        r = _ratio(_cpu_per_delivery(by.get((a, phase))),
                   _cpu_per_delivery(by.get((b, phase))))
        if r is not None:
            out[phase] = round(r, 3)
    return out


def redis_floor_ratios(records, a="chatroom", b="floor"):
    """
    Return {phase: (a's redis-server CPU per delivery, b's, a/b)} in
    microseconds, for the p2p and group phases both ran.

    The floor stores each message with exactly one bare C{XADD} of the
    same message in the same run, so the p2p figure is what chatroom's
    Redis does per durable direct message, in units of that XADD.
    """
    by = {(r["server"], r["phase"]): r for r in records}
    redis = _cpu_share(True)
    out = {}
    for phase in FLOOR_PHASES:
        ra, rb = by.get((a, phase)), by.get((b, phase))
        if not ra or not rb or ra.get("na") or rb.get("na"):
            continue
        va, vb = redis(ra), redis(rb)
        r = _ratio(va, vb)
        if r is not None:
            out[phase] = (va, vb, r)
    return out


def mark_floor_ratios(records, a="chatroom", b="floor"):
    """Add C{server_cpu_vs_floor} and C{redis_cpu_vs_floor} to C{a}'s
    p2p and group records."""
    found = floor_ratios(records, a, b)
    redis = redis_floor_ratios(records, a, b)
    for rec in records:
        if rec["server"] == a and rec["phase"] in found:
            rec["server_cpu_vs_floor"] = found[rec["phase"]]
        if rec["server"] == a and rec["phase"] in redis:
            rec["redis_cpu_vs_floor"] = round(redis[rec["phase"]][2], 3)
    return found


def floor_line(records, a="chatroom", b="floor"):
    """
    C{"chatroom / floor: p2p 1.02x, group 1.08x"} (server CPU per
    delivery), or an empty string when the two did not both run.
    """
    found = floor_ratios(records, a, b)
    if not found:
        return ""
    return f"{a} / {b}: " + ", ".join(
        f"{phase} {r:.2f}x" for phase, r in found.items())


def redis_floor_line(records, a="chatroom", b="floor"):
    """
    C{"redis-floor: p2p chatroom redis 16.3 us vs bare XADD 7.2 us ->
    2.26 x"}: the Redis work per durable direct message, or an empty
    string when the two did not both run.
    """
    found = redis_floor_ratios(records, a, b).get("p2p")
    if not found:
        return ""
    va, vb, r = found
    return (f"redis-floor: p2p {a} redis {va:.1f} us vs bare XADD "
            f"{vb:.1f} us -> {r:.2f} x")


def _masters(rec):
    """{port: CPU seconds} of the Redis Cluster masters in a record."""
    return {name[len(MASTER_PREFIX):]: v for name, v in
            (rec.get("server_cpu_s_by_process") or {}).items()
            if name.startswith(MASTER_PREFIX)}


def cluster_rows(rec):
    """
    Return [(port, CPU seconds, us per delivery, share)] for each Redis
    Cluster master in a phase record (empty if it ran on one Redis).
    """
    masters, count = _masters(rec), _count(rec)
    total = sum(masters.values())
    return [(port, cpu, cpu * 1e6 / count if count else None,
             cpu / total if total else None)
            for port, cpu in sorted(masters.items())]


def cluster_ceiling(rec):
    """
    Return (per core, ideal, busiest) for a phase on a Redis Cluster:
    units (deliveries) per second one core of Redis carries at the
    masters' total CPU per unit, that times the number of masters (the
    ceiling with the work spread evenly), and the ceiling the busiest
    master actually sets (it saturates its core first). None if the
    record has no masters or no CPU.
    """
    rows = cluster_rows(rec)
    total = sum(cpu for _, cpu, _, _ in rows)
    busiest = max((cpu for _, cpu, _, _ in rows), default=0)
    count = _count(rec)
    if not rows or not total or not count:
        return None
    per_core = count / total
    return per_core, per_core * len(rows), count / busiest


def cluster_report(records, server="chatroom"):
    """
    Per Redis Cluster master and phase: Redis CPU per delivery and the
    master's share of the Redis work, then the throughput ceiling of the
    p2p and group phases; an empty string when no phase ran on a cluster.
    """
    order = {p: i for i, p in enumerate(PHASES)}
    recs = sorted((r for r in records if r["server"] == server
                   and cluster_rows(r)),
                  key=lambda r: order.get(r["phase"], 99))
    if not recs:
        return ""
    n = len(cluster_rows(recs[0]))
    lines = [f"\nRedis Cluster, {n} master{'s' if n != 1 else ''}: "
             "Redis CPU per delivery "
             "(connect: per connection) and each master's share",
             f"{'phase':>8} {'master':>8} {'cpu s':>8} {'us/msg':>8} "
             f"{'share':>7}"]
    for rec in recs:
        for port, cpu, per, share in cluster_rows(rec):
            share = "n/a" if share is None else f"{share * 100:.1f}%"
            lines.append(f"{rec['phase']:>8} {port:>8} {cpu:>8.2f} "
                         f"{_fmt(per, 2):>8} {share:>7}")
    for rec in recs:
        if rec["phase"] not in FLOOR_PHASES:
            continue
        ceiling = cluster_ceiling(rec)
        if ceiling is None:
            continue
        per_core, ideal, busiest = ceiling
        unit = "deliveries"
        line = (f"{rec['phase']}: Redis ceiling {per_core:,.0f} {unit}/s "
                f"per Redis core x {n} master{'s' if n != 1 else ''} "
                f"= {ideal:,.0f}/s "
                f"(busiest master: {busiest:,.0f}/s)")
        fanout = rec.get("group_size")
        if rec["phase"] == "group" and fanout and fanout > 1:
            line += (f"; {ideal / (fanout - 1):,.0f} group messages/s "
                     f"of {fanout - 1} deliveries")
        lines.append(line)
        rows = cluster_rows(rec)
        shares = [share for _, _, _, share in rows]
        if rec["phase"] == "p2p" and None not in shares:
            uneven = [s for s in shares if abs(s - 1 / n) > EVEN_SHARE]
            verdict = "uneven" if uneven else "even"
            if sum(cpu for _, cpu, _, _ in rows) < MIN_SHARE_CPU_S:
                verdict = "too little CPU to tell"
            lines.append(
                f"p2p shares {', '.join(f'{s * 100:.0f}%' for s in shares)}"
                f": {verdict} (target "
                f"{100 / n:.0f}% +- {EVEN_SHARE * 100:.0f}% each)")
    return "\n".join(lines)


def ratio_table(records, a="chatroom", b="inspircd", phases=PHASES,
                fields=RATIO_FIELDS):
    """The ratios as text, or an empty string if only one server ran."""
    rows = ratios(records, a, b, phases, fields)
    if not rows:
        return ""
    lines = [f"{'phase':>8} {'figure':<28} {a:>10} {b:>10} {a + '/' + b:>18}"]
    for phase, label, va, vb, r in rows:
        lines.append(f"{phase:>8} {label:<28} {_fmt(va):>10} {_fmt(vb):>10} "
                     f"{_fmt(r, 2):>18}")
    return "\n".join(lines)


def ratio_report(records):
    """
    The chatroom/InspIRCd and chatroom/floor ratio tables and the one-line
    chatroom/floor summary: the text printed under the table (each part
    only if both of its servers ran).
    """
    parts = [ratio_table(records),
             ratio_table(records, "chatroom", "floor", FLOOR_PHASES,
                         FLOOR_RATIO_FIELDS),
             floor_line(records), redis_floor_line(records),
             websocket_line(records)]
    return "".join("\n" + part for part in parts if part)


def websocket_line(records):
    """
    C{"websocket / chatroom: p2p 1.10x (server process 1.15x), group
    ..."}: server CPU per delivery through the web port's WebSocket over
    the main port's, in total (redis-server included) and for the server
    process alone (where the transport's cost is); empty unless both ran.
    """
    by = {(r["server"], r["phase"]): r for r in records}
    process = _cpu_share(False)
    parts = []
    for phase in FLOOR_PHASES:
        ws, main = by.get(("websocket", phase)), by.get(("chatroom", phase))
        total = _ratio(_cpu_per_delivery(ws), _cpu_per_delivery(main))
        if total is None:
            continue
        alone = _ratio(process(ws), process(main))
        parts.append(f"{phase} {total:.2f}x" + (f" (server process {alone:.2f}x)" if alone else ""))
    if not parts:
        return ""
    return "websocket / chatroom: " + ", ".join(parts)


def json_lines(records):
    """One compact JSON object per line."""
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def main(argv=None):
    """
    Print the table and ratios of saved JSON lines again:

        python bench/report.py results.jsonl [more.jsonl ...]
    """
    import sys
    paths = (argv if argv is not None else sys.argv[1:]) or ["-"]
    records = []
    for path in paths:
        f = sys.stdin if path == "-" else open(path)
        with f:
            records += [json.loads(line) for line in f if line.strip()]
    print(table(records))
    print(ratio_report(records))
    cluster = cluster_report(records)
    if cluster:
        print(cluster)
    bad = [p for r in records for p in problems(r)]
    for line in bad:
        print("PROBLEM:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
