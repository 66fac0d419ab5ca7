"""``babilong train``: fine-tune a memory model on bAbI tasks with a curriculum over segments.

Samples are made on the fly by our generator from the training books (``split="train"``)
with seeds disjoint from evaluation seeds. In a stage of ``n`` segments every sample holds
1..n segments of context (drawn uniformly); the loss covers the answer tokens only. Each
stage starts from the previous stage's best checkpoint and stops early when validation
accuracy stops improving. Runs as is on one device, or under ``torchrun`` / ``accelerate
launch`` on several (DistributedDataParallel; each rank draws its own rows).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.memory.prompt import answer_choices, answer_ids, question_ids
from babilong.rng import Rng, derive_seed

TINY_BACKBONES = ("tiny", "tiny-llama")
LABEL_PROBE = 300  # stories of each task checked against its labels before training
HELP = "train a recurrent memory model (RMT, RMT-R, ARMT) on bAbI tasks hidden in books"
MAX_SEED = 2**31


def train_seed(seed: int) -> int:
    """Story seed for training samples; evaluation uses small seeds (default 0)."""
    return 1_000_000 + derive_seed("memory-train", seed) % MAX_SEED


def valid_seed(seed: int) -> int:
    return 1_000_000 + derive_seed("memory-valid", seed) % MAX_SEED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=["rmt", "rmt-r", "armt"], default="rmt")
    parser.add_argument("--backbone", default="tiny",
                        help="hub id, local model folder, 'tiny' or 'tiny-llama' (sizes: 'tiny:n_embd=128,n_layer=3,n_head=4')")
    parser.add_argument("--tasks", default="qa1", help="tasks, e.g. qa1 or qa1-qa5: trained together in one model unless --per-task")
    parser.add_argument("--per-task", action="store_true",
                        help="one model per task (the papers' protocol), each in OUTPUT/TASK with the same flags")
    parser.add_argument("--segment", type=arguments.positive, default=None,
                        help="tokens per segment (default 512 on a GPU, 128 on a CPU)")
    parser.add_argument("--memory", type=arguments.positive, default=None, help="memory tokens (default 16; ARMT 10)")
    parser.add_argument("--memory-dim", type=arguments.positive, default=64, help="ARMT key size before DPFP-3")
    parser.add_argument("--bptt-depth", type=arguments.positive, default=None, help="segments to backpropagate through (default all)")
    parser.add_argument("--curriculum", default=None,
                        help="segments per stage; 0 is the facts alone, without book text (default 0,1,2,4,6,8,16,32 "
                             "on a GPU, 0,1,4 on a CPU)")
    parser.add_argument("--max-steps", type=arguments.positive, default=5000, help="optimizer steps per stage at most")
    parser.add_argument("--batch-size", type=arguments.positive, default=None,
                        help="rows per step on each device (default 128 for tiny backbones, else 8; lowered for "
                             "a stage that would not fit in --memory-limit-gb)")
    parser.add_argument("--memory-limit-gb", type=arguments.number(0, low_open=True), default=None,
                        help="memory a step may take (default: 80%% of what is free now: RAM on a CPU, the GPU's memory)")
    parser.add_argument("--lr", type=arguments.number(0, low_open=True), default=None, help="peak learning rate (default 1e-3 for tiny backbones, else 1e-4)")
    parser.add_argument("--answer-loss", choices=["labels", "full"], default="labels",
                        help="labels: the answer competes with the tasks' labels only, and is decoded so; full: all tokens")
    parser.add_argument("--one-question", action="store_true",
                        help="train on each sample's own question only (default: also ask where every other person is)")
    parser.add_argument("--weight-decay", type=arguments.number(0), default=0.01)
    parser.add_argument("--warmup", type=arguments.non_negative, default=100, help="warm-up steps of each stage's linear schedule")
    parser.add_argument("--budget-minutes", type=arguments.number(0, low_open=True), default=None,
                        help="wall-clock limit for the whole run; each stage gets its share (--stage-shares) of what is left")
    parser.add_argument("--stage-shares", default=None,
                        help="relative time shares of the stages under --budget-minutes, e.g. 4,1,1,1 (default: equal)")
    parser.add_argument("--eval-every", type=arguments.positive, default=200, help="steps between validations")
    parser.add_argument("--val-samples", type=arguments.positive, default=64)
    parser.add_argument("--patience", type=arguments.positive, default=5, help="validations without improvement that end a stage")
    parser.add_argument("--target-accuracy", type=arguments.number(0, 1), default=1.0, help="end a stage once validation reaches this")
    parser.add_argument("--haystack", default="gutenberg", help="background source (its training books are used)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--grad-checkpointing", action="store_true", help="recompute activations to save memory")
    parser.add_argument("--output", type=arguments.output_folder, required=True, help="folder for checkpoints and the log")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt")
    parser.add_argument("--init", type=arguments.existing_path, default=None,
                        help="start from this checkpoint's weights and model config (a new run: fresh optimizer and "
                             "curriculum); --segment and --bptt-depth may differ from the checkpoint's")
    parser.add_argument("--workers", type=arguments.non_negative, default=None,
                        help="processes that make batches ahead of the model (default: 0 on a CPU, up to 8 beside a GPU)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (validation lines still print)")


@dataclass
class Progress:
    """Where training stands; saved in ``last.pt`` for ``--resume``."""

    stage: int = 0
    step: int = 0
    best: float = -1.0
    stale: int = 0  # validations since the best one


# Defaults per device: the paper's on a GPU; on a CPU, the recipe measured to learn qa1 there
# (benchmarks/RESULTS.md, "The CPU recipe with batch 128") at a size a laptop holds.
DEVICE_DEFAULTS = {
    "cuda": {"segment": 512, "curriculum": "0,1,2,4,6,8,16,32"},
    "cpu": {"segment": 128, "curriculum": "0,1,4"},
}
FREE_SHARE = 0.8  # of the memory free at the start, what training may plan to use


def run(args: argparse.Namespace) -> int:
    import copy

    from babilong.tasks import parse_tasks

    tasks = parse_tasks(args.tasks)
    output = Path(args.output)
    if args.per_task and len(tasks) > 1:
        for task in tasks:  # each task's folder resumes if it was started, else starts
            folder = output / task
            own = copy.copy(args)
            own.resume = args.resume and (folder / "last.pt").exists()
            if not own.resume and (folder / "last.pt").exists():
                raise BabilongError(f"{folder} already holds a training run: add --resume to continue it or pick another --output")
            print(f"{task}: training into {folder}", flush=True)
            _train(own, [task], folder)
        return 0
    _check_output(output, args.resume)
    _train(args, tasks, output)
    return 0


def _check_output(output: Path, resume: bool) -> None:
    if (output / "last.pt").exists() and not resume:
        raise BabilongError(f"{output} already holds a training run: add --resume to continue it or pick another --output")
    if resume and not (output / "last.pt").exists():
        raise BabilongError(f"nothing to resume in {output} (no last.pt): drop --resume to start a new run")


def _train(args: argparse.Namespace, tasks: list[str], output: Path) -> None:
    if args.resume and args.curriculum is None:
        args.curriculum = _saved_curriculum(output / "last.pt")
    if args.init is not None and args.resume:
        raise BabilongError("--init starts a new run from a checkpoint and --resume continues one: give only one")
    if args.init is not None and args.segment is None:
        from babilong.memory.checkpoint import read_checkpoint

        args.segment = read_checkpoint(args.init)["config"]["segment_size"]
    apply_device_defaults(args, _device_type())
    curriculum = _parse_curriculum(args.curriculum)
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        raise BabilongError(f"bad --budget-minutes {args.budget_minutes}: give a positive number of minutes")
    args.stage_shares = _parse_shares(args.stage_shares, len(curriculum))
    Trainer(args, tasks, curriculum, output).fit()


def _saved_curriculum(path: Path) -> str | None:
    """The curriculum a run was started with, so that ``--resume`` alone continues it."""
    from babilong.memory.checkpoint import read_checkpoint

    saved = read_checkpoint(path).get("curriculum")
    return ",".join(str(n) for n in saved) if isinstance(saved, list) and saved else None


def _device_type() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def apply_device_defaults(args: argparse.Namespace, device_type: str) -> None:
    """Fill the flags left unset with the device's defaults; on a CPU, say so in one line."""
    filled = {}
    for key, value in DEVICE_DEFAULTS[device_type].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
            filled[key] = value
    if filled and device_type == "cpu" and not args.resume:
        flags = " ".join(f"--{key} {value}" for key, value in filled.items())
        print(f"no GPU: CPU defaults {flags} (a GPU gets --segment 512 --curriculum 0,1,2,4,6,8,16,32)", flush=True)


def _parse_curriculum(spec: str) -> list[int]:
    try:
        stages = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        stages = []
    if not stages or min(stages) < 0:
        raise BabilongError(f"bad --curriculum {spec!r}: give segment counts like 0,1,2,4,8 (0: the facts alone)")
    return stages


def _parse_shares(spec: str | None, stages: int) -> list[float]:
    if spec is None:
        return [1.0] * stages
    try:
        shares = [float(part) for part in spec.split(",")]
    except ValueError:
        shares = []
    if len(shares) != stages or not all(share > 0 for share in shares):
        raise BabilongError(f"bad --stage-shares {spec!r}: give {stages} positive numbers, one per --curriculum stage")
    return shares


class Trainer:
    """One training run: the model, the data it draws and the curriculum it walks."""

    def __init__(self, args: argparse.Namespace, tasks: list[str], curriculum: list[int], output: Path) -> None:
        import torch

        from babilong.memory.backbone import load_backbone
        from babilong.memory.checkpoint import (
            build_model,
            model_from_checkpoint,
            read_checkpoint,
        )
        from babilong.memory.recurrence import MemoryConfig

        self.args, self.tasks, self.curriculum, self.output = args, tasks, curriculum, output
        self.deadline = time.time() + 60 * args.budget_minutes if args.budget_minutes else None
        self.rank, self.world = _init_distributed()
        local = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if args.resume:
            payload = read_checkpoint(output / "last.pt")
            self.model = model_from_checkpoint(payload)
            self.tokenizer_name = payload["tokenizer"]
            self.progress = Progress(**payload["progress"])
            self.resumed: dict[str, Any] | None = payload
        elif args.init is not None:
            payload = read_checkpoint(args.init)
            self.model = model_from_checkpoint(payload)
            self.model.config.segment_size = args.segment
            if args.bptt_depth is not None:
                self.model.config.bptt_depth = args.bptt_depth
            self.tokenizer_name = payload["tokenizer"]
            self.progress, self.resumed = Progress(), None
        else:
            backbone, self.tokenizer_name = load_backbone(args.backbone)
            memory = args.memory or (10 if args.arch == "armt" else 16)
            labels = task_labels(tasks) if args.answer_loss == "labels" else ()
            config = MemoryConfig(args.arch, memory, args.segment, args.bptt_depth, args.memory_dim, labels)
            torch.manual_seed(args.seed)
            self.model = build_model(backbone, config)
            self.progress, self.resumed = Progress(), None
        from babilong.tokens import get_tokenizer

        self.tokenizer = get_tokenizer(self.tokenizer_name)
        self.choices = answer_choices(self.tokenizer, self.model.config.labels)
        self.batch_given = args.batch_size is not None
        if args.batch_size is None:
            args.batch_size = default_batch_size(args.backbone)
        self.rows = Rows(
            tuple(tasks), self.model.config.segment_size, self.tokenizer_name, args.haystack, args.seed,
            args.batch_size, tuple(self.model.config.labels), args.one_question, self.rank, self.world,
        )
        self.workers = args.workers if args.workers is not None else default_workers(self.device.type)
        self.lr = args.lr if args.lr is not None else default_lr(args.backbone)
        self.model.to(self.device)
        self.model.checkpoint_segments = args.grad_checkpointing
        self.wrapped = self.model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=True)
        self._read_checkpoint = read_checkpoint
        self.stage_batches = self._plan_batches()

    def _plan_batches(self) -> list[int]:
        """Rows per step for each stage: ``--batch-size``, lowered (or refused, when given
        explicitly) where the estimated peak memory would pass the limit."""
        from babilong.memory.footprint import available_bytes, gigabytes, largest_batch, shape_of, training_bytes

        args, shape, size = self.args, shape_of(self.model), self.model.config.segment_size
        if args.memory_limit_gb is not None:
            limit, named = int(args.memory_limit_gb * 2**30), "--memory-limit-gb"
        else:
            limit, named = int(FREE_SHARE * available_bytes(self.device)), f"{FREE_SHARE:.0%} of the memory free now"
        checkpointing = args.grad_checkpointing
        batches, peak = [], 0
        for stage, segments in enumerate(self.curriculum):
            batch = args.batch_size
            need = training_bytes(shape, batch, segments, size, checkpointing)
            if need > limit:
                where = f"stage {stage + 1} ({segments} segments of {size} tokens, width {shape.width}, {shape.layers} layers)"
                fits = largest_batch(shape, limit, segments, size, checkpointing)
                if fits == 0 or self.batch_given:
                    advice = f"lower --batch-size to {fits}" if fits else "use a shorter --curriculum or --segment"
                    raise BabilongError(
                        f"{where} with batch {batch} needs about {gigabytes(need)}, more than the {gigabytes(limit)} "
                        f"allowed ({named}): {advice}, add --grad-checkpointing, or raise --memory-limit-gb"
                    )
                self._say(f"{where}: batch {batch} would need about {gigabytes(need)}, more than the "
                          f"{gigabytes(limit)} allowed ({named}); this stage trains with batch {fits}")
                batch, need = fits, training_bytes(shape, fits, segments, size, checkpointing)
            batches.append(batch)
            peak = max(peak, need)
        self._say(f"estimated peak memory {gigabytes(peak)} of the {gigabytes(limit)} allowed ({named})")
        return batches

    def _say(self, line: str) -> None:
        if self.rank == 0:
            print(line, flush=True)

    # ----- the curriculum ----------------------------------------------------------------
    def fit(self) -> None:
        while self.progress.stage < len(self.curriculum):
            if self.progress.stage > 0 and self.progress.step == 0:
                self._load_weights(self._stage_dir(self.progress.stage - 1) / "best.pt")
            self.fit_stage()
            if self.rank == 0:
                shutil.copyfile(self._stage_dir(self.progress.stage) / "best.pt", self.output / "best.pt")
            self.progress = Progress(stage=self.progress.stage + 1)
            self._save(self.output / "last.pt")
        self._log({"event": "done", "best": str(self.output / "best.pt")})

    def fit_stage(self) -> None:
        import torch

        args, segments = self.args, self.curriculum[self.progress.stage]
        self.batch = self.stage_batches[self.progress.stage]
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=args.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_warmup(args.warmup, args.max_steps))
        if self.resumed is not None and "optimizer" in self.resumed:
            optimizer.load_state_dict(self.resumed["optimizer"])
            schedule.load_state_dict(self.resumed["schedule"])
        self.resumed = None
        self.model.train()
        losses: list[float] = []
        started = time.time()
        stage_deadline = self._stage_deadline()
        batches = self._batches(segments)
        with self._progress_bar(segments) as bar, closing(batches):
            for contexts, prompts, answers, owners in batches:
                with self._autocast():
                    loss = self.wrapped(contexts, prompts, answers, owners=owners, choices=self.choices)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                self.progress.step += 1
                bar.update(1)
                rate = (bar.format_dict["rate"] or 0.0) * self.batch * self.world
                bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}", samples_s=f"{rate:.1f}", refresh=False)
                out_of_time = stage_deadline is not None and _any_rank(time.time() >= stage_deadline, self.device)
                if self.progress.step % args.eval_every == 0 or self.progress.step == args.max_steps or out_of_time:
                    if self.validate_and_save(segments, losses, started, optimizer, schedule) or out_of_time:
                        break
                    losses = []

    def _stage_deadline(self) -> float | None:
        """When this stage must end: its share (``--stage-shares``) of the time left to ``--budget-minutes``."""
        if self.deadline is None:
            return None
        now, shares = time.time(), self.args.stage_shares[self.progress.stage :]
        return now + max(self.deadline - now, 0.0) * shares[0] / sum(shares)

    def _progress_bar(self, segments: int):
        """A tqdm bar over this stage's steps: step, loss, samples/s (all ranks) and ETA."""
        from tqdm import tqdm

        stage = self.progress.stage
        return tqdm(
            total=self.args.max_steps, initial=self.progress.step, unit="step", dynamic_ncols=True,
            desc=f"stage {stage + 1}/{len(self.curriculum)} ({segments} seg)",
            disable=self.args.no_progress or self.rank != 0,
        )

    def validate_and_save(self, segments: int, losses: list[float], started: float, optimizer, schedule) -> bool:
        """Validate, keep the best checkpoint, save ``last.pt``; True when the stage is over."""
        accuracy = self.validate(segments)
        progress = self.progress
        improved = accuracy > progress.best
        progress.best, progress.stale = (accuracy, 0) if improved else (progress.best, progress.stale + 1)
        if improved:
            self._save(self._stage_dir(progress.stage) / "best.pt")
        self._save(self.output / "last.pt", optimizer, schedule)
        self._log({
            "stage": progress.stage, "segments": segments, "step": progress.step,
            "loss": round(sum(losses) / max(len(losses), 1), 4), "val_accuracy": round(accuracy, 4),
            "best": round(progress.best, 4), "seconds": round(time.time() - started, 1),
        })
        return progress.best >= self.args.target_accuracy or progress.stale >= self.args.patience

    # ----- data --------------------------------------------------------------------------
    def _batches(self, segments: int):
        """This rank's batches from the current step on, made ahead by ``--workers`` processes."""
        steps = range(self.progress.step, self.args.max_steps)
        rows = replace(self.rows, batch_size=self.batch)
        if self.workers == 0:
            return (rows.batch(segments, step) for step in steps)
        return _prefetched(rows, segments, steps, self.workers)

    def validate(self, segments: int) -> float:
        """Exact-match accuracy on held-out samples spread over 1..``segments`` segments."""
        import torch

        from babilong.memory.prompt import clean_answer, stop_ids

        seed, total = valid_seed(self.args.seed), self.args.val_samples
        mine = list(range(self.rank, total, self.world))
        rows = [self.rows.sample(segments, i, seed, "valid", 1 + i % segments if segments else 0) for i in mine]
        correct = 0
        self.model.eval()
        with torch.no_grad(), self._autocast():
            for start in range(0, len(rows), self.batch):
                chunk = rows[start : start + self.batch]
                state = self.model.read_context([context for _, context in chunk])
                prompts = [question_ids(self.tokenizer, sample.question) for sample, _ in chunk]
                outputs = self.model.generate(state, prompts, 8, stop_ids(self.tokenizer), self.choices)
                correct += sum(clean_answer(self.tokenizer, o).lower() == sample.target.lower() for o, (sample, _) in zip(outputs, chunk))
        self.model.train()
        return _all_sum(correct, self.device) / total

    # ----- files -------------------------------------------------------------------------
    def _stage_dir(self, stage: int) -> Path:
        segments = self.curriculum[stage]
        return self.output / f"stage-{stage + 1}-{f'{segments}seg' if segments else 'facts'}"

    def _save(self, path: Path, optimizer=None, schedule=None) -> None:
        from babilong.memory.checkpoint import save_checkpoint

        if self.rank == 0:
            extra: dict[str, Any] = {"progress": vars(self.progress), "curriculum": self.curriculum}
            if optimizer is not None:
                extra.update(optimizer=optimizer.state_dict(), schedule=schedule.state_dict())
            save_checkpoint(self.model, path, self.tokenizer_name, extra)
        _barrier()

    def _load_weights(self, path: Path) -> None:
        self.model.load_state_dict(self._read_checkpoint(path)["weights"])

    def _log(self, record: dict[str, Any]) -> None:
        if self.rank == 0:
            from tqdm import tqdm

            tqdm.write(json.dumps(record))  # above the progress bar, not through it
            with open(self.output / "log.jsonl", "a") as log:
                log.write(json.dumps(record) + "\n")

    def _autocast(self):
        import torch

        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda")


@dataclass(frozen=True)
class Rows:
    """Where training and validation rows come from; picklable, so worker processes can make them."""

    tasks: tuple[str, ...]
    segment_size: int
    tokenizer_name: str
    haystack: str
    seed: int
    batch_size: int
    labels: tuple[str, ...]
    one_question: bool
    rank: int = 0
    world: int = 1

    def batch(self, segments: int, step: int) -> tuple[list, list, list, list]:
        """One step's rows: contexts, prompts, answers and the context each prompt asks about."""
        from babilong.tokens import get_tokenizer

        tokenizer = get_tokenizer(self.tokenizer_name)
        first = (step * self.world + self.rank) * self.batch_size
        contexts, prompts, answers, owners = [], [], [], []
        for row, index in enumerate(range(first, first + self.batch_size)):
            sample, context = self.sample(segments, index, train_seed(self.seed), "train")
            asked = [(sample.question, sample.target)] if self.one_question else questions_about_everyone(sample)
            contexts.append(context)
            for question, target in asked:
                prompts.append(question_ids(tokenizer, question))
                answers.append(answer_ids(tokenizer, self._as_label(sample.task, target)))
                owners.append(row)
        return contexts, prompts, answers, owners

    def sample(self, segments: int, index: int, seed: int, purpose: str, count: int | None = None) -> tuple:
        """A sample of ``count`` segments (default: 1..``segments`` at random; 0: facts alone) and its context."""
        from babilong.generate import generate_samples
        from babilong.memory.recurrence import split_segments
        from babilong.tokens import get_tokenizer

        rng = Rng(seed, purpose, segments, index)
        task = rng.choice(list(self.tasks))
        if count is None:
            count = rng.randint(1, segments) if segments else 0
        sample = generate_samples(
            task, str(count * self.segment_size) if count else "0k", 1, seed=seed, haystack=self.haystack,
            tokenizer=self.tokenizer_name, split="train", start=index,
        )[0]
        return sample, split_segments(get_tokenizer(self.tokenizer_name).encode(sample.input), self.segment_size)

    def _as_label(self, task: str, target: str) -> str:
        """The target spelt as its label ("Bill" -> "bill"): the loss compares tokens, and a
        target off the labels' spelling would be the only option of its kind (a free answer)."""
        if not self.labels:
            return target
        spelling = {label.lower(): label for label in self.labels}
        if target.lower() not in spelling:
            raise BabilongError(f"{task} answers {target!r}, which is not one of its labels: train it with --answer-loss full")
        return spelling[target.lower()]


def _prefetched(rows: Rows, segments: int, steps: range, workers: int):
    """``rows.batch`` for each step, in order, made by a pool that keeps ``2 * workers`` steps ahead."""
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the parent may hold CUDA state, which a forked child must not inherit
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        upcoming = iter(steps)
        for step in upcoming:
            pending.append(pool.submit(rows.batch, segments, step))
            if len(pending) >= 2 * workers:
                break
        try:
            while pending:
                batch = pending.popleft().result()
                step = next(upcoming, None)
                if step is not None:
                    pending.append(pool.submit(rows.batch, segments, step))
                yield batch
        finally:  # the stage ended early: drop the batches made ahead
            for future in pending:
                future.cancel()


def default_workers(device_type: str) -> int:
    """Processes making batches: none on a CPU (they would take the training's cores), else up to 8."""
    return 0 if device_type == "cpu" else max(0, min(8, (os.cpu_count() or 1) - 1))


def default_batch_size(backbone: str) -> int:
    """128 rows for a tiny backbone trained from scratch: with 16 it stays at the latest-fact
    shortcut for thousands of steps (benchmarks/RESULTS.md); 8 to fine-tune a pretrained one."""
    return 128 if backbone.partition(":")[0] in TINY_BACKBONES else 8


def default_lr(backbone: str) -> float:
    """1e-3 for a tiny backbone trained from scratch, 1e-4 to fine-tune a pretrained one."""
    return 1e-3 if backbone.partition(":")[0] in TINY_BACKBONES else 1e-4


def task_labels(tasks: list[str]) -> tuple[str, ...]:
    """Every answer the tasks can give, for the label-vocabulary loss."""
    from babilong.tasks import get_task
    from babilong.tasks.dataset import TaskConfig, TaskDataset

    labels: dict[str, None] = {}
    for task in tasks:
        own = get_task(task).labels
        # refuse up front a task whose answers are lists (qa8): a few hundred stories show it
        outside = next((s.answer for s in TaskDataset(TaskConfig(task, size=LABEL_PROBE)) if s.answer.lower() not in own), None)
        if outside is not None:
            raise BabilongError(f"{task} answers {outside!r}, which is not one of its labels: train it with --answer-loss full")
        labels.update(dict.fromkeys(own))
    return tuple(labels)


def questions_about_everyone(sample) -> list[tuple[str, str]]:
    """The sample's question and answer, then the same question about each other person the
    facts answer it for ("Where is Mary?" -> "Where is John?"): more to learn per context read."""
    from babilong.tasks import get_task
    from babilong.tasks.world import ACTORS

    asked = [(sample.question, sample.target)]
    named = [actor for actor in ACTORS if re.search(rf"\b{actor}\b", sample.question)]
    if len(named) != 1 or not sample.facts:
        return asked
    check = get_task(sample.task).check
    for actor in ACTORS:
        if actor == named[0]:
            continue
        question = re.sub(rf"\b{named[0]}\b", actor, sample.question)
        try:
            asked.append((question, check(list(sample.facts), question)))
        except (ValueError, KeyError, BabilongError):  # the facts do not answer it for this person
            continue
    return asked


def _linear_warmup(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(total - warmup, 1))

    return factor


def _init_distributed() -> tuple[int, int]:
    """Rank and world size; joins the process group under torchrun / accelerate launch."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return dist.get_rank(), world


def _all_sum(value: int, device) -> int:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor)
    return int(tensor.item())


def _any_rank(flag: bool, device) -> bool:
    """True on every rank when ``flag`` is True on one of them (so all stop together)."""
    return _all_sum(int(flag), device) > 0


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
