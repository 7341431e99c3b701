#!/usr/bin/env python3
"""
The load generator: one process, one event loop, N client connections.

Runs the phases of phases.py against one server that is already running
(run.py starts the servers and calls this in a subprocess, so that the
generator's CPU is never mixed with the server's) and writes one JSON line
per phase.

    python bench/loadgen.py --kind chatroom --port 8889 --server-pid 1234
    python bench/loadgen.py --kind inspircd --port 6667 --server-pid 4321
"""

import argparse
import asyncio
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import adapters  # noqa: E402
import phases  # noqa: E402
import procstat  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402

# Full-size defaults, as in issue 7.
DEFAULTS = dict(clients=2000, messages=20000, window=200, groups=20,
                group_size=50, group_messages=2000, pending=10000)
# --smoke: a few seconds in all, for CI.
SMOKE = dict(clients=20, messages=200, window=20, groups=2, group_size=5,
             group_messages=20, pending=100)


def add_workload_options(parser):
    """The options shared by loadgen.py and run.py."""
    g = parser.add_argument_group("workload")
    g.add_argument("--clients", "-N", type=int,
                   help=f"clients to connect (default {DEFAULTS['clients']})")
    g.add_argument("--messages", "-M", type=int,
                   help="p2p messages (default %d)" % DEFAULTS["messages"])
    g.add_argument("--window", type=int,
                   help="p2p and store messages in flight (default %d)"
                   % DEFAULTS["window"])
    g.add_argument("--groups", "-G", type=int,
                   help="groups (default %d)" % DEFAULTS["groups"])
    g.add_argument("--group-size", "-S", type=int,
                   help="members per group (default %d)"
                   % DEFAULTS["group_size"])
    g.add_argument("--group-messages", "-K", type=int,
                   help="group messages (default %d)"
                   % DEFAULTS["group_messages"])
    g.add_argument("--pairs", type=int, default=None,
                   help="p2p messages go between this many fixed pairs "
                        "of users, picked at random once (default: a new "
                        "random pair for each message, so nearly every "
                        "message is the first of its conversation)")
    g.add_argument("--group-window", type=int, default=None,
                   help="group messages in flight (default: window/10, "
                        "each fans out to S-1 deliveries)")
    g.add_argument("--pending", "-P", type=int,
                   help="messages pending for the offline user (default %d)"
                   % DEFAULTS["pending"])
    g.add_argument("--drain-senders", type=int, default=10,
                   help="users sending to the offline user (default 10)")
    g.add_argument("--text-bytes", type=int, default=64,
                   help="pad message texts to this length (default 64)")
    g.add_argument("--ack-every", type=int, default=50,
                   help="ack a conversation every this many messages "
                        "(default 50; 0 = only at phase end)")
    g.add_argument("--connect-concurrency", type=int, default=200,
                   help="connections/logins or joins in progress at once "
                        "(default 200)")
    g.add_argument("--warmup", type=int, default=50,
                   help="throw-away logins before the connect phase, so "
                        "the server's one-time allocations are not counted "
                        "per connection (default 50)")
    g.add_argument("--keepalive", type=float, default=30.0,
                   help="ping from clients silent for this many seconds "
                        "(default 30; 0 = never)")
    g.add_argument("--password", default="pw",
                   help="password of every benchmark user")
    g.add_argument("--stall-timeout", type=float, default=15.0,
                   help="seconds without progress after which the missing "
                        "messages count as lost (default 15)")
    g.add_argument("--phase-timeout", type=float, default=600.0,
                   help="hard limit per phase in seconds (default 600)")
    g.add_argument("--seed", type=int, default=7,
                   help="random seed for pairs and senders")
    g.add_argument("--phases", default="connect,p2p,group,offline",
                   help="comma-separated phases to run (connect is always "
                        "run; default all)")
    g.add_argument("--smoke", action="store_true",
                   help="tiny sizes that run in seconds (CI)")
    return parser


def finish_options(o):
    """Fill sizes from --smoke or the defaults where not given."""
    base = SMOKE if o.smoke else DEFAULTS
    for key, value in base.items():
        if getattr(o, key) is None:
            setattr(o, key, value)
    if o.group_window is None:
        o.group_window = max(1, o.window // 10)
    if o.smoke:
        o.stall_timeout = min(o.stall_timeout, 10.0)
    return o


def labelled_pid(text):
    """Parse C{--extra-pid LABEL=PID} into (label, pid)."""
    label, _, pid = text.rpartition("=")
    if not label or not pid.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=PID, not {text!r}")
    return label, int(pid)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=sorted(adapters.ADAPTERS),
                   default="chatroom", help="protocol of the server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, default=None,
                   help="pid of the server, for CPU and memory figures "
                        "(its child processes are counted too)")
    p.add_argument("--extra-pid", action="append", default=[],
                   metavar="LABEL=PID", type=labelled_pid,
                   help="a process outside the server's tree counted as "
                        "part of the server under LABEL (repeatable; "
                        "run.py passes each Redis Cluster master as "
                        "redis-server:PORT=PID)")
    p.add_argument("--run-id", default=None,
                   help="tag making user names unique (default: random)")
    p.add_argument("--json-out", default=None,
                   help="write the JSON lines here instead of stdout")
    p.add_argument("--no-table", action="store_true",
                   help="do not print the human table")
    add_workload_options(p)
    o = finish_options(p.parse_args(argv))
    if o.run_id is None:
        o.run_id = secrets.token_hex(3)
    return o


async def run_bench(o):
    """Run the phases; return the list of records."""
    bench = phases.Bench(o, adapters.ADAPTERS[o.kind],
                         procstat.TreeSampler(o.server_pid,
                                              dict(o.extra_pid)))
    wanted = set(o.phases.split(","))
    pairs = f", {o.pairs} pairs" if o.pairs else ""
    steps = [("connect", f"{o.clients} clients", bench.connect),
             ("p2p", f"{o.messages} messages, window {o.window}{pairs}",
              bench.p2p),
             ("group", f"{o.groups} x {o.group_size} members, "
                       f"{o.group_messages} messages", bench.group),
             ("offline", f"{o.pending} pending messages", bench.offline)]
    records = []
    keepalive = asyncio.ensure_future(bench.keepalive())
    try:
        for name, what, step in steps:
            if name != "connect" and name not in wanted:
                continue
            bench.log(f"{name}: {what}")
            try:
                result = await step()
            except Exception as e:
                # Report the failure as a record (run.py fails on it) and
                # stop: later phases depend on this one's state.
                bench.log(f"{name} failed: {e!r}")
                records.append(bench.record(name, error=repr(e)[:500]))
                break
            records.extend(result if isinstance(result, list) else [result])
            if name == "connect" and not bench.clients:
                break
    finally:
        keepalive.cancel()
        await bench.close_all()
    if bench.foreign and records:
        bench.log(f"{bench.foreign} messages of no known phase received")
        records[-1]["foreign"] = bench.foreign
    return records


def main(argv=None):
    o = parse_args(argv)
    servers.raise_fd_limit()
    try:
        import uvloop
        runner = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    print(f"[{o.kind}] generator pid {os.getpid()} on {loop_name}",
          file=sys.stderr, flush=True)
    records = runner(run_bench(o))
    for rec in records:
        rec["loop"] = loop_name
        rec["options"] = {k: getattr(o, k) for k in
                          ("clients", "messages", "window", "groups",
                           "group_size", "group_messages", "group_window",
                           "pending", "text_bytes", "ack_every",
                           "pairs")}
    if not o.no_table:
        print(report.table(records))
    if o.json_out:
        with open(o.json_out, "w") as f:
            f.write(report.json_lines(records))
    else:
        sys.stdout.write(report.json_lines(records))
    bad = [p for r in records for p in report.problems(r)]
    for line in bad:
        print("PROBLEM:", line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
