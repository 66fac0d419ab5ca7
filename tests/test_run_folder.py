"""What a run folder guarantees: one writer, damaged files reported by line, mixed configurations flagged."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.runs import MANIFEST, RESULTS, ResultStore, RunConfig, load_run
from tests.helpers import make_samples, run_store

ROOT = Path(__file__).resolve().parents[1]


def config(model, **changes) -> RunConfig:
    values = dict(model="echo", model_settings=model.settings(), prompt=PromptConfig(examples=False),
                  max_new_tokens=5, data={"source": "hand-made"})
    return RunConfig(**{**values, **changes})


def eval_command(out: Path, samples: int = 300, delay: float = 0.02) -> list[str]:
    return [sys.executable, "-m", "babilong", "eval", "--model", "echo", "--model-args", f"delay={delay}",
            "--tasks", "qa1", "--lengths", "0k", "--samples", str(samples), "--prompt", "bare",
            "--output", str(out), "--no-progress"]


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not path.exists() or path.read_text().count("\n") < count):
        time.sleep(0.05)


def test_a_second_writer_is_refused_naming_the_owner_and_a_dead_owners_lock_is_recovered(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(eval_command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_lines(out / RESULTS, 5)
        second = subprocess.run(eval_command(out), env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
        assert f"is being written by another babilong process (pid {first.pid} on " in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)  # dies holding the lock: the OS frees it
        first.wait()
    assert (out / ".lock.owner").exists()  # the dead owner's note is left behind ...
    resumed = subprocess.run(eval_command(out, delay=0), env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr  # ... and does not block the next writer
    keys = [json.loads(line)["key"] for line in (out / RESULTS).read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 300
    assert not (out / ".lock.owner").exists()


def test_one_writer_in_one_process_too(tmp_path):
    model = load_model("echo", {})
    with ResultStore(tmp_path, config(model)):
        with pytest.raises(BabilongError, match=f"{tmp_path} is being written by another babilong process \\(pid {os.getpid()}"):
            ResultStore(tmp_path, config(model))
    ResultStore(tmp_path, config(model)).close()  # released on close


def test_lines_of_another_configuration_are_flagged_and_left_out(tmp_path, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=3)
    run_store(tmp_path, samples, model, config(model))
    with (tmp_path / RESULTS).open("a") as handle:  # a second run wrote here at the same time
        for sample in samples:
            handle.write(json.dumps({"key": sample.key, "task": "qa1", "length": "0k", "status": "ok", "output": "x",
                                     "target": "x", "question": "?", "config_hash": "0123456789abcdef"}) + "\n")
    manifest, loaded = load_run(tmp_path)
    assert all(r["config_hash"] == manifest["config_hash"] for r in loaded.records.values())
    assert len(loaded.warnings) == 1
    assert "3 lines (first at line 4) belong to another configuration (0123456789abcdef" in loaded.warnings[0]
    assert main(["report", str(tmp_path)]) == 0
    assert "belong to another configuration" in capsys.readouterr().err
    assert run_store(tmp_path, samples, model, config(model)).skipped == 3


@pytest.mark.parametrize("bad_line", ['{"key": "qa1/0k/1", "status"', "[1, 2]", '{"status": "ok"}',
                                      '{"key": "qa1/0k/1", "status": "done"}', '{"key": "qa1/0k/1", "status": "ok"}',
                                      "\udcff"])
def test_a_malformed_line_is_reported_with_its_number_and_skipped(tmp_path, capsys, bad_line):
    model = load_model("echo", {})
    samples = make_samples(count=3)
    run_store(tmp_path, samples, model, config(model))
    path = tmp_path / RESULTS
    text = path.read_text().splitlines()
    text[1] = bad_line
    path.write_bytes(("\n".join(text) + "\n").encode("utf-8", "surrogateescape"))
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"{path}:2: " in err and "line skipped" in err and "Traceback" not in err
    summary = run_store(tmp_path, samples, model, config(model))
    assert (summary.skipped, summary.ok) == (2, 1)


def test_a_damaged_manifest_is_one_line_for_report_and_recovered_by_eval(tmp_path, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=2)
    run_store(tmp_path, samples, model, config(model))
    (tmp_path / MANIFEST).write_text('{\n  "config_hash": "abc",\n  "config": {oops')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"run manifest {tmp_path / MANIFEST} is not valid JSON at line 3" in err and err.count("\n") == 1
    summary = run_store(tmp_path, samples, model, config(model))  # every result says which run this is
    assert summary.skipped == 2 and "rewritten, since every stored result is of this configuration" in capsys.readouterr().err
    assert json.loads((tmp_path / MANIFEST).read_text())["config_hash"] == config(model).hash
    (tmp_path / MANIFEST).write_text("")
    with pytest.raises(BabilongError, match="is not valid JSON .*another configuration: choose another --output"):
        ResultStore(tmp_path, config(model, max_new_tokens=9))


def test_the_owner_note_holds_no_command_line(tmp_path, monkeypatch):
    """--model-args may carry an API key: the lock's owner note names the process, not its arguments."""
    secret = "sk-test-DO-NOT-STORE-77"
    monkeypatch.setattr(sys, "argv", ["babilong", "eval", "--model-args", f"api_key={secret}"])
    model = load_model("echo", {})
    with ResultStore(tmp_path, config(model)):
        owner = json.loads((tmp_path / ".lock.owner").read_text())
        assert owner["pid"] == os.getpid() and secret not in json.dumps(owner)
