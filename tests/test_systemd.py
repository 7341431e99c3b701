"""
contrib/chatroom.service: systemd accepts it (C{systemd-analyze verify},
with its C{twistd} pointed at this virtualenv's) and rates its confinement
well (C{systemd-analyze security --offline}); it runs the server as the
docs say.  Skipped where systemd-analyze is not installed (.ci/run
installs it).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT = os.path.join(ROOT, "contrib", "chatroom.service")
INSTALLED = "/opt/chatroom/bin/twistd"

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed (Debian: apt-get install systemd)")


@pytest.fixture
def unit(tmp_path):
    """
    The unit, with ExecStart pointing at this virtualenv's twistd (verify
    checks that the program exists).
    """
    with open(UNIT, encoding="utf-8") as f:
        text = f.read()
    assert INSTALLED in text
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    path = tmp_path / "chatroom.service"
    path.write_text(text.replace(INSTALLED, twistd), encoding="utf-8")
    return str(path)


def test_verify(unit):
    done = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
    # Unknown keys and misplaced settings are only warnings: none at all.
    assert done.returncode == 0 and done.stdout + done.stderr == "", done.stdout + done.stderr


def test_security_exposure(unit):
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                          capture_output=True, text=True, timeout=60)
    if "--offline" in done.stderr and done.returncode != 0:
        pytest.skip("this systemd-analyze has no --offline")
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert level, done.stdout + done.stderr
    # 0 is fully confined, 10 not at all; systemd calls below 2 "OK".
    assert float(level.group(1)) < 2.0, done.stdout


def test_runs_the_server_as_documented():
    with open(UNIT, encoding="utf-8") as f:
        settings = dict(line.split("=", 1) for line in f.read().splitlines()
                        if "=" in line and not line.startswith("#"))
    assert settings["ExecStart"] == (INSTALLED + " -n --pidfile= chatroom --config /etc/chatroom/chatroom.toml "
                                     "--data-dir /var/lib/chatroom")
    for key, value in [("StateDirectory", "chatroom"), ("UMask", "0077"), ("ProtectSystem", "strict"),
                       ("NoNewPrivileges", "yes"), ("Restart", "on-failure"), ("User", "chatroom"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes")]:
        assert settings[key] == value, key
