"""
CPU time and resident memory of a process tree, read from /proc.

The chatroom server runs redis-server as a child process, so its cost is
the sum over the server and all its descendants; InspIRCd is a single
process. Linux only: elsewhere the readings are None and the report says
n/a.
"""

import os

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid):
    """Return the fields of /proc/PID/stat after the command name."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name is in parentheses and may hold spaces or ')'.
    return data[data.rindex(b")") + 2:].split()


def alive(pid):
    """True if C{pid} exists and is not a zombie."""
    try:
        return _stat_fields(pid)[0] != b"Z"
    except (OSError, ValueError, IndexError):
        return False


def process_tree(pid):
    """
    Return [pid] followed by every live descendant of C{pid}.

    /proc/PID/task/TID/children is not compiled into every kernel, so this
    scans the parent pid of every process instead (cheap enough: it runs a
    few times per phase, never inside the measured loop).
    """
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_stat_fields(entry)[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(parents.get(p, ()))
    return tree


def cpu_seconds(pid):
    """utime + stime of one process in seconds (children not included)."""
    fields = _stat_fields(pid)
    # Fields 14 and 15 of stat(5), counted from 1 with the pid as 1.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_kb(pid):
    """VmRSS of one process in kB (0 for a kernel thread or a zombie)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class TreeSampler:
    """
    Readings of CPU and memory for a server and its descendants.

    The set of processes is found again at each reading, so a redis-server
    started after the sampler was made is still counted.

    C{extra} maps a label to the pid of a process outside the tree that
    counts as part of the server (the masters of a Redis Cluster the
    server uses, labelled C{redis-server:PORT}): each is counted under its
    own label, so the report can show each one's share.
    """

    def __init__(self, pid, extra=None):
        self.pid = pid
        self.extra = dict(extra or {})

    def sample(self):
        """
        Return C{{"cpu_s", "rss_kb", "pids", "by_name"}} or None.

        C{by_name} maps each command name to [cpu seconds, rss kB], so the
        report can tell the server's own share from redis-server's.

        None when the server pid is unknown or not readable (for example a
        remote server given with --server and no --server-pid).
        """
        if self.pid is None or not alive(self.pid):
            return None
        cpu, rss, pids, by_name = 0.0, 0, [], {}
        tree = [(p, None) for p in process_tree(self.pid)]
        for p, label in tree + [(p, label) for label, p in
                                self.extra.items()]:
            try:
                seconds = cpu_seconds(p)
                kb = rss_kb(p)
                name = label or command_name(p)
            except (OSError, ValueError, IndexError):
                continue  # exited between listing and reading
            cpu += seconds
            rss += kb
            pids.append(p)
            entry = by_name.setdefault(name, [0.0, 0])
            entry[0] += seconds
            entry[1] += kb
        return {"cpu_s": cpu, "rss_kb": rss, "pids": pids,
                "by_name": by_name}


def command_name(pid):
    """The short command name of a process (twistd, redis-server, ...)."""
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def self_cpu_seconds():
    """CPU seconds (user + system) used by this process so far."""
    t = os.times()
    return t.user + t.system
