"""The test suite's own configuration: it runs the way the README says, and cannot pass unseen."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _plain_environment() -> dict[str, str]:
    """This environment less what would change how the inner pytest runs."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}


def test_plain_pytest_finds_the_test_helpers():
    """`.venv/bin/pytest` (not `python -m pytest`) does not put the repository on sys.path by itself."""
    pytest_script = Path(sys.executable).with_name("pytest")
    done = subprocess.run([str(pytest_script), "--collect-only", "-q", "-p", "no:cacheprovider", "tests/test_report.py"],
                          cwd=ROOT, env=_plain_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def test_a_parametrised_test_with_no_cases_fails(tmp_path):
    (tmp_path / "test_empty.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('case', [])\ndef test_nothing(case):\n    pass\n"
    )
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
                           "-p", "no:cacheprovider", str(tmp_path / "test_empty.py")],
                          cwd=tmp_path, env=_plain_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Empty parameter set" in done.stdout, done.stdout[-2000:]
