# -*- test-case-name: tests.test_workers -*-
"""
Child processes that do not outlive the server that started them.
"""

import sys

# Run by the child before it becomes the real program: on Linux, ask the
# kernel to send SIGTERM to it when its parent dies, so a server killed with
# SIGKILL leaves no orphan redis-server or worker behind.  The child also
# leaves the terminal's process group: Ctrl-C reaches the parent only, which
# then stops its children in order.
_EXEC_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "os.setpgid(0, 0)\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() == 1:\n"
    "    sys.exit(1)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def dyingWithParent(argv, umask=None):
    """
    The argument list that runs C{argv} (an executable and its arguments)
    so that it is terminated when its parent process dies.

    @param umask: if given, the child's umask (so that the files it makes
        have no more permissions than it leaves, whatever the parent's).
    """
    code = _EXEC_WITH_PARENT
    if umask is not None:
        code = "import os\nos.umask(0o%o)\n" % (umask,) + code
    return [sys.executable, "-c", code] + list(argv)
