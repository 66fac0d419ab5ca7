"""The training loss of a model that knows only the last qa1 fact, on `babilong train` questions.

Training asks, per context, the sample's question and the same question about every other
person the facts answer it for (``questions_about_everyone``). A model that remembers only
the last fact (who moved, and where) answers the question about that person with certainty
and can do no better than a uniform guess over the 6 places for the others: its mean
answer loss is this script's figure. A learning curve flat at this loss means the memory
carries the last fact and nothing more.

    python benchmarks/memory_shortcut_floor.py --samples 400
"""

from __future__ import annotations

import argparse
import math
import re

from babilong.generate import generate_samples
from babilong.memory.train import questions_about_everyone, train_seed
from babilong.tasks.world import ACTORS, PLACES


def person_in(text: str) -> str | None:
    return next((actor for actor in ACTORS if re.search(rf"\b{actor}\b", text)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400, help="facts-alone training samples")
    args = parser.parse_args()
    samples = generate_samples("qa1", "0k", args.samples, seed=train_seed(0), split="train")
    guess = math.log(len(PLACES))
    losses, own_about_last = [], 0
    for sample in samples:
        last_mover = person_in(str(sample.facts[-1]))
        for index, (question, _) in enumerate(questions_about_everyone(sample)):
            about_last = person_in(question) == last_mover
            losses.append(0.0 if about_last else guess)
            own_about_last += index == 0 and about_last
    print(f"questions per context read: {len(losses) / len(samples):.2f}")
    print(f"loss floor of the last-fact model: {sum(losses) / len(losses):.3f} (uniform guess: {guess:.3f})")
    print(f"sample's own question about the last mover: {own_about_last / len(samples):.1%}")


if __name__ == "__main__":
    main()
