"""Small builders shared by the harness tests."""

from __future__ import annotations

from babilong.pipeline import Summary, evaluate
from babilong.runs import ResultStore, RunConfig
from babilong.sample import Sample

ROOMS = ("kitchen", "garden", "office", "hallway", "bedroom", "bathroom")
OBJECTS = ("apple", "football", "milk")


def make_samples(task: str = "qa1", length: str = "0k", count: int = 5, filler: str = "") -> list[Sample]:
    """Hand-made samples whose answer is the last word of the context (a room; an object for qa5)."""
    answers = OBJECTS if task == "qa5" else ROOMS
    samples = []
    for i in range(count):
        room = answers[i % len(answers)]
        text = f"{filler}Mary went to the {room}."
        samples.append(Sample(input=text, question="Where is Mary?", target=room, task=task, length=length, index=i))
    return samples


def run_store(directory, samples: list[Sample], model, config: RunConfig) -> Summary:
    """Evaluate into a run folder and close its store, as the CLI does."""
    store = ResultStore(directory, config)
    try:
        return evaluate(samples, model, config, store, progress=False)
    finally:
        store.close()
