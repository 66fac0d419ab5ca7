"""The run store: append-only results, resume, corrupt lines, configuration identity, failures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.runs import RESULTS, ResultStore, RunConfig, read_results
from tests.helpers import make_samples, run_store

ROOT = Path(__file__).resolve().parents[1]


def config(model, **changes) -> RunConfig:
    values = dict(model="echo", model_settings=model.settings(), prompt=PromptConfig(examples=False),
                  max_new_tokens=5, data={"source": "hand-made"})
    return RunConfig(**{**values, **changes})


def run_once(directory, samples, model, cfg=None):
    return run_store(directory, samples, model, cfg or config(model))


def lines(directory):
    return [json.loads(line) for line in (directory / RESULTS).read_text().splitlines()]


def test_results_are_scored_stored_and_resumed_without_duplicates(tmp_path):
    model = load_model("echo", {})
    samples = make_samples(count=6)
    first = run_once(tmp_path, samples[:4], model)
    assert (first.ok, first.skipped) == (4, 0)
    second = run_once(tmp_path, samples, model)
    assert (second.ok, second.skipped) == (2, 4)
    records = lines(tmp_path)
    assert [r["key"] for r in records] == [s.key for s in samples]
    for record, sample in zip(records, samples):
        assert record["status"] == "ok" and record["output"] == sample.target
        assert record["scores"] == {"babilong": True, "reference": True}
        assert "<context>" in record["prompt"] and record["prompt_tokens"] > 0 and record["latency"] >= 0


def test_wrong_answers_are_scored_wrong(tmp_path):
    model = load_model("echo", {"reply": "garden"})
    run_once(tmp_path, make_samples(count=3), model)
    assert [r["scores"]["babilong"] for r in lines(tmp_path)] == [False, True, False]


def test_a_changed_configuration_is_a_different_run(tmp_path):
    model = load_model("echo", {})
    run_once(tmp_path, make_samples(count=2), model)
    for change in ({"prompt": PromptConfig()}, {"max_new_tokens": 9}, {"model_settings": {"reply": "x"}}):
        with pytest.raises(BabilongError, match="another configuration"):
            ResultStore(tmp_path, config(model, **change))
    assert config(model).hash == config(model).hash
    assert config(model, prompt=PromptConfig()).hash != config(model).hash


def test_corrupt_line_is_skipped_with_a_warning_naming_it_and_rerun(tmp_path, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=3)
    run_once(tmp_path, samples, model)
    path = tmp_path / RESULTS
    text = path.read_text().splitlines()
    text[1] = text[1][:40]  # a damaged line in the middle
    path.write_text("\n".join(text) + "\n")
    assert read_results(path).warnings == [f"{path}:2: not JSON: line skipped, its sample will be run again"]
    summary = run_once(tmp_path, samples, model)
    assert f"{path}:2: not JSON" in capsys.readouterr().err
    assert (summary.ok, summary.skipped) == (1, 2)
    assert set(read_results(path).done()) == {s.key for s in samples}


def test_a_torn_last_line_is_cut_and_its_sample_rerun(tmp_path, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=3)
    run_once(tmp_path, samples, model)
    path = tmp_path / RESULTS
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])  # the last line lost its end mid-write
    summary = run_once(tmp_path, samples, model)
    assert "unfinished last line" in capsys.readouterr().err
    assert (summary.ok, summary.skipped) == (1, 2)
    assert [r["key"] for r in lines(tmp_path)] == [s.key for s in samples]


def test_too_long_samples_are_recorded_not_truncated_and_warned_once(tmp_path, capsys):
    model = load_model("echo", {"context_window": "200"})
    short = make_samples(count=2)
    long = make_samples(count=4, filler="word " * 300)[2:]
    summary = run_once(tmp_path, short + long, model)
    assert (summary.ok, summary.too_long) == (2, 2)
    records = {r["key"]: r for r in lines(tmp_path)}
    assert [records[s.key]["status"] for s in short + long] == ["ok", "ok", "too_long", "too_long"]
    too_long = records[long[0].key]
    assert too_long["output"] is None and too_long["prompt_tokens"] > 200 and "context window 200" in too_long["error"]
    assert capsys.readouterr().err.count("recorded as too_long") == 1
    assert run_once(tmp_path, short + long, model).skipped == 4  # too_long is final, not retried


def test_errored_samples_are_retried_on_resume(tmp_path):
    model = load_model("echo", {})
    samples = make_samples(count=2)
    cfg = config(model)
    (tmp_path / RESULTS).parent.mkdir(exist_ok=True)
    ResultStore(tmp_path, cfg).close()
    with (tmp_path / RESULTS).open("a") as handle:
        handle.write(json.dumps({"key": samples[0].key, "status": "error", "error": "HTTP 503"}) + "\n")
    summary = run_once(tmp_path, samples, model, cfg)
    assert (summary.ok, summary.skipped) == (2, 0)
    assert read_results(tmp_path / RESULTS).records[samples[0].key]["status"] == "ok"


def test_duplicate_sample_keys_are_refused(tmp_path):
    model = load_model("echo", {})
    with pytest.raises(BabilongError, match="share the key qa1/0k/0"):
        run_once(tmp_path, make_samples(count=1) * 2, model)


def test_unwritable_output_is_a_clean_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(BabilongError, match="cannot write .*a-file"):
        run_once(blocker / "run", make_samples(count=1), load_model("echo", {}))


def test_permission_denied_is_a_clean_error(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(BabilongError, match="permission denied; choose a writable --output"):
        run_once(tmp_path / "run", make_samples(count=1), load_model("echo", {}))


def test_disk_full_mid_run_is_a_clean_error_and_keeps_earlier_results(tmp_path, monkeypatch):
    import babilong.runs as runs

    model = load_model("echo", {})
    samples = make_samples(count=5)
    real_write, writes = os.write, []

    def write_until_full(fd, data):
        writes.append(fd)
        if len(writes) > 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(runs.os, "write", write_until_full)
    with pytest.raises(BabilongError, match="the disk is full; results so far are kept"):
        run_once(tmp_path, samples, model)
    monkeypatch.undo()
    assert [r["key"] for r in lines(tmp_path)] == [s.key for s in samples[:2]]
    assert run_once(tmp_path, samples, model).skipped == 2


def test_kill_9_mid_run_loses_and_duplicates_nothing(tmp_path):
    """A real subprocess killed with SIGKILL, then resumed: every sample once, as a fresh run gives."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "babilong", "eval", "--model", "echo", "--model-args", "delay=0.01",
               "--tasks", "qa1", "--lengths", "0k", "--samples", "150", "--prompt", "bare",
               "--output", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / RESULTS
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 20):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = results.read_text().count("\n")
    assert 20 <= killed_at < 150
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    keys = [r["key"] for r in lines(out)]
    assert len(keys) == len(set(keys)) == 150
    fresh = tmp_path / "fresh"
    subprocess.run([*command[:-2], str(fresh), "--no-progress"], env=env, capture_output=True, timeout=120, check=True)
    strip = lambda r: {k: v for k, v in r.items() if k != "latency"}  # noqa: E731
    assert sorted(map(json.dumps, map(strip, lines(out)))) == sorted(map(json.dumps, map(strip, lines(fresh))))


def test_samples_are_built_as_the_model_has_room_not_up_front(tmp_path, monkeypatch):
    from babilong import pipeline

    model = load_model("echo", {})  # answers one prompt at a time
    samples = make_samples(count=4)
    events = []

    def planned(sample):
        return pipeline.Planned(sample.key, lambda: events.append(f"build {sample.index}") or sample)

    store = ResultStore(tmp_path, config(model))
    real_append = store.append
    monkeypatch.setattr(store, "append", lambda record: events.append(f"store {record['index']}") or real_append(record))
    try:
        summary = pipeline.evaluate([planned(s) for s in samples], model, config(model), store, progress=False)
    finally:
        store.close()
    assert summary.ok == 4
    assert events == ["build 0", "store 0", "build 1", "store 1", "build 2", "store 2", "build 3", "store 3"]
