"""``eval --ray`` replicas against the in-process run, on the same samples, in one session.

Embedded model (SmolLM2-135M, batch size 1, qa1+qa2 at 1k): 2 Ray replicas x 1 thread,
1 replica x 1 thread, in process with 1 and with 2 threads. Echo backend at 1k, samples built
where the model runs (on the replicas for Ray, in the driver in process): the engine's
overhead. Every model is loaded and warmed once, before any timing; then the settings take
turns for ``--rounds`` rounds, so load from other jobs falls on all of them alike, and the
median round is reported. Figures are samples per second of the eval loop itself (building,
prompting, answering, scoring and writing the run folder), and CPU milliseconds per sample
(all processes: the replicas' and the driver's); their product is the cores the setting kept
busy, which bounds every ratio on a shared machine.

    PYTHONPATH=$PWD python benchmarks/bench_ray.py --model-samples 3 --rounds 2 --echo-samples 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

from babilong import ray_eval
from babilong.generate import GenerationConfig, build_sample, prepared_corpus
from babilong.models import load_model
from babilong.pipeline import Pipeline, Planned, evaluate
from babilong.prompts import parse_prompt_config
from babilong.runs import ResultStore, RunConfig

PROMPT = parse_prompt_config("full", None)
GENERATION = GenerationConfig()
DATA = {"generator": asdict(GENERATION)}
MAX_NEW_TOKENS = 20
Timed = Callable[[list[str]], tuple[float, float]]  # keys -> (samples/s, CPU s per sample)


def keys_for(tasks: list[str], length: str, samples: int) -> list[str]:
    return [f"{task}/{length}/{index}" for task in tasks for index in range(samples)]


def _parts(key: str) -> tuple[str, str, int]:
    task, length, index = key.split("/")
    return task, length, int(index)


def in_process(model_name: str, model_args: dict[str, str], warm: str) -> Callable[[int], Timed]:
    """The model loaded (and warmed) here once; ``(threads) -> timed run`` of the in-process loop."""
    model = load_model(model_name, model_args)
    config = RunConfig(model_name, model.settings(), PROMPT, MAX_NEW_TOKENS, DATA)
    list(Pipeline(model, config).records([build_sample(*_parts(warm), GENERATION)]))

    def with_threads(threads: int) -> Timed:
        def timed(keys: list[str]) -> tuple[float, float]:
            if "torch" in sys.modules:  # echo never imports it
                sys.modules["torch"].set_num_threads(threads)
            planned = [Planned(key, partial(build_sample, *_parts(key), GENERATION)) for key in keys]
            with tempfile.TemporaryDirectory() as folder, ResultStore(Path(folder), config) as store:
                began, cpu = time.perf_counter(), time.process_time()
                summary = evaluate(planned, model, config, store, progress=False)
                seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
            assert summary.ok + summary.too_long == len(keys), summary
            return len(keys) / seconds, cpu / len(keys)

        return timed

    return with_threads


def on_ray(model_name: str, model_args: dict[str, str], warm: str, replicas: int, pools: list[Any]) -> Timed:
    """``replicas`` Ray replicas of 1 CPU, loaded and warmed once; a timed run through them."""
    import ray

    spec = ray_eval.ReplicaSpec(model_name, model_args, PROMPT, MAX_NEW_TOKENS, DATA, ray_eval.SampleSource(GENERATION),
                                threads=1)
    pool = ray_eval.start_replicas(spec, ray_eval.Resources(replicas, 0, 1), prepared_corpus(GENERATION))
    pools.append(pool)
    ray.get([actor.run.remote([warm]) for actor in pool.actors])
    config = RunConfig(model_name, pool.first["settings"], PROMPT, MAX_NEW_TOKENS, DATA)

    def timed(keys: list[str]) -> tuple[float, float]:
        pool.cpu_seconds = 0.0
        with tempfile.TemporaryDirectory() as folder, ResultStore(Path(folder), config) as store:
            began, cpu = time.perf_counter(), time.process_time()
            summary = ray_eval.evaluate_on_ray(keys, pool, config, store, progress=False)
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        assert summary.ok + summary.too_long == len(keys), summary
        return len(keys) / seconds, (cpu + pool.cpu_seconds) / len(keys)

    return timed


def compare(settings: dict[str, Timed], keys: list[str], rounds: int) -> dict[str, float]:
    """Each setting once per round, in turn; the median samples/s of each, printed with every round's."""
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
    for number in range(rounds):
        for name, timed in settings.items():
            measured[name].append(timed(keys))
            load = os.getloadavg()[0]
            print(f"  round {number + 1} {name}: {measured[name][-1][0]:.3f} samples/s (load {load:.1f})", flush=True)
    medians = {}
    for name, runs in measured.items():
        medians[name] = statistics.median(rate for rate, _ in runs)
        cpu = statistics.median(cpu for _, cpu in runs)
        print(f"{name}: {medians[name]:9.3f} samples/s (median of {rounds}), {cpu * 1000:8.1f} CPU ms per sample, "
              f"{medians[name] * cpu:.2f} cores busy", flush=True)
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-samples", type=int, default=3, help="embedded-model samples per task (qa1,qa2 at 1k)")
    parser.add_argument("--echo-samples", type=int, default=1000, help="echo samples at 1k (qa1)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-echo", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores", flush=True)
    # 3 logical CPUs: the 1-replica and 2-replica pools stay loaded side by side; only one works at a time.
    ray_eval.start_local_cluster(num_cpus=3)
    prepared_corpus(GENERATION)
    pools: list[Any] = []
    try:
        if not args.skip_model:
            smollm2, warm = ("smollm2", {"batch_size": "1"}), "qa3/1k/0"
            here = in_process(*smollm2, warm)
            settings = {"embedded, 1 Ray replica x 1 thread ": on_ray(*smollm2, warm, 1, pools),
                        "embedded, 2 Ray replicas x 1 thread": on_ray(*smollm2, warm, 2, pools),
                        "embedded, in process, 1 thread     ": here(1),
                        "embedded, in process, 2 threads    ": here(2)}
            keys = keys_for(["qa1", "qa2"], "1k", args.model_samples)
            one, two, here1, here2 = compare(settings, keys, args.rounds).values()
            print(f"ratio 2 replicas / 1 replica: {two / one:.2f}x (aim >= 1.8x); 2 replicas / in process 2 threads: "
                  f"{two / here2:.2f}x; 1 replica / in process 1 thread: {one / here1:.2f}x ({len(keys)} samples)", flush=True)
            for pool in pools:
                pool.close()
            pools.clear()
        if not args.skip_echo:
            warm = "qa2/1k/0"
            settings = {"echo 1k, in process (built in the driver)": in_process("echo", {}, warm)(1),
                        "echo 1k, 1 Ray replica (built on it)     ": on_ray("echo", {}, warm, 1, pools),
                        "echo 1k, 2 Ray replicas (built on them)  ": on_ray("echo", {}, warm, 2, pools)}
            keys = keys_for(["qa1"], "1k", args.echo_samples)
            here, one, two = compare(settings, keys, args.rounds).values()
            print(f"ratio 1 replica / in process: {one / here:.2f}x (aim >= 0.8x); 2 replicas / in process: "
                  f"{two / here:.2f}x ({len(keys)} samples)", flush=True)
    finally:
        for pool in pools:
            pool.close()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
