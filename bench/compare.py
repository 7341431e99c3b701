#!/usr/bin/env python3
"""
Compare builds from saved runs of run.py (--json-out), run by run and by
median: what docs/performance.rst quotes.

    python bench/compare.py A=a1.jsonl,a2.jsonl B=b1.jsonl,b2.jsonl ...

Each argument is a label and that build's runs (one JSON lines file per
run, chatroom and the floor both in it). Per run it prints, for the p2p
and group phases, the server CPU per delivery of chatroom and of the
floor (total, server process, redis-server), the chatroom/floor ratios
(total and redis-server alone), chatroom's KB per connection and the
messages lost or duplicated in all phases; then the medians per build
and the ratio of each build's medians to the first build's.
"""

import json
import statistics
import sys

import report

def _by(records):
    return {(r["server"], r["phase"]): r for r in records}


def figures(records):
    """The figures of one run (a list of records) as a flat dict."""
    by = _by(records)
    out = {}
    redis, proc = report._cpu_share(True), report._cpu_share(False)
    for phase in report.FLOOR_PHASES:
        for server, short in (("chatroom", "c"), ("floor", "f")):
            rec = by.get((server, phase))
            if not rec:
                continue
            out[f"{phase}.{short}.cpu"] = report._cpu_per_delivery(rec)
            out[f"{phase}.{short}.proc"] = proc(rec)
            out[f"{phase}.{short}.redis"] = redis(rec)
        for kind in ("cpu", "redis"):
            a, b = out.get(f"{phase}.c.{kind}"), out.get(f"{phase}.f.{kind}")
            out[f"{phase}.ratio.{kind}"] = report._ratio(a, b)
    connect = by.get(("chatroom", "connect"))
    out["kb_per_conn"] = connect.get("kb_per_conn") if connect else None
    out["lost"] = sum(r.get("lost") or 0 for r in records)
    out["dup"] = sum(r.get("duplicated") or 0 for r in records)
    return out


COLUMNS = (
    [(f"{p} {s} {k}", f"{p}.{sh}.{k}") for p in report.FLOOR_PHASES
     for s, sh in (("chatroom", "c"), ("floor", "f"))
     for k in ("cpu", "proc", "redis")]
    + [(f"{p} c/f {k}", f"{p}.ratio.{k}") for p in report.FLOOR_PHASES
       for k in ("cpu", "redis")]
    + [("KB/conn", "kb_per_conn"), ("lost", "lost"), ("dup", "dup")])


def _fmt(v, key):
    if v is None:
        return "n/a"
    if ".ratio." in key:
        return f"{v:.2f}"
    if isinstance(v, float):
        return f"{v:.1f}" if key != "kb_per_conn" else f"{v:.2f}"
    return str(v)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv=None):
    argv = argv if argv is not None else sys.argv[1:]
    builds = []
    for arg in argv:
        label, _, paths = arg.partition("=")
        runs = []
        for path in paths.split(","):
            with open(path) as f:
                runs.append(figures([json.loads(line) for line in f
                                     if line.strip()]))
        builds.append((label, runs))
    if not builds:
        print(__doc__)
        return 2
    for name, key in COLUMNS:
        cells = []
        for label, runs in builds:
            values = [r.get(key) for r in runs]
            cells.append(f"{label}: " + " ".join(_fmt(v, key) for v in values)
                         + f" (median {_fmt(median(values), key)})")
        print(f"{name:<22} " + " | ".join(cells))
    base = builds[0]
    print()
    for label, runs in builds[1:]:
        parts = []
        for name, key in COLUMNS[:-2]:
            a, b = median([r.get(key) for r in runs]), median(
                [r.get(key) for r in base[1]])
            r = report._ratio(a, b)
            if r is not None:
                parts.append(f"{name} {r:.3f}")
        print(f"{label}/{base[0]} (medians): " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
