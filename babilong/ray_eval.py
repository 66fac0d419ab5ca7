"""``babilong eval --ray``: data-parallel replicas of one model on a Ray cluster.

Ray actors, one per replica, each load the model once and run the same pipeline steps as an
in-process run (``babilong.pipeline.Pipeline``). Only sample keys travel to them: a replica
builds each sample from its key and the ``GenerationConfig`` (or reads it from a ``--data``
folder on storage every node sees), so a 1M-token input never crosses the object store.
Replicas return unscored records; the driver stays the run folder's one writer: it scores
each record, appends it the moment its batch arrives, and drops a key it already holds (Ray
delivers a batch at least once). A killed replica is restarted by Ray and its batches are
re-run, at most ``MAX_RESTARTS`` times per replica. ``docs/scale.md`` says why actors and
not Ray Data.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babilong import __version__, verdicts
from babilong.errors import BabilongError
from babilong.pipeline import Summary
from babilong.prompts import PromptConfig, PromptFile
from babilong.runs import RESULT_SCHEMA, ResultStore, RunConfig

RAY_MISSING = "--ray needs Ray: pip install 'babilong[ray]' (or run without --ray)"
MAX_RESTARTS = 3  # times Ray restarts one replica (and re-runs its batches) before the run stops
IN_FLIGHT = 2  # batches queued per replica, so it starts the next the moment one ends
TASK_SECONDS = 0.5  # batches grow until one takes about this long: Ray's per-task cost stays small
MOST_KEYS = 256  # the most keys in one batch
LOCAL_SERVED = ("openai",)  # backends that call a server: scaled by the server fleet, not by replicas
_PROBE = "Probe: Mary went to the kitchen. 1,234 ünïcödé 東京 \t tabs\nnew line <context>end</context>"


# ---- what travels to a replica -------------------------------------------------------------


@dataclass(frozen=True)
class SampleSource:
    """How a replica gets a sample from its key: built from ``generation``, or read from ``data``."""

    generation: Any = None  # a GenerationConfig
    data: str | None = None  # a folder (or file, or hub id) every node can read
    limit: int = 0  # samples per (task, length) the run takes from ``data``

    def samples(self, keys: Iterable[str]) -> Iterator[tuple[str, Any]]:
        """``(key, sample or the exception that stopped its building)`` for each key, built as drawn."""
        for key in keys:
            try:
                yield key, self._sample(key)
            except Exception as error:  # noqa: BLE001 - a sample that cannot be built fails alone
                yield key, error

    def _sample(self, key: str) -> Any:
        task, length, index = key.split("/")
        if self.data is None:
            from babilong.generate import build_sample

            return build_sample(task, length, int(index), self.generation)
        group = _data_group(self.data, task, length, self.limit)
        if key not in group:
            raise BabilongError(f"{self.data} holds no sample {key} on {socket.gethostname()}: is it the same data the driver read?")
        return group[key]


@cache
def _data_group(source: str, task: str, length: str, limit: int) -> dict[str, Any]:
    from babilong.datasets import load_samples

    _data_group.cache_clear()  # one group in memory at a time: keys arrive grouped by (task, length)
    return {sample.key: sample for sample in load_samples(source, [task], [length], limit=limit)}


@dataclass(frozen=True)
class ReplicaSpec:
    """Everything a replica needs to load the model and build the run's configuration."""

    model: str
    model_args: dict[str, str]
    prompt: PromptConfig | PromptFile
    max_new_tokens: int
    data_identity: dict[str, Any]
    source: SampleSource
    threads: int  # torch threads: the replica's CPUs
    gpus: float = 0.0  # none: the replica's process sees no GPU (Ray leaves them visible)


@dataclass(frozen=True)
class Replies:
    """What one batch sends back: the replica's identity digest, its unscored records, its time."""

    identity: str
    pid: int
    records: list[dict[str, Any]]
    seconds: float
    cpu_seconds: float  # the replica process's CPU time for the batch, all its threads


# ---- identity: the driver refuses replicas that would answer differently ----------------------


@cache
def code_digest() -> str:
    """A digest of the installed babilong sources: two installs of one release agree."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def data_tokenizer_digest(name: str | None) -> str | None:
    """How the data tokenizer splits a probe text: equal digests build equal samples."""
    if name is None:
        return None
    from babilong.tokens import get_tokenizer

    return _digest(name, get_tokenizer(name).encode(_PROBE))


def model_tokenizer_digest(model: Any) -> str:
    """How the model renders and counts a probe prompt (or its own tokenizer splits the probe)."""
    from babilong.models.base import Prompt, PromptModel

    if isinstance(model, PromptModel):
        probe = Prompt(user=_PROBE, system="probe system")
        return _digest(model.render(probe), model.count_tokens(probe))
    tokenizer = getattr(model, "tokenizer", None)
    encode = getattr(tokenizer, "encode", None)
    return _digest(model.name, encode(_PROBE) if encode else None)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def driver_identity(source: SampleSource) -> dict[str, Any]:
    """What every replica must share with the driver."""
    tokenizer = source.generation.tokenizer if source.data is None else None
    return {"babilong": __version__, "code": code_digest(), "data_tokenizer": data_tokenizer_digest(tokenizer)}


def check_replica(number: int, driver: dict[str, Any], replica: dict[str, Any], first: dict[str, Any] | None) -> None:
    """Refuse a replica whose babilong, data tokenizer, model tokenizer or configuration differs."""
    where = f"replica {number} (pid {replica['pid']} on {replica['node']})"
    if replica["babilong"] != driver["babilong"] or replica["code"] != driver["code"]:
        raise BabilongError(f"{where} runs babilong {replica['babilong']} (code {replica['code']}), the driver "
                            f"{driver['babilong']} (code {driver['code']}): install the same babilong on every node")
    if replica["data_tokenizer"] != driver["data_tokenizer"]:
        raise BabilongError(f"{where} splits text with another data tokenizer than the driver (its samples would "
                            "differ): install the same tokenizer files on every node ('babilong setup')")
    if first is None:
        return
    for key, what in (("model_tokenizer", "model tokenizer or chat template"), ("config_hash", "model configuration")):
        if replica[key] != first[key]:
            raise BabilongError(f"{where} has another {what} than replica 0 ({replica[key]} vs {first[key]}): "
                                "install the same model files and libraries on every node")


# ---- the replica (runs in a Ray worker process) ----------------------------------------------


class Replica:
    """One model loaded once; ``run`` turns a batch of keys into unscored records."""

    def __init__(self, spec: ReplicaSpec, depot: str | None = None) -> None:
        self.spec = spec
        self.failure: str | None = None
        try:
            self._load(depot)
        except BabilongError as error:
            self.failure = str(error)
        except Exception as error:  # noqa: BLE001 - any library failure is reported as one line
            self.failure = f"{type(error).__name__}: {error}"

    def _load(self, depot: str | None) -> None:
        from babilong.models import load_model
        from babilong.pipeline import Pipeline

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ["OMP_NUM_THREADS"] = str(self.spec.threads)  # read when torch is first imported, below
        if not self.spec.gpus:  # Ray leaves every GPU visible to an actor that asked for none
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if depot is not None:  # the haystack the driver prepared: no node reads (or downloads) the books again
            import ray

            from babilong.generate import install_corpus

            install_corpus(self.spec.source.generation, ray.get(ray.get_actor(depot).corpus.remote()))
        self.model = load_model(self.spec.model, self.spec.model_args)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(self.spec.threads)
        self.config = RunConfig(self.spec.model, self.model.settings(), self.spec.prompt, self.spec.max_new_tokens,
                                self.spec.data_identity)
        self.pipeline = Pipeline(self.model, self.config)
        self._identity = {
            **driver_identity(self.spec.source), "pid": os.getpid(), "node": socket.gethostname(),
            "model_tokenizer": model_tokenizer_digest(self.model), "config_hash": self.config.hash,
            "name": self.model.name, "settings": self.model.settings(), "context_window": self.model.context_window,
            "batch": _model_batch(self.model),
        }
        self.digest = _digest(sorted((k, str(v)) for k, v in self._identity.items() if k not in ("pid", "node")))
        self._identity["threads"] = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None

    def identity(self) -> dict[str, Any]:
        if self.failure is not None:
            return {"failure": self.failure, "pid": os.getpid(), "node": socket.gethostname()}
        return {**self._identity, "pid": os.getpid(), "digest": self.digest}

    def run(self, keys: list[str]) -> Replies:
        began, cpu = time.perf_counter(), time.process_time()
        if self.failure is not None:
            raise BabilongError(self.failure)
        records = self._records(keys)
        return Replies(self.digest, os.getpid(), records, time.perf_counter() - began, time.process_time() - cpu)

    def _records(self, keys: list[str]) -> list[dict[str, Any]]:
        """Every key's record; a sample whose building or answering raises fails alone, never the batch.

        Samples are built as the model draws them, as in process: a batch never holds its long inputs at once.
        """
        records: list[dict[str, Any]] = []

        def built(chosen: list[str]) -> Iterator[Any]:
            for key, sample in self.spec.source.samples(chosen):
                if isinstance(sample, Exception):
                    records.append(failed_record(key, self.config, sample))
                else:
                    yield sample

        try:
            for record in self.pipeline.records(built(keys)):
                records.append(record)  # noqa: PERF402 - one at a time: those before an exception are kept
        except Exception:  # noqa: BLE001 - find the sample that raised: the rest again, one at a time
            done = {record["key"] for record in records}
            for sample in built([key for key in keys if key not in done]):
                records.append(self._one(sample))
        return records

    def _one(self, sample: Any) -> dict[str, Any]:
        try:
            return next(iter(self.pipeline.records([sample])))
        except Exception as error:  # noqa: BLE001
            return failed_record(sample.key, self.config, error, sample)


def failed_record(key: str, config: RunConfig, error: BaseException, sample: Any = None) -> dict[str, Any]:
    """The record of a sample that raised on a replica: an error, retried on the next run."""
    task, length, index = key.split("/")
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return {"schema_version": RESULT_SCHEMA, "key": key, "task": task, "length": length, "index": int(index),
            "config_hash": config.hash, "status": "error", "finish_reason": None, "target": getattr(sample, "target", None), "question": getattr(sample, "question", None),
            "output": None, "answer": None, "prompt_tokens": None, "output_tokens": None, "latency": None,
            "error": f"{type(error).__name__} on a Ray replica: {first}", "prompt": None}


def _model_batch(model: Any) -> int:
    """The prompts the model takes at once: a batch of keys is a multiple of it."""
    for name in ("batch_size", "group_size"):
        value = getattr(model, name, None) or getattr(getattr(model, "reader", None), name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1


# ---- the driver -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """What one replica asks of the cluster."""

    replicas: int
    gpus: float
    cpus: float


def check_request(model: str, model_args: dict[str, str], resources: Resources) -> None:
    """Refuse, before Ray starts, a replica request that cannot work for this backend."""
    if model in LOCAL_SERVED:
        raise BabilongError(f"--ray runs local backends on replicas; --model {model} calls servers: scale it with a "
                            "served fleet (several servers, --model-args concurrency=N) or --shard, without --ray")
    if model == "vllm":
        from babilong.models import float_arg, int_arg

        share = float_arg(model_args, "gpu_memory_utilization", 0.9)
        parallel = int_arg(model_args, "tensor_parallel_size", 1)
        if not resources.gpus:
            raise BabilongError("--model vllm runs on GPUs: give --replica-gpus (1 per replica, a fraction to share "
                                "a GPU between small models, N for tensor_parallel_size=N)")
        if parallel > 1 and resources.gpus < parallel:
            raise BabilongError(f"--model vllm with tensor_parallel_size={parallel} needs --replica-gpus {parallel} "
                                "(a replica is one tensor-parallel group)")
        if resources.gpus < 1 and share > resources.gpus:
            raise BabilongError(f"--replica-gpus {resources.gpus:g} shares a GPU but vLLM would take "
                                f"gpu_memory_utilization={share:g} of it: give --model-args "
                                f"gpu_memory_utilization={math.floor(resources.gpus * 90) / 100:g} or less")


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (a local one when None); True when this call started Ray."""
    try:
        import ray
    except ImportError:
        raise BabilongError(RAY_MISSING) from None
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return False
    import logging

    try:
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            start_local_cluster()
    except ConnectionError as error:
        raise BabilongError(f"cannot reach the Ray cluster at {address}: {error}; start one with 'ray start --head' "
                            "or give its address (ray://HOST:10001 or HOST:6379)") from None
    return True


def _check_reachable(address: str, seconds: float = 10.0) -> None:
    """Fail in seconds, not minutes, when nothing listens at a cluster's ``HOST:PORT`` (Ray retries for long)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as error:
        raise BabilongError(f"cannot reach the Ray cluster at {address} ({error.strerror or error}): start one with "
                            "'ray start --head' and give its address (HOST:6379 or ray://HOST:10001)") from None


def start_local_cluster(num_cpus: int | None = None) -> None:
    """A Ray cluster on this machine whose workers import this babilong (the driver's, not another install)."""
    import logging

    import ray

    package_root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})


def check_cluster(resources: Resources) -> None:
    """Refuse replicas the cluster cannot place (they would wait for ever)."""
    import ray

    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    need = {"CPU": resources.cpus, "GPU": resources.gpus}
    for name, amount in need.items():
        have = sum(node.get(name, 0) for node in nodes)
        if amount * resources.replicas > have + 1e-9:
            flag = "--replica-gpus" if name == "GPU" else "--replica-cpus"
            raise BabilongError(f"--replicas {resources.replicas} x {flag} {amount:g} needs {amount * resources.replicas:g} "
                                f"{name}s but the Ray cluster has {have:g}: ask for fewer or add nodes")
    if not any(all(node.get(name, 0) + 1e-9 >= amount for name, amount in need.items()) for node in nodes):
        raise BabilongError(f"no Ray node has {resources.cpus:g} CPUs and {resources.gpus:g} GPUs free for one replica: "
                            "a replica runs on one node; lower --replica-cpus/--replica-gpus")


@dataclass
class Pool:
    """The started replicas and what the driver learnt of them."""

    actors: list[Any]
    first: dict[str, Any]
    digests: set[str]
    depot: Any  # holds the haystack for the run: a restarted replica reads it again
    pids: dict[int, int] = field(default_factory=dict)  # replica -> its current process
    restarts: int = 0
    cpu_seconds: float = 0.0  # the replicas' CPU time on the batches they returned

    def note(self, number: int, replies: Replies) -> None:
        """Check a batch's replica identity (a restarted replica may be on another node); count restarts."""
        if replies.identity not in self.digests:
            raise BabilongError(f"replica {number} came back (pid {replies.pid}) with another babilong, tokenizer or "
                                "model than the run started with: install the same everywhere")
        if self.pids.get(number) not in (None, replies.pid):
            self.restarts += 1
        self.pids[number] = replies.pid
        self.cpu_seconds += replies.cpu_seconds

    def close(self) -> None:
        import ray

        for actor in [*self.actors, *([self.depot] if self.depot else [])]:
            ray.kill(actor, no_restart=True)


class Depot:
    """Holds the prepared haystack for the replicas of one run."""

    def __init__(self, corpus: Any) -> None:
        self._corpus = corpus

    def corpus(self) -> Any:
        return self._corpus


def start_replicas(spec: ReplicaSpec, resources: Resources, corpus: Any = None) -> Pool:
    """``resources.replicas`` actors, each loading the model; their identities checked against the driver's."""
    import ray

    check_cluster(resources)
    # Prepared once by the driver, held by one small named actor for the run: every replica, and
    # a restarted one, reads it from there by name (Ray warns that it cannot restart an actor
    # whose arguments sit in the object store, and an actor handle is such an argument).
    depot_name = f"babilong-haystack-{uuid.uuid4().hex}" if corpus is not None else None
    depot = ray.remote(Depot).options(num_cpus=0, name=depot_name).remote(corpus) if depot_name else None
    actor_class = ray.remote(Replica).options(
        num_cpus=resources.cpus, num_gpus=resources.gpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)
    actors = [actor_class.remote(spec, depot_name) for _ in range(resources.replicas)]
    try:
        identities = ray.get([actor.identity.remote() for actor in actors])
        driver = driver_identity(spec.source)
        for number, found in enumerate(identities):
            if "failure" in found:
                raise BabilongError(f"replica {number} (on {found['node']}) could not load the model: {found['failure']}")
            check_replica(number, driver, found, identities[0] if number else None)
    except BaseException:
        for actor in [*actors, *([depot] if depot else [])]:
            ray.kill(actor, no_restart=True)
        raise
    pool = Pool(actors, identities[0], {found["digest"] for found in identities}, depot)
    pool.pids = {number: found["pid"] for number, found in enumerate(identities)}
    return pool


class BatchSizer:
    """Keys per batch: the model's own batch at first, doubled while a batch takes under
    ``TASK_SECONDS`` (a fast model pays Ray's per-task cost rarely; a slow one streams back
    results a batch of one model step at a time), and never more than a fair share of what is left."""

    def __init__(self, unit: int, replicas: int) -> None:
        self.unit = unit
        self.size = unit
        self.replicas = replicas

    def took(self, seconds: float, keys: int) -> None:
        if keys >= self.size and seconds < TASK_SECONDS and self.size * 2 <= MOST_KEYS:
            self.size *= 2

    def next_size(self, remaining: int) -> int:
        fair = math.ceil(remaining / (self.replicas * IN_FLIGHT) / self.unit) * self.unit
        return max(self.unit, min(self.size, fair))


def evaluate_on_ray(keys: list[str], pool: Pool, config: RunConfig, store: ResultStore, progress: bool = True) -> Summary:
    """Run every key not yet done on the replicas; append each scored record as its batch arrives."""
    import ray
    from ray.exceptions import RayError

    from babilong.pipeline import _progress_bar

    for warning in store.warnings:
        print(f"babilong: warning: {warning}", file=sys.stderr)
    store.warnings.clear()
    summary = Summary(total=len(keys))
    todo = deque(key for key in keys if key not in store.finished)
    summary.skipped = len(keys) - len(todo)
    bar = _progress_bar(len(keys), progress)
    bar.update(summary.skipped)
    sizer = BatchSizer(pool.first["batch"], len(pool.actors))
    delivered: set[str] = set()
    duplicates = 0
    in_flight: dict[Any, tuple[int, list[str]]] = {}

    def submit(number: int) -> None:
        batch = [todo.popleft() for _ in range(min(sizer.next_size(len(todo)), len(todo)))]
        if batch:
            in_flight[pool.actors[number].run.remote(batch)] = (number, batch)

    try:
        for number in range(len(pool.actors)):
            for _ in range(IN_FLIGHT):
                submit(number)
        while in_flight:
            [ready], _ = ray.wait(list(in_flight), num_returns=1)
            number, batch = in_flight.pop(ready)
            try:
                replies = ray.get(ready)
            except RayError as error:
                raise BabilongError(f"replica {number} failed ({_first_line(error)}) after up to {MAX_RESTARTS} restarts; "
                                    "the results so far are kept: rerun the same command to resume") from None
            pool.note(number, replies)
            sizer.took(replies.seconds, len(batch))
            for record in replies.records:
                if record["key"] in delivered:
                    duplicates += 1  # a batch Ray delivered twice
                    continue
                delivered.add(record["key"])
                store.append(verdicts.score_record(record))
                summary.count(record["status"])
                bar.update(1)
                _warn_too_long(record, config, pool, summary)
            missing = [key for key in batch if key not in delivered]
            if missing:
                raise BabilongError(f"replica {number} returned no record for {', '.join(missing[:5])}: a babilong bug; "
                                    "rerun to resume")
            submit(number)
    finally:
        bar.close()
    print(f"babilong: ray: {len(pool.actors)} replicas, {pool.restarts} replica restarts, "
          f"{duplicates} duplicate results dropped", file=sys.stderr)
    return summary


def _warn_too_long(record: dict[str, Any], config: RunConfig, pool: Pool, summary: Summary) -> None:
    if record["status"] == "too_long" and summary.too_long == 1:
        print(f"babilong: warning: {record['key']} needs {record['prompt_tokens']} prompt tokens + "
              f"{config.max_new_tokens} new, over the model's {pool.first['context_window']}: such samples are "
              "recorded as too_long (not truncated) and shown in the report", file=sys.stderr)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
