"""
Turn phase records (dicts, one JSON line each) into the human report.

Used by loadgen.py for one server and by run.py for the side-by-side
table with chatroom/InspIRCd ratios.
"""

import json

PHASES = ("connect", "p2p", "group", "store", "drain")


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
    for rec in sorted(records, key=lambda r: (order.get(r["phase"], 99),
                                              r["server"] != "chatroom")):
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


def ratios(records, a="chatroom", b="inspircd"):
    """
    Return [(phase, label, a value, b value, a/b)] for phases both ran.

    The "connect" phase divides CPU by connections, not deliveries.
    """
    by = {(r["server"], r["phase"]): r for r in records}
    out = []
    for phase in PHASES:
        ra, rb = by.get((a, phase)), by.get((b, phase))
        if not ra or not rb or ra.get("na") or rb.get("na"):
            continue
        for label, field in RATIO_FIELDS:
            va, vb = ra.get(field), rb.get(field)
            if va is None and vb is None:
                continue
            if phase == "connect":
                label = label.replace("per delivery", "per connection")
            out.append((phase, label, va, vb, _ratio(va, vb)))
    return out


def ratio_table(records, a="chatroom", b="inspircd"):
    """The ratios as text, or an empty string if only one server ran."""
    rows = ratios(records, a, b)
    if not rows:
        return ""
    lines = [f"{'phase':>8} {'figure':<28} {a:>10} {b:>10} {a + '/' + b:>18}"]
    for phase, label, va, vb, r in rows:
        lines.append(f"{phase:>8} {label:<28} {_fmt(va):>10} {_fmt(vb):>10} "
                     f"{_fmt(r, 2):>18}")
    return "\n".join(lines)


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
    extra = ratio_table(records)
    if extra:
        print("\n" + extra)
    bad = [p for r in records for p in problems(r)]
    for line in bad:
        print("PROBLEM:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
