"""The benchmark script runs end to end at a tiny size and finds nothing lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(90)
def test_imagine_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "imagine_bench.py"), "--n", "3", "--pending", "20",
         "--quick", "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=80,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    for heading in ("ack p50 / p99 ms", "delivered/lost/dup", "idle CPU % of a core", "targets"):
        assert heading in run.stdout, run.stdout
    report = json.loads(results.read_text())
    for flow in report["flows"]:
        assert flow["generations_accepted"] == flow["interactions"], flow
        assert (flow["lost"], flow["duplicated"], flow["unacknowledged"]) == (0, 0, 0), flow
        assert flow["delivered"] == flow["generations_accepted"], flow
        assert flow["log"]["tracebacks"] == 0, flow
        assert flow["exit_code"] == 0, flow
    ours, naive = report["pending"]
    assert ours["jobs_in_store"] == ours["generations"] == 20
    assert naive["generations"] == 20


@pytest.mark.timeout(120)
def test_web_gallery_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "web.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web_gallery_bench.py"), "--quick",
         "--store", "sqlite", "--requests", "5", "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "target: grid p99 < 50 ms" in run.stdout, run.stdout
    [report] = json.loads(results.read_text())
    assert report["shares"] == 1_000
    assert report["cases"]["grid new"]["tiles"] == 48
    assert report["cases"]["search"]["tiles"] > 0


@pytest.mark.timeout(90)
def test_imagine_bench_busy_channel_runs_at_a_tiny_size(tmp_path: Path) -> None:
    results = tmp_path / "busy.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "imagine_bench.py"), "--busy-only", "--quick",
         "--busy-rates", "4", "--busy-duration", "2", "--busy-naive-rate", "0",
         "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=80,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    for heading in ("busy channel", "images per message", "final status shown", "targets"):
        assert heading in run.stdout, run.stdout
    [flow] = json.loads(results.read_text())["busy"]
    assert flow["discord_limits"] and flow["rate_limited"] == 0, flow
    assert (flow["lost"], flow["duplicated"]) == (0, 0), flow
    assert flow["delivered"] == flow["generations_accepted"] == flow["interactions"] == 8, flow
    assert flow["final_statuses"] == flow["status_messages"] == 8, flow
    assert flow["log"]["tracebacks"] == 0 and flow["exit_code"] == 0, flow
