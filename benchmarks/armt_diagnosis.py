"""ARMT over thousands of segments: does its associative memory stay bounded and precise?

Runs one ARMT checkpoint over real qa1 samples of ``--segments`` segments (8,000 at segment
128 is 1M tokens), the same segments fed in lockstep to several copies of the model:

- ``fp32``: fp32 weights (the reference);
- ``bf16``: the weights cast to bf16 (``model.to(torch.bfloat16)``, as a user loading a bf16
  checkpoint for inference might);
- ``autocast``: fp32 weights under bf16 autocast (what ``babilong eval`` and training do on a
  GPU; on the CPU autocast runs the same bf16 matmuls).

At log-spaced segments it prints, per copy and per layer: the norms of ``A`` and ``z`` (mean
over rows), the read's magnitude relative to the hidden state it is added to (mean over
positions of |read| / |x|), the mean of ``gamma`` over that segment's writes, the state's
dtype, and for the non-reference copies the relative distance of ``A`` from the fp32 one.
At the end each copy answers the samples' questions.

    OMP_NUM_THREADS=1 python benchmarks/armt_diagnosis.py --checkpoint runs/armt-cpu          # 8,000 segments
    python benchmarks/armt_diagnosis.py --checkpoint runs/armt-cpu --segments 64 --rows 1   # a quick look
"""

from __future__ import annotations

import argparse
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch

MODES = ("fp32", "bf16", "autocast")


def log_spaced(last: int) -> list[int]:
    """1, 2, 4, ... up to ``last`` (1-based segment counts), with ``last`` itself."""
    points = [2**i for i in range(int(math.log2(last)) + 1)]
    return points if points[-1] == last else points + [last]


class Probe:
    """Collects one segment's read ratios and gammas per layer through the layers' ``observe``."""

    def __init__(self, layers: int) -> None:
        self.ratio: list[list[float]] = [[] for _ in range(layers)]
        self.gamma: list[list[float]] = [[] for _ in range(layers)]

    def attach(self, model) -> None:
        for i, memory in enumerate(model.associative):
            memory.observe = self._observer(i)

    def _observer(self, layer: int):
        def observe(kind: str, **values: torch.Tensor) -> None:
            if kind == "read":
                x, read = values["x"].float(), values["read"].float()
                ratio = read.norm(dim=-1) / x.norm(dim=-1).clamp_min(1e-12)
                self.ratio[layer].append(float(ratio.mean()))
            else:
                self.gamma[layer].append(float(values["gamma"].float().mean()))

        return observe

    def take(self) -> tuple[list[float], list[float]]:
        """Mean read ratio and gamma per layer since the last call (NaN if none)."""
        ratio = [sum(r) / len(r) if r else float("nan") for r in self.ratio]
        gamma = [sum(g) / len(g) if g else float("nan") for g in self.gamma]
        for values in (*self.ratio, *self.gamma):
            values.clear()
        return ratio, gamma


def copies(checkpoint: Path, modes: list[str], any_rule: bool) -> dict[str, object]:
    from babilong.memory.checkpoint import (
        ARMT_RULE,
        model_from_checkpoint,
        read_checkpoint,
    )

    made = {}
    for mode in modes:  # one load each: ARMT's layer hooks are bound to their model, so no deepcopy
        payload = read_checkpoint(checkpoint)
        if any_rule:
            payload["armt_rule"] = ARMT_RULE
        model = model_from_checkpoint(payload)
        if model.config.arch != "armt":
            raise SystemExit(f"{checkpoint} holds a {model.config.arch} model, not ARMT")
        made[mode] = model.to(torch.bfloat16) if mode == "bf16" else model
    return made


def context(mode: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if mode == "autocast" else nullcontext()


def describe(mode: str, segment: int, state: dict, reference: dict | None, ratio: list[float], gamma: list[float]) -> str:
    matrix, norm = state["matrix"].float(), state["norm"].float()
    cells = []
    for layer in range(matrix.shape[1]):
        a = matrix[:, layer].flatten(1).norm(dim=1).mean()
        z = norm[:, layer].norm(dim=1).mean()
        cell = f"L{layer} |A| {a:9.3g} |z| {z:9.3g} read/x {ratio[layer]:8.3g} gamma {gamma[layer]:6.3f}"
        if reference is not None:
            ref = reference["matrix"][:, layer].float()
            drift = (matrix[:, layer] - ref).flatten(1).norm(dim=1) / ref.flatten(1).norm(dim=1).clamp_min(1e-30)
            cell += f" dA {float(drift.mean()):8.2g}"
        cells.append(cell)
    return f"{mode:>8} {segment:>6} {str(state['matrix'].dtype).removeprefix('torch.'):>8}  " + " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="an ARMT training folder or .pt")
    parser.add_argument("--segments", type=int, default=8000, help="segments to read (8,000 x 128 = 1M tokens)")
    parser.add_argument("--rows", type=int, default=2, help="samples read side by side")
    parser.add_argument("--modes", default=",".join(MODES), help=f"copies to run, from {','.join(MODES)} (fp32 first)")
    parser.add_argument("--any-rule", action="store_true",
                        help="run weights trained under an earlier ARMT memory rule with today's (the state's dynamics "
                             "only: the weights were not trained for this rule)")
    args = parser.parse_args()

    from babilong.generate import generate_samples
    from babilong.memory.inference import stream_segments
    from babilong.memory.prompt import (
        answer_choices,
        clean_answer,
        question_ids,
        stop_ids,
    )
    from babilong.scoring import babilong_correct
    from babilong.tokens import get_tokenizer

    torch.manual_seed(0)
    modes = [m for m in args.modes.split(",") if m]
    models = copies(Path(args.checkpoint), modes, args.any_rule)
    first = next(iter(models.values()))
    size = first.config.segment_size
    tokenizer = get_tokenizer("gpt2")
    samples = generate_samples("qa1", str((args.segments + 1) * size), args.rows, seed=0, split="test")
    streams = [stream_segments(s.input, tokenizer, size) for s in samples]
    states = {mode: model.initial_state(args.rows) for mode, model in models.items()}
    probes = {mode: Probe(len(model.associative)) for mode, model in models.items()}
    for mode, model in models.items():
        probes[mode].attach(model)
    report = set(log_spaced(args.segments))
    print(f"checkpoint {args.checkpoint}, segment {size}, {args.rows} rows of real qa1 test samples, "
          f"{args.segments} segments; {len(first.associative)} layers")
    started, done = time.time(), 0
    with torch.no_grad():
        while done < args.segments:
            rows = [next(s, None) for s in streams]
            if any(r is None for r in rows):
                break
            done += 1
            for mode, model in models.items():
                with context(mode):
                    states[mode] = model.step(states[mode], rows)
            if done in report:
                for mode in models:
                    ratio, gamma = probes[mode].take()
                    reference = states["fp32"] if mode != "fp32" and "fp32" in states else None
                    print(describe(mode, done, states[mode], reference, ratio, gamma), flush=True)
            else:
                for probe in probes.values():
                    probe.take()
        choices = answer_choices(tokenizer, first.config.labels)
        prompts = [question_ids(tokenizer, s.question) for s in samples]
        for mode, model in models.items():
            with context(mode):
                outputs = model.generate(states[mode], prompts, 4, stop_ids(tokenizer), choices)
            answers = [clean_answer(tokenizer, o) for o in outputs]
            right = sum(babilong_correct(a, s.target, s.question, "qa1") for a, s in zip(answers, samples))
            print(f"{mode:>8} after {done} segments: answers {answers}, targets {[s.target for s in samples]}, {right}/{len(samples)} right")
    print(f"{done} segments x {len(models)} copies in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
