"""The openai backend against a local fault-injecting server: retries, timeouts, bad replies, death."""

import json
import socket

import pytest

from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.runs import RESULTS, RunConfig
from tests.fault_server import FaultServer
from tests.helpers import make_samples, run_store

SECRET = "sk-test-DO-NOT-STORE-4f9a1c"


def client(url, **extra):
    args = {"model": "fake", "base_url": url, "api_key": SECRET, "backoff": "0.01", "max_retries": "3",
            "timeout": "0.5", "concurrency": "2", **extra}
    return load_model("openai", args)


def run(model, directory, samples):
    return run_store(directory, samples, model, RunConfig("openai", model.settings(), PromptConfig(), 5, {"source": "hand-made"}))


def records(directory):
    return {r["key"]: r for r in map(json.loads, (directory / RESULTS).read_text().splitlines())}


@pytest.mark.parametrize("fault", ["429", "500", "slow", "garbage", "empty"])
def test_transient_faults_are_retried_until_an_answer(tmp_path, fault):
    with FaultServer([fault, fault, "ok"], slow_seconds=1.0) as server:
        model = client(server.url, concurrency="1")
        summary = run(model, tmp_path, make_samples(count=2))
    assert (summary.ok, summary.errors) == (2, 0)
    assert len(server.requests) == 4  # two failures, then one answer per sample
    assert all(r["scores"]["babilong"] for r in records(tmp_path).values())


def test_a_fault_that_persists_is_recorded_as_an_error_and_retried_next_time(tmp_path):
    samples = make_samples(count=2)
    with FaultServer(["500"]) as server:
        summary = run(client(server.url), tmp_path, samples)
    assert (summary.ok, summary.errors) == (0, 2)
    failed = records(tmp_path)[samples[0].key]
    assert failed["status"] == "error" and "gave up after 4 tries: HTTP 500" in failed["error"]
    with FaultServer(["ok"]) as server:
        summary = run(client(server.url), tmp_path, samples)
    assert (summary.ok, summary.skipped) == (2, 0)


def test_a_client_error_is_not_retried(tmp_path):
    with FaultServer(["400"]) as server:
        summary = run(client(server.url), tmp_path, make_samples(count=1))
    assert summary.errors == 1 and len(server.requests) == 1
    assert "HTTP 400" in records(tmp_path)["qa1/0k/0"]["error"]


def test_requests_carry_the_key_in_a_header_and_greedy_settings(tmp_path):
    with FaultServer(["ok"]) as server:
        run(client(server.url), tmp_path, make_samples(count=1))
    assert server.headers[0]["Authorization"] == f"Bearer {SECRET}"
    body = server.requests[0]
    assert body["temperature"] == 0.0 and body["max_tokens"] == 5 and body["model"] == "fake"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_completions_mode_sends_plain_text(tmp_path):
    with FaultServer(["ok"]) as server:
        summary = run(client(server.url, mode="completions"), tmp_path, make_samples(count=1))
    assert summary.ok == 1 and server.requests[0]["prompt"].endswith("Question: Where is Mary?")


def test_concurrency_is_bounded(tmp_path):
    with FaultServer(["slow"], slow_seconds=0.2) as server:
        summary = run(client(server.url, concurrency="3", timeout="5"), tmp_path, make_samples(count=9))
    assert summary.ok == 9 and server.peak == 3


def test_unreachable_server_is_a_clean_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BabilongError, match=f"cannot reach the server at http://127.0.0.1:{port}/v1"):
        client(f"http://127.0.0.1:{port}/v1")


def test_server_dying_mid_run_stops_cleanly_and_keeps_every_answer(tmp_path):
    samples = make_samples(count=12)
    server = FaultServer(["ok"]).__enter__()
    model = client(server.url, concurrency="1", max_retries="1")
    original = server.next_behaviour
    served = []

    def die_after_four(body, headers):
        served.append(1)
        if len(served) == 4:
            import threading

            threading.Thread(target=server.stop).start()
        return original(body, headers)

    server.next_behaviour = die_after_four
    with pytest.raises(BabilongError, match="stopped answering.*rerun the same command to resume"):
        run(model, tmp_path, samples)
    kept = records(tmp_path)
    answered = [k for k, r in kept.items() if r["status"] == "ok"]
    assert len(answered) >= 3 and all(kept[k]["output"] for k in answered)
    with FaultServer(["ok"]) as again:
        summary = run(client(again.url), tmp_path, samples)
    assert summary.skipped == len(answered) and summary.ok == 12 - len(answered)


def test_the_key_is_never_written_anywhere(tmp_path, monkeypatch, capsys):
    from babilong.report import report_runs

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FaultServer(["500", "ok"]) as server:
        model = load_model("openai", {"model": "fake", "base_url": server.url, "backoff": "0.01"})
        run(model, tmp_path / "run", make_samples(count=3))
    report_runs([tmp_path / "run"], None, tmp_path / "export")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 6
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in json.dumps(model.settings())
