"""
The benchmark's smoke run (tiny sizes, a few seconds): the generator, the
server it starts and the loss/duplicate checks all still work.  CI runs only
this, never the full load.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_smoke_runs_clean(tmp_path):
    out = tmp_path / "smoke.jsonl"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke", "--only", "chatroom",
         "--json-out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    phases = {line.split('"phase": "')[1].split('"')[0] for line in out.read_text().splitlines() if '"phase"' in line}
    assert {"connect", "p2p", "group", "drain"} <= phases
