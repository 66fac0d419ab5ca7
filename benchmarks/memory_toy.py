"""qa1 with a compact word vocabulary, for quick memory-model experiments (no hub, no books).

The story's facts sit in the first context segment among filler words; later segments are
filler; the question is in the final segment, so only the memory can carry the answer.
Stories are qa1's own, cut to a window of 1-4 facts that holds the supporting fact; the
answer of the window is recomputed by qa1's checker.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch

from babilong.memory.backbone import tiny_backbone
from babilong.memory.checkpoint import build_model
from babilong.memory.recurrence import MemoryConfig, RecurrentMemory
from babilong.rng import Rng
from babilong.tasks import get_task

FILLER = [f"w{i}" for i in range(300)]
END = "<end>"
ANSWER = "answer:"


class WordTokenizer:
    """Lower-case words and punctuation of qa1, plus filler words; no unknowns allowed."""

    def __init__(self) -> None:
        task, words = get_task("qa1"), set()
        for i in range(300):
            story = task.generate(Rng("vocab", i))
            for line in (*story.facts, story.question):
                words.update(_words(line))
        words.update(task.labels)
        self.words = ["<pad>", END, ANSWER, *sorted(words), *FILLER]
        self.ids = {w: i for i, w in enumerate(self.words)}

    def encode(self, text: str) -> list[int]:
        return [self.ids[w] for w in _words(text)]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.words[i] for i in ids)


def _words(text: str) -> list[str]:
    return re.findall(r"answer:|<end>|[a-z0-9]+|[.?]", text.lower())


@dataclass
class Example:
    context: list[list[int]]  # segments
    prompt: list[int]
    answer: list[int]
    target: str
    latest: str  # the location of the last fact: the "latest fact" shortcut's answer


def filler_pool(tok: WordTokenizer, size: int, count: int = 256) -> list[list[int]]:
    """Ready-made filler segments, so million-token contexts cost one choice per segment."""
    rng = Rng("memory-toy-pool", size)
    return [[tok.ids[rng.choice(FILLER)] for _ in range(size)] for _ in range(count)]


def make_example(tok: WordTokenizer, key: tuple, segments: int, size: int, pool: list[list[int]] | None = None) -> Example:
    """qa1 facts in the first of ``segments`` segments of ``size`` tokens, question after.

    With a ``pool``, the segments after the first are drawn from it instead of word by word.
    """
    rng = Rng("memory-toy", *key)
    task = get_task("qa1")
    story = task.generate(rng)
    sup = story.supporting[-1]
    first = max(0, sup - rng.randint(0, 1))
    window = list(story.facts[first : min(len(story.facts), sup + 1 + rng.randint(1, 2))])
    target = task.check(window, story.question)
    facts = [tok.encode(f) for f in window]
    filler = size * (1 if pool else segments) - sum(map(len, facts))
    tokens = [tok.ids[rng.choice(FILLER)] for _ in range(filler)]
    # Facts keep their order at random gaps inside the first segment.
    room = size - sum(map(len, facts))
    spots = sorted(rng.randint(0, room) for _ in facts)
    for spot, fact in reversed(list(zip(spots, facts))):
        tokens[spot:spot] = fact
    stream = tokens
    context = [stream[i : i + size] for i in range(0, len(stream), size)]
    if pool:
        context += [pool[rng.below(len(pool))] for _ in range(segments - 1)]
    prompt = tok.encode(story.question + " " + ANSWER)
    latest = _words(window[-1])[-2]
    return Example(context, prompt, [tok.ids[target], tok.ids[END]], target, latest)


def make_model(tok: WordTokenizer, arch: str = "rmt", size: int = 40, memory: int = 8, width: int = 64, layers: int = 2) -> RecurrentMemory:
    torch.manual_seed(0)
    backbone = tiny_backbone("tiny", vocab_size=len(tok.words), n_embd=width, n_head=4, n_layer=layers, n_positions=512)
    return build_model(backbone, MemoryConfig(arch=arch, memory_tokens=memory, segment_size=size))


@torch.no_grad()
def accuracy(model: RecurrentMemory, examples: list[Example], reset: bool = False, batch: int = 64) -> float:
    """Share of examples whose first generated token is the answer; ``reset`` forgets the memory."""
    model.eval()
    correct = 0
    for start in range(0, len(examples), batch):
        chunk = examples[start : start + batch]
        state = model.read_context([e.context for e in chunk])
        if reset:
            state = model.initial_state(len(chunk))
        out = model.generate(state, [e.prompt for e in chunk], 1, set())
        correct += sum(o[0] == e.answer[0] for o, e in zip(out, chunk))
    model.train()
    return correct / len(examples)


def train(model: RecurrentMemory, tok: WordTokenizer, budget_s: float, stages: list[int], batch: int = 16,
          lr: float = 1e-3, report_every_s: float = 60.0, device: str = "cpu") -> list[tuple]:
    """Time-boxed training; stage k of ``stages`` gets an equal share of the budget.

    Returns the learning curve: (seconds, step, max segments, mean loss, accuracy at 2 segments).
    """
    size = model.config.segment_size
    probe = [make_example(tok, ("probe", i), 2, size) for i in range(128)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    started, step, losses, curve = time.time(), 0, [], []
    next_report = report_every_s
    model.train()
    while (elapsed := time.time() - started) < budget_s:
        stage = stages[min(int(elapsed / budget_s * len(stages)), len(stages) - 1)]
        rng = Rng("memory-toy-train", step)
        rows = [make_example(tok, ("train", step, i), rng.randint(1, stage), size) for i in range(batch)]
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = model.loss([r.context for r in rows], [r.prompt for r in rows], [r.answer for r in rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if time.time() - started >= next_report:
            point = (round(time.time() - started), step, stage, round(sum(losses) / len(losses), 3), accuracy(model, probe))
            print("  t=%4ss step=%5d segments<=%d loss=%.3f acc@2seg=%.2f" % point, flush=True)
            curve.append(point)
            losses, next_report = [], next_report + report_every_s
    return curve
