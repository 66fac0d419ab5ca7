"""``eval --ray`` replicas against the in-process run, on the same samples, in one session.

Embedded model (SmolLM2-135M, batch size 1): 2 Ray replicas x 1 thread, 1 replica x 1 thread,
in process with 1 and with 2 threads. Echo backend at 1k, samples built where the model runs
(on the replicas for Ray, in the driver in process): the engine's overhead. Model loads and
one warm-up sample per process are outside the timings; every figure is samples per second
of the eval loop itself (scoring and writing the run folder included).

    PYTHONPATH=$PWD python benchmarks/bench_ray.py --model-samples 8 --echo-samples 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

from babilong import ray_eval
from babilong.generate import GenerationConfig, build_sample, prepared_corpus
from babilong.models import load_model
from babilong.pipeline import Pipeline, Planned, evaluate
from babilong.prompts import parse_prompt_config
from babilong.runs import ResultStore, RunConfig

PROMPT = parse_prompt_config("full", None)
GENERATION = GenerationConfig()
DATA = {"generator": asdict(GENERATION)}


def keys_for(tasks: list[str], length: str, samples: int, first: int = 0) -> list[str]:
    return [f"{task}/{length}/{index}" for task in tasks for index in range(first, first + samples)]


def planned(keys: list[str]) -> list[Planned]:
    return [Planned(key, partial(build_sample, *_parts(key), GENERATION)) for key in keys]


def _parts(key: str) -> tuple[str, str, int]:
    task, length, index = key.split("/")
    return task, length, int(index)


def in_process(model_name: str, model_args: dict[str, str], keys: list[str], warm: str, threads: int,
               max_new_tokens: int) -> tuple[float, float]:
    """Samples/s of the in-process loop (the model loaded and warmed first), and CPU seconds per sample."""
    model = load_model(model_name, model_args)
    if "torch" in sys.modules:  # not imported for echo: its heap would slow the loop's garbage collection
        sys.modules["torch"].set_num_threads(threads)
    config = RunConfig(model_name, model.settings(), PROMPT, max_new_tokens, DATA)
    list(Pipeline(model, config).records([build_sample(*_parts(warm), GENERATION)]))
    with tempfile.TemporaryDirectory() as folder, ResultStore(Path(folder), config) as store:
        began, cpu = time.perf_counter(), time.process_time()
        summary = evaluate(planned(keys), model, config, store, progress=False)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert summary.ok + summary.too_long == len(keys), summary
    return len(keys) / seconds, cpu / len(keys)


def on_ray(model_name: str, model_args: dict[str, str], keys: list[str], warm: str, replicas: int, cpus: float,
           max_new_tokens: int) -> tuple[float, float]:
    """Samples/s through Ray replicas (every replica loaded and warmed first), and CPU seconds per
    sample (the replicas' and the driver's)."""
    import ray

    source = ray_eval.SampleSource(GENERATION)
    spec = ray_eval.ReplicaSpec(model_name, model_args, PROMPT, max_new_tokens, DATA, source, threads=max(1, int(cpus)))
    pool = ray_eval.start_replicas(spec, ray_eval.Resources(replicas, 0, cpus), prepared_corpus(GENERATION))
    try:
        ray.get([actor.run.remote([warm]) for actor in pool.actors])
        config = RunConfig(model_name, pool.first["settings"], PROMPT, max_new_tokens, DATA)
        pool.cpu_seconds = 0.0
        with tempfile.TemporaryDirectory() as folder, ResultStore(Path(folder), config) as store:
            began, cpu = time.perf_counter(), time.process_time()
            summary = ray_eval.evaluate_on_ray(keys, pool, config, store, progress=False)
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        pool.close()
    assert summary.ok + summary.too_long == len(keys), summary
    return len(keys) / seconds, (cpu + pool.cpu_seconds) / len(keys)


def show(label: str, measured: tuple[float, float]) -> float:
    rate, cpu = measured
    print(f"{label}: {rate:8.3f} samples/s, {cpu * 1000:8.1f} CPU ms per sample", flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-samples", type=int, default=8, help="embedded-model samples per task (qa1,qa2 at 1k)")
    parser.add_argument("--echo-samples", type=int, default=1000, help="echo samples at 1k (qa1)")
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--skip-echo", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} cores", flush=True)
    ray_eval.start_local_cluster(num_cpus=2)
    prepared_corpus(GENERATION)
    if not args.skip_model:
        keys, warm = keys_for(["qa1", "qa2"], "1k", args.model_samples), "qa3/1k/0"
        smollm2 = ("smollm2", {"batch_size": "1"})
        one = show("embedded, 1 Ray replica x 1 thread ", on_ray(*smollm2, keys, warm, 1, 1, 20))
        two = show("embedded, 2 Ray replicas x 1 thread", on_ray(*smollm2, keys, warm, 2, 1, 20))
        here1 = show("embedded, in process, 1 thread     ", in_process(*smollm2, keys, warm, 1, 20))
        here2 = show("embedded, in process, 2 threads    ", in_process(*smollm2, keys, warm, 2, 20))
        print(f"ratio 2 replicas / 1 replica: {two / one:.2f}x (aim >= 1.8x); 2 replicas / in process 2 threads: "
              f"{two / here2:.2f}x; 1 replica / in process 1 thread: {one / here1:.2f}x ({len(keys)} samples)", flush=True)
    if not args.skip_echo:
        keys, warm = keys_for(["qa1"], "1k", args.echo_samples), "qa2/1k/0"
        here = show("echo 1k, in process (built in the driver)", in_process("echo", {}, keys, warm, 1, 20))
        one = show("echo 1k, 1 Ray replica (built on it)     ", on_ray("echo", {}, keys, warm, 1, 1, 20))
        two = show("echo 1k, 2 Ray replicas (built on them)  ", on_ray("echo", {}, keys, warm, 2, 1, 20))
        print(f"ratio 1 replica / in process: {one / here:.2f}x (aim >= 0.8x); 2 replicas / in process: {two / here:.2f}x "
              f"({len(keys)} samples)", flush=True)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
