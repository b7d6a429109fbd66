"""ruff and mypy (configured in pyproject.toml) stay clean."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(300)
def test_ruff_check_and_format():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or "ruff"
    check = run(ruff, "check", ".")
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = run(ruff, "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


@pytest.mark.timeout(300)
def test_mypy_strict():
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(300)
def test_import_contracts():
    """The layers in pyproject.toml's [tool.importlinter] hold (type-only imports included)."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = run(lint, "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_another_in_a_circle():
    import grimp

    graph = grimp.build_graph("bot", "cogs")
    cycles = [
        (a, b)
        for a in graph.modules
        for b in graph.find_modules_directly_imported_by(a)
        if graph.chain_exists(importer=b, imported=a)
    ]
    assert cycles == []
