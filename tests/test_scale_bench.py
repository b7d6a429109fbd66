"""The scale-out benchmark runs end to end at a tiny size and finds nothing lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import URL_ENV

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_scale_bench_runs_at_a_tiny_size(tmp_path: Path, postgres_server) -> None:
    results = tmp_path / "scale.json"
    # The session's PostgreSQL: the bench makes its databases there instead of starting another.
    env = {"PATH": "/usr/bin:/bin", URL_ENV: postgres_server.admin_url}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale_bench.py"), "--quick", "--json",
         str(results), "--only", "sqlite-1-process", "postgres-3-processes"],
        cwd=ROOT, capture_output=True, text=True, timeout=110, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "images/s" in run.stdout and "delivery p50/p95/p99 ms" in run.stdout, run.stdout
    report = json.loads(results.read_text())
    assert [r["phase"] for r in report] == ["sqlite, 1 process", "postgres, 3 processes"]
    for phase in report:
        assert phase["delivered"] == phase["requests"] == 60, phase
        assert (phase["lost"], phase["duplicated"]) == (0, 0), phase
