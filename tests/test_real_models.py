"""Slow: the embedded SmolLM2 through the CLI, and the openai backend against a real ``transformers serve``."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from babilong.cli import main

pytestmark = pytest.mark.slow
SECRET = "sk-real-server-test-9b2e"


def results(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def smollm2_folder() -> Path:
    pytest.importorskip("transformers")
    from babilong.models.smollm2 import model_folder

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return model_folder()


def test_default_model_answers_for_real(smollm2_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["eval", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--output", str(run), "--no-progress"]) == 0
    assert "| qa1 |" in capsys.readouterr().out
    records = results(run)
    assert len(records) == 2 and all(r["status"] == "ok" and r["output"] for r in records)
    assert all(r["prompt"].startswith("<|im_start|>system") for r in records)  # the model's chat template
    assert json.loads((run / "manifest.json").read_text())["config"]["model_settings"]["pretrained"] == smollm2_folder.name


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(smollm2_folder):
    """``transformers serve`` on the converted SmolLM2 folder, on 127.0.0.1 only."""
    import httpx

    binary = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if binary is None:
        pytest.skip("transformers serve is not installed (pip install 'transformers[serving]')")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([binary, "serve", str(smollm2_folder), "--host", "127.0.0.1", "--port", str(port),
                               "--device", "cpu", "--dtype", "float32"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("transformers serve did not come up in 120 s")
        yield url + "/v1", server
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_openai_backend_against_a_real_server_matches_the_local_model(served, smollm2_folder, tmp_path, capsys):
    url, server = served
    common = ["--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--no-progress", "--max-new-tokens", "12"]
    remote, local = tmp_path / "remote", tmp_path / "local"
    args = f"model={smollm2_folder},base_url={url},api_key={SECRET},tokenizer={smollm2_folder},context_window=8192,concurrency=2"
    assert main(["eval", "--model", "openai", "--model-args", args, "--output", str(remote), *common]) == 0
    assert main(["eval", "--output", str(local), *common]) == 0
    capsys.readouterr()
    by_key = {r["key"]: r for r in results(local)}
    for record in results(remote):
        assert record["status"] == "ok" and record["output"]
        assert record["answer"] == by_key[record["key"]]["answer"]  # greedy: same answer over HTTP and in-process
        assert record["prompt_tokens"] == by_key[record["key"]]["prompt_tokens"]
    for path in remote.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
    server.terminate()
    server.wait(timeout=30)
    more = [arg if arg != "2" else "3" for arg in common]  # one more sample, server gone
    assert main(["eval", "--model", "openai", "--model-args", args, "--output", str(remote), *more]) == 2
    assert "cannot reach the server" in capsys.readouterr().err
    assert len(results(remote)) == 2  # nothing lost


def test_hf_backend_places_the_model_with_accelerate(smollm2_folder, tmp_path):
    """device_map=auto goes through accelerate; on a CPU-only machine it lands on the CPU and
    answers exactly as the model placed by hand."""
    by_hand, placed = tmp_path / "by-hand", tmp_path / "placed"
    common = ["eval", "--model", "hf", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--no-progress"]
    assert main([*common, "--model-args", f"pretrained={smollm2_folder},device=cpu", "--output", str(by_hand)]) == 0
    assert main([*common, "--model-args", f"pretrained={smollm2_folder},device_map=auto", "--output", str(placed)]) == 0
    assert [r["output"] for r in results(by_hand)] == [r["output"] for r in results(placed)]
