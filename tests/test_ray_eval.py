"""babilong eval --ray: replicas on a local Ray cluster give the in-process run's results, key by key."""

import json
import os
import sys
import threading
import time
from collections import Counter

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.runs import RESULTS

COMMON = ["--model", "echo", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--no-progress"]


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster of two CPUs for the module; the CLI joins it instead of starting its own."""
    import ray

    from babilong.ray_eval import start_local_cluster

    start_local_cluster(num_cpus=2)
    yield ray
    ray.shutdown()


def lines(folder):
    return [json.loads(line) for line in (folder / RESULTS).read_text().splitlines()]


def by_key(folder, fields=None):
    return {r["key"]: {k: v for k, v in r.items() if (k in fields if fields else k != "latency")} for r in lines(folder)}


def test_echo_on_replicas_equals_the_in_process_run_and_either_resumes_the_other(tmp_path, capsys, ray_cluster, small_books):
    data = ["--haystack", str(small_books), "--samples", "4"]
    here, there = tmp_path / "here", tmp_path / "there"
    assert main(["eval", *COMMON, *data, "--output", str(here)]) == 0
    assert main(["eval", *COMMON, *data, "--output", str(there), "--ray", "--replicas", "2", "--replica-cpus", "0.5"]) == 0
    assert "2 replicas" in capsys.readouterr().err
    assert by_key(here) == by_key(there) and len(by_key(here)) == 16
    assert len(lines(there)) == 16

    # a run begun in process is finished on Ray, and one begun on Ray is finished in process
    mixed = tmp_path / "mixed"
    assert main(["eval", *COMMON, "--haystack", str(small_books), "--samples", "2", "--output", str(mixed)]) == 0
    assert main(["eval", *COMMON, *data, "--output", str(mixed), "--ray"]) == 0
    assert "16 samples, 8 already done, 8 answered" in capsys.readouterr().err
    assert main(["eval", *COMMON, "--haystack", str(small_books), "--samples", "5", "--output", str(mixed)]) == 0
    assert "20 samples, 16 already done, 4 answered" in capsys.readouterr().err
    assert main(["eval", *COMMON, "--haystack", str(small_books), "--samples", "5", "--output", str(mixed), "--ray"]) == 0
    assert "20 samples, 20 already done, 0 answered" in capsys.readouterr().err
    assert len(lines(mixed)) == 20 and by_key(mixed).items() >= by_key(here).items()


def test_replicas_read_data_folders_by_key(tmp_path, capsys, ray_cluster, small_books):
    data = tmp_path / "data"
    assert main(["generate", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--samples", "3", "--haystack", str(small_books),
                 "--format", "jsonl", "--out", str(data)]) == 0
    common = ["--model", "echo", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--samples", "3", "--data", str(data),
              "--no-progress"]
    assert main(["eval", *common, "--output", str(tmp_path / "here")]) == 0
    assert main(["eval", *common, "--output", str(tmp_path / "there"), "--ray", "--replicas", "2", "--replica-cpus", "0.5"]) == 0
    assert by_key(tmp_path / "here") == by_key(tmp_path / "there") and len(by_key(tmp_path / "here")) == 12


def _kill_one_replica_after(results, count, killed):
    """Kill -9 one replica process of this run (a child of this test's Ray cluster started after
    the watcher, so not an earlier test's) once ``count`` results are stored."""
    import psutil

    began = time.time()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stored = results.read_text().count("\n") if results.exists() else 0
        replicas = [p for p in psutil.Process(os.getpid()).children(recursive=True)
                    if p.name().startswith("ray::Replica") and p.create_time() >= began - 1]
        if stored >= count and replicas:
            os.kill(replicas[0].pid, 9)
            killed.append(stored)
            return
        time.sleep(0.05)


def test_a_replica_killed_mid_run_loses_and_duplicates_nothing(tmp_path, capsys, ray_cluster):
    output = tmp_path / "run"
    killed: list[int] = []
    watcher = threading.Thread(target=_kill_one_replica_after, args=(output / RESULTS, 6, killed))
    watcher.start()
    code = main(["eval", "--model", "echo", "--model-args", "delay=0.05", "--tasks", "qa1", "--lengths", "0k",
                 "--samples", "60", "--no-progress", "--output", str(output), "--ray", "--replicas", "2",
                 "--replica-cpus", "0.5"])
    watcher.join()
    assert code == 0
    assert killed and killed[0] < 60  # the kill came mid-run
    assert "1 replica restarts" in capsys.readouterr().err
    keys = Counter(record["key"] for record in lines(output))
    assert len(keys) == 60 and set(keys.values()) == {1}
    assert {record["status"] for record in lines(output)} == {"ok"}


def test_the_driver_refuses_replicas_of_another_babilong(tmp_path, capsys, ray_cluster, monkeypatch):
    from babilong import ray_eval

    monkeypatch.setattr(ray_eval, "code_digest", lambda: "another-build")
    output = tmp_path / "run"
    assert main(["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--no-progress",
                 "--output", str(output), "--ray"]) == 2
    err = capsys.readouterr().err
    assert "install the same babilong on every node" in err and err.count("\n") == 1
    assert not output.exists()


def test_replicas_build_from_the_haystack_the_driver_shipped(tmp_path, ray_cluster, small_books):
    """The replicas' GenerationConfig names a folder that does not exist: only the shipped corpus can build the samples."""
    from dataclasses import replace

    from babilong import ray_eval
    from babilong.generate import GenerationConfig, build_sample, prepared_corpus
    from babilong.pipeline import Pipeline
    from babilong.prompts import parse_prompt_config
    from babilong.runs import ResultStore, RunConfig

    corpus = prepared_corpus(GenerationConfig(haystack=str(small_books)))
    nowhere = GenerationConfig(haystack=str(tmp_path / "no-such-books"))
    prompt = parse_prompt_config("full", None)
    spec = ray_eval.ReplicaSpec("echo", {}, prompt, 20, {"generator": "test"}, ray_eval.SampleSource(nowhere), threads=1)
    pool = ray_eval.start_replicas(spec, ray_eval.Resources(1, 0, 0.5), corpus)
    try:
        config = RunConfig("echo", pool.first["settings"], prompt, 20, {"generator": "test"})
        keys = [f"qa1/1k/{i}" for i in range(3)]
        with ResultStore(tmp_path / "run", config) as store:
            summary = ray_eval.evaluate_on_ray(keys, pool, config, store, progress=False)
    finally:
        pool.close()
    assert summary.ok == 3
    from babilong.models.echo import EchoModel

    samples = [build_sample("qa1", "1k", i, replace(GenerationConfig(haystack=str(small_books)))) for i in range(3)]
    expected = {r["key"]: r["output"] for r in Pipeline(EchoModel(None, None), config).records(samples)}
    assert {k: r["output"] for k, r in by_key(tmp_path / "run").items()} == expected


def test_a_sample_that_raises_or_is_too_long_fails_alone(small_books, monkeypatch):
    """The replica object itself (no Ray): one prompt raising fails its sample; a too-long one is recorded so."""
    from babilong import ray_eval

    for name in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES"):  # a replica sets them for its process: restored after
        monkeypatch.setenv(name, os.environ.get(name, ""))
    from babilong.generate import GenerationConfig
    from babilong.prompts import parse_prompt_config

    source = ray_eval.SampleSource(GenerationConfig(haystack=str(small_books)))
    spec = ray_eval.ReplicaSpec("echo", {"context_window": "400"}, parse_prompt_config("full", None), 20, {}, source, threads=1)
    replica = ray_eval.Replica(spec)
    assert replica.failure is None
    generate = replica.model.generate

    drawn: list[str] = []

    def flaky(prompts, max_new_tokens):  # the second prompt drawn raises, alone or in a batch
        for position, prompt in enumerate(prompts):
            drawn.append(prompt.user)
            if prompt.user == drawn[min(1, len(drawn) - 1)] and len(drawn) > 1:
                raise RuntimeError("CUDA out of memory")
            yield from ((position, g) for _, g in generate([prompt], max_new_tokens))

    replica.model.generate = flaky
    keys = ["qa1/0k/0", "qa1/0k/1", "qa1/0k/2", "qa1/1k/0", "qa1/no-such-length/0"]
    replies = replica.run(keys)
    status = {r["key"]: r["status"] for r in replies.records}
    assert sorted(status) == sorted(keys)
    assert status["qa1/1k/0"] == "too_long" and status["qa1/no-such-length/0"] == "error"
    assert sorted(status[k] for k in keys[:3]) == ["error", "ok", "ok"]  # the sample that raised, alone
    failed = [r for r in replies.records if r["key"] in keys[:3] and r["status"] == "error"]
    assert "RuntimeError on a Ray replica: CUDA out of memory" in failed[0]["error"]


def test_bad_ray_requests_are_one_line(tmp_path, capsys, monkeypatch):
    base = ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--no-progress",
            "--output", str(tmp_path / "run")]
    assert main([*base, "--replicas", "2"]) == 2
    assert "--replicas only apply with --ray" in capsys.readouterr().err
    base[2] = "openai"
    assert main([*base, "--ray"]) == 2
    assert "scale it with a served fleet" in capsys.readouterr().err
    base[2] = "vllm"
    assert main([*base, "--ray", "--replica-gpus", "0.25"]) == 2
    assert "gpu_memory_utilization=0.22 or less" in capsys.readouterr().err
    base[2] = "echo"
    assert main([*base, "--ray", "127.0.0.1:1"]) == 2  # nothing listens there: refused at once
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main([*base, "--ray"]) == 2
    err = capsys.readouterr().err
    assert err == "babilong: error: --ray needs Ray: pip install 'babilong[ray]' (or run without --ray)\n"
    assert not (tmp_path / "run").exists()


def test_a_cluster_too_small_for_the_replicas_is_refused(tmp_path, capsys, ray_cluster):
    assert main(["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--no-progress",
                 "--output", str(tmp_path / "run"), "--ray", "--replicas", "2", "--replica-gpus", "1"]) == 2
    assert "needs 2 GPUs but the Ray cluster has 0" in capsys.readouterr().err


@pytest.mark.slow
def test_the_embedded_model_on_replicas_equals_its_in_process_run(tmp_path, capsys, ray_cluster, small_books):
    base = ["--tasks", "qa1,qa2", "--lengths", "0k", "--samples", "2", "--max-new-tokens", "6", "--no-progress",
            "--haystack", str(small_books), "--model-args", "batch_size=1"]
    assert main(["eval", *base, "--output", str(tmp_path / "here")]) == 0
    assert main(["eval", *base, "--output", str(tmp_path / "there"), "--ray", "--replicas", "2"]) == 0
    fields = ("status", "output", "scores", "prompt", "prompt_tokens")
    assert by_key(tmp_path / "here", fields) == by_key(tmp_path / "there", fields)
    assert len(lines(tmp_path / "there")) == 4


def test_check_replica_names_what_differs():
    from babilong.ray_eval import check_replica

    driver = {"babilong": "1", "code": "a", "data_tokenizer": "t"}
    replica = {**driver, "pid": 7, "node": "n", "model_tokenizer": "m", "config_hash": "h"}
    check_replica(1, driver, replica, replica)
    with pytest.raises(BabilongError, match="another data tokenizer"):
        check_replica(0, driver, {**replica, "data_tokenizer": "u"}, None)
    with pytest.raises(BabilongError, match="another model tokenizer or chat template than replica 0"):
        check_replica(1, driver, {**replica, "model_tokenizer": "x"}, replica)


@pytest.mark.slow
def test_a_killed_driver_is_resumed_by_a_rerun(tmp_path, capsys):
    import signal
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    output = tmp_path / "run"
    command = ["eval", "--model", "echo", "--model-args", "delay=0.1", "--tasks", "qa1", "--lengths", "0k",
               "--samples", "80", "--no-progress", "--output", str(output)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen([sys.executable, "-m", "babilong", *command, "--ray", "--replicas", "2", "--replica-cpus", "0.5"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if (output / RESULTS).exists() and (output / RESULTS).read_text().count("\n") >= 5:
                break
            time.sleep(0.05)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    stored = len(lines(output))
    assert 5 <= stored < 80
    assert main(command) == 0  # resumed in process
    assert f"80 samples, {stored} already done, {80 - stored} answered" in capsys.readouterr().err
    keys = Counter(record["key"] for record in lines(output))
    assert len(keys) == 80 and set(keys.values()) == {1}
