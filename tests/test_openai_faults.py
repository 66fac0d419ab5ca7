"""The openai backend against a local fault-injecting server: retries, timeouts, bad replies, death."""

import base64
import json
import re
import socket
import time
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from babilong.errors import BabilongError, ServerUnavailable
from babilong.models import load_model
from babilong.models.openai import key_forms, mask_secret
from babilong.prompts import PromptConfig
from babilong.runs import RESULTS, RunConfig
from tests.fault_server import FaultServer
from tests.helpers import make_samples, run_store

SECRET = "sk-test-DO-NOT-STORE-4f9a1c"


def client(url, **extra):
    args = {"model": "fake", "base_url": url, "api_key": SECRET, "backoff": "0.01", "max_retries": "3",
            "timeout": "5", "timeout_per_mtok": "0", "concurrency": "2", "budget_field": "max_tokens",
            "temperature": "0", **extra}
    return load_model("openai", args)


def run(model, directory, samples):
    return run_store(directory, samples, model, RunConfig("openai", model.settings(), PromptConfig(), 5, {"source": "hand-made"}))


def records(directory):
    return {r["key"]: r for r in map(json.loads, (directory / RESULTS).read_text().splitlines())}


@pytest.mark.parametrize("fault", ["429", "500", "slow", "garbage", "empty"])
def test_transient_faults_are_retried_until_an_answer(tmp_path, fault):
    with FaultServer([fault, fault, "ok"], slow_seconds=2.0) as server:
        model = client(server.url, concurrency="1", timeout="1")
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
    # Error texts that repeat the key: one not retried (HTTP 401), one retried until given up (HTTP 500).
    with FaultServer(["echo-key-401", "echo-key-500"]) as server:
        model = load_model("openai", {"model": "fake", "base_url": server.url, "backoff": "0.01", "concurrency": "1",
                                      "max_retries": "1", "budget_field": "max_tokens", "temperature": "0"})
        summary = run(model, tmp_path / "run", make_samples(count=3))
    assert summary.errors == 3
    report_runs([tmp_path / "run"], None, tmp_path / "export")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 6
    forms = [SECRET, quote(SECRET, safe=""), json.dumps(SECRET)[1:-1], base64.b64encode(SECRET.encode()).decode()]
    pieces = {form[i:i + 8] for form in forms for i in range(len(form) - 7)}
    for path in written:
        content = path.read_bytes()
        assert not any(piece.encode() in content for piece in pieces), path
    captured = capsys.readouterr()
    assert not any(piece in captured.out + captured.err for piece in pieces)
    assert SECRET not in json.dumps(model.settings())


# ---- deadlines, circuit breaker, Retry-After, jitter, the key in error texts -------------------


def test_a_server_dripping_one_byte_at_a_time_is_cut_off_at_the_deadline(tmp_path):
    with FaultServer(["drip"], drip_seconds=0.05) as server:  # a whole answer would take about 6 s
        began = time.monotonic()
        summary = run(client(server.url, timeout="0.5", max_retries="1"), tmp_path, make_samples(count=1))
        elapsed = time.monotonic() - began
    assert summary.errors == 1 and elapsed < 2.5
    assert re.search(r"gave up after 2 tries: \S+: no complete answer within 0\.5 s", records(tmp_path)["qa1/0k/0"]["error"])


def test_a_frozen_server_stops_the_run_without_recording_its_failures(tmp_path):
    samples = make_samples(count=10)
    with FaultServer(["ok", "ok", "hang"]) as server:
        model = client(server.url, concurrency="1", timeout="0.3", max_retries="1", max_failures="3")
        with pytest.raises(ServerUnavailable, match="3 requests in a row failed.*no complete answer within 0.3 s"):
            run(model, tmp_path, samples)
    kept = records(tmp_path)
    # the server answers the first two requests to arrive (which two of the first three is a race of connections)
    assert len(kept) == 2 and set(kept) <= {s.key for s in samples[:3]} and all(r["status"] == "ok" for r in kept.values())
    with FaultServer(["ok"]) as again:
        summary = run(client(again.url), tmp_path, samples)
    assert (summary.skipped, summary.ok, summary.errors) == (2, 8, 0)


def test_failures_between_answers_are_recorded_as_errors(tmp_path):
    with FaultServer(["500", "500", "ok"]) as server:
        summary = run(client(server.url, concurrency="1", max_retries="0"), tmp_path, make_samples(count=3))
    assert (summary.errors, summary.ok) == (2, 1)


def test_eval_against_a_frozen_server_exits_with_one_line(tmp_path, capsys):
    from babilong.cli import main
    from babilong.datasets import write_samples

    write_samples(make_samples(count=6), tmp_path / "data" / "0k" / "qa1.jsonl")
    with FaultServer(["hang"]) as server:
        code = main(["eval", "--model", "openai", "--data", str(tmp_path / "data"), "--tasks", "qa1", "--lengths", "0k",
                     "--samples", "6", "--output", str(tmp_path / "run"), "--no-progress", "--model-args",
                     f"model=fake,base_url={server.url},api_key={SECRET},timeout=0.2,max_retries=0,concurrency=2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and "stopped answering" in err[0] and "rerun the same command" in err[0]
    assert not (tmp_path / "run" / RESULTS).exists() or not (tmp_path / "run" / RESULTS).read_text().strip()


def test_retry_after_is_honoured(tmp_path):
    with FaultServer(["retry-after", "ok"], retry_after="1") as server:
        summary = run(client(server.url, backoff="0.01"), tmp_path, make_samples(count=1))
    assert summary.ok == 1 and server.times[1] - server.times[0] >= 0.95


def test_retry_after_as_a_date_and_nonsense():
    from email.utils import formatdate

    from babilong.models.openai import _retry_after

    assert 1 <= _retry_after(formatdate(time.time() + 3, usegmt=True)) <= 3
    assert _retry_after("7") == 7.0 and _retry_after("soon") is None and _retry_after(None) is None


def test_retry_waits_grow_exponentially_with_jitter():
    with FaultServer(["ok"]) as server:
        model = client(server.url, backoff="1", max_wait="100")
    third = [model._retry_wait(SimpleNamespace(outcome=None, attempt_number=3)) for _ in range(50)]
    assert all(4 <= w <= 8 for w in third) and len(set(third)) > 40
    assert model._retry_wait(SimpleNamespace(outcome=None, attempt_number=20)) == 100


KEY_WITH_SYMBOLS = 'sk-test/DO+NOT="STORE"-4f9a1c7e2b'


@pytest.mark.parametrize("behaviour", ["echo-key-500", "echo-key-401"])
def test_an_error_text_repeating_the_key_leaves_none_of_it(tmp_path, behaviour):
    with FaultServer([behaviour]) as server:
        model = client(server.url, api_key=KEY_WITH_SYMBOLS, max_retries="0", max_failures="5")
        summary = run(model, tmp_path, make_samples(count=2))
    assert summary.errors == 2
    stored = (tmp_path / RESULTS).read_text()
    assert "invalid key" in stored  # the text is kept, the key is not
    forms = key_forms(KEY_WITH_SYMBOLS)
    assert len(forms) == 4
    for form in forms:
        json_form = json.dumps(form)[1:-1]  # as it appears inside results.jsonl
        pieces = {json_form[i:i + 6] for i in range(len(json_form) - 5)}
        assert not any(piece in stored for piece in pieces), form


def test_masking_comes_before_the_cut():
    key = "sk-live-0123456789abcdefghij"
    text = "x" * 180 + key + " trailing " + key[:6]
    kept = mask_secret(text, key_forms(key), 200)
    assert kept == "x" * 180 + "***" + " trailing " + "***"
    assert mask_secret("y" * 196 + key, key_forms(key), 200) == "y" * 196 + "***"


def test_one_slow_answer_does_not_hold_back_the_next_requests_even_at_1m_tokens(tmp_path):
    """Samples of 1M-token size (4M characters): every request goes out while the first one is
    still being answered; nothing waits for a group of samples to finish."""
    slow = 3.0
    filler = "word " * 840_000  # about 4.2M characters, as a 1M-token sample
    with FaultServer(["slow", "ok"], slow_seconds=slow) as server:
        model = client(server.url, concurrency="8", timeout="30")
        summary = run(model, tmp_path, make_samples(count=6, filler=filler))
        model.close()
    assert summary.ok == 6
    assert max(server.times) - min(server.times) < slow * 0.8  # all six arrived while the slow one was held


LONG_KEY = "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3j"  # 41 characters, as real keys are


def _pieces_of(key: str) -> set[str]:
    """Every 8-character piece of every form of ``key``, lower-cased, as results.jsonl would hold it."""
    forms = [json.dumps(form)[1:-1] for form in key_forms(key)]
    return {form[i:i + 8].lower() for form in forms for i in range(len(form) - 7)}


def test_no_piece_of_the_key_is_stored_in_any_case_answers_included(tmp_path, capsys):
    from babilong.report import report_runs

    samples = make_samples(count=4)
    with FaultServer(["key-in-answer", "echo-key-variants-401", "key-in-answer", "ok"]) as server:
        model = client(server.url, api_key=LONG_KEY, max_retries="0", max_failures="5", concurrency="1")
        summary = run(model, tmp_path / "run", samples)
    assert (summary.ok, summary.errors) == (3, 1)
    report_runs([tmp_path / "run"], None, tmp_path / "export")
    pieces = _pieces_of(LONG_KEY)
    for path in [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".png"]:
        content = path.read_text().lower()
        assert not any(piece in content for piece in pieces), path
    captured = capsys.readouterr()
    assert not any(piece in (captured.out + captured.err).lower() for piece in pieces)
    kept = records(tmp_path / "run")
    masked = [kept[s.key] for s in samples if kept[s.key].get("output_masked")]
    assert len(masked) == 2 and all(r["output"].startswith(r["target"] + ". Your key: ***") for r in masked)
    assert all("output_masked" not in kept[s.key] for s in samples if kept[s.key] not in masked)
    assert "refused; did you mean ***" in next(r["error"] for r in kept.values() if r["status"] == "error")


def test_a_short_key_is_not_hunted_in_answers(tmp_path):
    short = "sk-short-12"  # under 16 characters: pieces of it are ordinary text
    with FaultServer(["key-in-answer"]) as server:
        run(client(server.url, api_key=short, max_retries="0"), tmp_path, make_samples(count=1))
    [record] = records(tmp_path).values()
    assert short[3:-3] in record["output"] and "output_masked" not in record


def test_masking_is_case_blind_and_finds_pieces():
    key = "sk-live-0123456789abcdefghij"
    forms = key_forms(key)
    assert mask_secret(f"a {key.upper()} b", forms) == "a *** b"
    assert mask_secret(f"a {key[3:-3]} b", forms) == "a *** b"
    assert mask_secret(f"a {key[5:13]} b {key[5:12]} c", forms) == f"a *** b {key[5:12]} c"  # 8 in a row, not 7


def test_a_hung_server_stops_the_run_at_the_idle_deadline_not_after_every_retry(tmp_path):
    samples = make_samples(count=6)
    with FaultServer(["ok", "ok", "hang"]) as server:
        model = client(server.url, concurrency="2", timeout="30", max_retries="5", idle_timeout="0.5")
        began = time.monotonic()
        with pytest.raises(ServerUnavailable, match=r"no answer to any request for 0\.5 s.*idle_timeout.*rerun the same command"):
            run(model, tmp_path, samples)
        elapsed = time.monotonic() - began
    assert elapsed < 5  # each try alone may take 30 s
    kept = records(tmp_path)
    # the server answers the first two requests to arrive (which two of the first three is a race of connections)
    assert len(kept) == 2 and set(kept) <= {s.key for s in samples[:3]} and all(r["status"] == "ok" for r in kept.values())


def test_the_idle_clock_runs_only_while_requests_are_in_flight(tmp_path):
    with FaultServer(["ok"]) as server:
        model = client(server.url, idle_timeout="0.3")
        assert run(model, tmp_path / "a", make_samples(count=2)).ok == 2
        time.sleep(0.5)  # longer than idle_timeout between two batches: no request was waiting
        assert run(model, tmp_path / "b", make_samples(count=2)).ok == 2


def test_an_answer_far_over_max_tokens_is_stored_cut_and_says_so(tmp_path):
    from babilong.pipeline import OUTPUT_KEPT_MIN

    with FaultServer(["huge"]) as server:
        summary = run(client(server.url), tmp_path, make_samples(count=1))
    [record] = records(tmp_path).values()
    assert summary.ok == 1 and record["output_cut"] is True and record["output_chars"] > 1_000_000
    assert len(record["output"]) == OUTPUT_KEPT_MIN and record["answer"] == record["output"].strip()
    assert (tmp_path / RESULTS).stat().st_size < 3 * OUTPUT_KEPT_MIN + 5_000


# ---- a fleet: several servers of one model, no load balancer ----

def fleet(*servers, **extra):
    return client(",".join(server.url for server in servers), **extra)


def test_a_failing_server_of_a_fleet_is_rested_and_its_requests_go_to_the_others(tmp_path):
    with FaultServer(["500"]) as broken, FaultServer(["ok"]) as healthy:
        model = fleet(broken, healthy, concurrency="1", max_failures="2", rest="60")
        summary = run(model, tmp_path, make_samples(count=8))
        model.close()
    assert (summary.ok, summary.errors) == (8, 0)
    assert len(broken.requests) == 2 and len(healthy.requests) == 8  # rested after two failures in a row


def test_a_fleet_stops_only_when_every_server_is_down(tmp_path):
    with FaultServer(["500"]) as one, FaultServer(["500"]) as other:
        model = fleet(one, other, max_failures="2", rest="0.2", max_wait="0.3", max_retries="2")
        with pytest.raises(ServerUnavailable, match="the 2 servers at .* stopped answering"):
            run(model, tmp_path, make_samples(count=6))
        model.close()
    assert one.requests and other.requests


def test_each_server_of_a_fleet_keeps_its_own_concurrency(tmp_path):
    with FaultServer(["slow"], slow_seconds=0.3) as small, FaultServer(["slow"], slow_seconds=0.3) as large:
        model = fleet(small, large, concurrency="1,3", timeout="10")
        summary = run(model, tmp_path, make_samples(count=12))
        model.close()
    assert summary.ok == 12 and (small.peak, large.peak) == (1, 3)
    assert len(large.requests) > len(small.requests)  # the least loaded server takes the next request


def test_a_server_unreachable_at_the_start_is_left_out_with_a_warning(tmp_path, capsys):
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # a port nothing listens on
    url = f"http://127.0.0.1:{dead.getsockname()[1]}/v1"
    dead.close()
    with FaultServer(["ok"]) as live:
        model = client(f"{url},{live.url}")
        summary = run(model, tmp_path, make_samples(count=4))
        model.close()
    assert summary.ok == 4 and f"cannot reach {url}" in capsys.readouterr().err


def test_a_fleet_is_given_as_a_quoted_list_on_the_command_line():
    from babilong.models import parse_model_args

    args = parse_model_args('model=m,base_url="http://a:1/v1,http://b:2/v1",concurrency="2,8"')
    assert args["base_url"] == "http://a:1/v1,http://b:2/v1" and args["concurrency"] == "2,8"


def test_the_deadline_of_a_request_grows_with_its_prompt():
    from babilong.models.base import Prompt

    with FaultServer(["ok"]) as server:
        model = client(server.url, timeout="120", timeout_per_mtok="600")
        assert model.deadline(Prompt("x" * 4_000)) == pytest.approx(120.6)
        assert model.deadline(Prompt("x" * 4_000_000)) == pytest.approx(720)  # a 1M-token prompt: 10 more minutes
        model.close()
