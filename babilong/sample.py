"""The unit of benchmark data: the published fields plus where every fact sits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CHUNK_CHARACTERS = 1 << 16  # the most characters of a long input held at once when it is written


@dataclass(frozen=True)
class FactPosition:
    """Where one fact of the story landed inside ``Sample.input``."""

    char: int  # character offset of the fact's first character
    token: int  # token offset of the fact's first token (the builder's tokenizer)
    depth: float  # token offset as a percentage of the input's tokens, 0-100


@dataclass(frozen=True)
class InputText:
    """A sample's input as pieces joined by single spaces, where a long piece is a span of a source text.

    A 100M-token input is 400 million characters: ``chunks`` hands it out in order,
    ``CHUNK_CHARACTERS`` at a time, so it is written without ever being held whole.
    """

    pieces: tuple[str | tuple[int, int], ...]  # a string, or a (start, end) span of ``source``
    source: str = ""

    def __len__(self) -> int:
        return sum(self._piece_lengths()) + max(len(self.pieces) - 1, 0)

    def chunks(self, size: int | None = None) -> Iterator[str]:
        """The text in order, ``size`` (default ``CHUNK_CHARACTERS``) characters or fewer at a time."""
        size = max(size or CHUNK_CHARACTERS, 2)
        for number, piece in enumerate(self.pieces):
            text, start, end = (self.source, *piece) if isinstance(piece, tuple) else (piece, 0, len(piece))
            if number:  # the joining space travels with the piece's first characters
                first = min(end, start + size - 1)
                yield " " + text[start:first]
                start = first
            for at in range(start, end, size):
                yield text[at:min(at + size, end)]

    def join(self) -> str:
        """The whole text as one string."""
        return "".join(self.chunks())

    def piece_starts(self) -> list[int]:
        """The character offset of each piece in the joined text."""
        starts, at = [], 0
        for length in self._piece_lengths():
            starts.append(at)
            at += length + 1
        return starts

    def _piece_lengths(self) -> Iterator[int]:
        return (piece[1] - piece[0] if isinstance(piece, tuple) else len(piece) for piece in self.pieces)


@dataclass(frozen=True)
class Sample:
    """One BABILong sample. ``input``/``question``/``target`` are the published fields.

    Everything else is provenance; it is ``None``/empty for data read from files that do
    not carry it (e.g. the published hub datasets).
    """

    input: str
    question: str
    target: str
    task: str
    length: str  # the length label asked for: "0k", "4k", "1M", "1500" ...
    index: int = 0  # position within its (task, length) file
    seed: int | None = None
    token_count: int | None = None  # exact tokens of ``input`` under ``tokenizer``
    tokenizer: str | None = None
    haystack: str | None = None
    facts: tuple[str, ...] = ()
    supporting: tuple[int, ...] = ()  # indices into ``facts``
    fact_positions: tuple[FactPosition, ...] = ()
    background_reused: bool = False  # the corpus wrapped around to fill the budget
    extra: dict[str, Any] = field(default_factory=dict)  # anything else a source carried

    @property
    def key(self) -> str:
        """Stable identity inside a benchmark: ``qa1/4k/17``."""
        return f"{self.task}/{self.length}/{self.index}"

    def to_record(self) -> dict[str, Any]:
        """A flat dict for JSONL/Parquet: the published fields first."""
        record = asdict(self)
        record["facts"] = list(self.facts)
        record["supporting"] = list(self.supporting)
        record["fact_positions"] = [asdict(p) for p in self.fact_positions]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Sample:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["extra"] = {**dict(record.get("extra") or {}), **{k: v for k, v in record.items() if k not in known}}
        values["facts"] = tuple(values.get("facts") or ())
        values["supporting"] = tuple(int(i) for i in values.get("supporting") or ())
        values["fact_positions"] = tuple(
            p if isinstance(p, FactPosition) else FactPosition(int(p["char"]), int(p["token"]), float(p["depth"]))
            for p in values.get("fact_positions") or ()
        )
        values["target"] = str(values["target"])
        return cls(**values)


EXCERPT_CHARS = 150  # characters of context kept on each side of a supporting fact


def supporting_depths(sample: Sample) -> list[float]:
    """Depth % (token offset in the input) of each supporting fact, in story order; [] when positions are unknown."""
    positions = sample.fact_positions
    return [round(positions[i].depth, 2) for i in sample.supporting if i < len(positions)]


def supporting_excerpts(sample: Sample, around: int = EXCERPT_CHARS) -> list[dict[str, Any]]:
    """Each supporting fact, where it sits, and the text on either side of it (for viewers)."""
    excerpts = []
    for i in sample.supporting:
        if i >= len(sample.fact_positions) or i >= len(sample.facts):
            continue
        position, fact = sample.fact_positions[i], sample.facts[i]
        start, end = position.char, position.char + len(fact)
        excerpts.append({"fact": fact, "char": start, "depth": round(position.depth, 2),
                         "before": sample.input[max(start - around, 0):start], "after": sample.input[end:end + around]})
    return excerpts
