"""Small builders shared by the harness tests."""

from __future__ import annotations

from babilong.sample import Sample

ROOMS = ("kitchen", "garden", "office", "hallway", "bedroom", "bathroom")


def make_samples(task: str = "qa1", length: str = "0k", count: int = 5, filler: str = "") -> list[Sample]:
    """Hand-made qa1-style samples; the answer is the last room named in the context."""
    samples = []
    for i in range(count):
        room = ROOMS[i % len(ROOMS)]
        text = f"{filler}Mary went to the {room}."
        samples.append(Sample(input=text, question="Where is Mary?", target=room, task=task, length=length, index=i))
    return samples
