"""How a sample is made: a ``GenerationConfig`` and a key (task, length, index) give the same bytes anywhere.

The story (generated, or read from released bAbI files), its facts hidden in the prepared
haystack, the memory a long sample needs, and the haystack a process builds from (prepared
here, or shipped by a Ray driver). The ``generate`` command, worker processes, Ray tasks and
the eval loop all build samples through this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from babilong.builder import StoryTooLong, build_input
from babilong.errors import BabilongError
from babilong.haystack import Corpus, get_source, prepare, warn_once
from babilong.lengths import length_tokens
from babilong.sample import InputText, Sample
from babilong.tasks import Story
from babilong.tasks.dataset import make_story
from babilong.tokens import DEFAULT_TOKENIZER, get_tokenizer


MAX_STORY_TRIES = 50


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that decides the bytes of a sample (besides its task, length and index)."""

    seed: int = 0
    haystack: str = "gutenberg"
    split: str = "test"
    tokenizer: str = DEFAULT_TOKENIZER
    reserve: int = 0  # tokens of each length kept free for the prompt
    depth: tuple[float, float] = (0.0, 100.0)
    allow_reuse: bool = True
    babi: str | None = None  # a folder or file of released bAbI stories to use instead of our generator

    def __post_init__(self) -> None:
        if self.reserve < 0:
            raise BabilongError(f"--reserve {self.reserve} is negative: give the tokens kept free for the prompt, 0 or more")
        _check_depth(self.depth)


def generate_samples(
    task: str,
    length: str,
    count: int,
    seed: int = 0,
    haystack: str = "gutenberg",
    tokenizer: str = DEFAULT_TOKENIZER,
    split: str = "test",
    start: int = 0,
    reserve: int = 0,
    depth: tuple[float, float] | None = None,
    allow_reuse: bool = True,
) -> list[Sample]:
    """Samples ``start`` .. ``start + count - 1``; sample i is the same whatever ``count``/``start``."""
    config = GenerationConfig(seed, haystack, split, tokenizer, reserve, depth or (0.0, 100.0), allow_reuse)
    return [build_sample(task, length, index, config) for index in range(start, start + count)]


def build_sample(task: str, length: str, index: int, config: GenerationConfig) -> Sample:
    """One sample, its input as one string."""
    check_memory(length, config)
    sample, input_text = build_sample_in_pieces(task, length, index, config)
    return replace(sample, input=input_text.join())


def build_sample_in_pieces(task: str, length: str, index: int, config: GenerationConfig) -> tuple[Sample, InputText]:
    """The sample with an empty ``input``, and its input as pieces of the corpus text.

    ``generate`` writes the pieces chunk by chunk and never holds a long input whole; the
    caller checks the memory this needs (``check_memory``).
    """
    check_length(length, config)
    target = length_tokens(length)
    budget = target - config.reserve if target else 0
    tokenizer = get_tokenizer(config.tokenizer)
    corpus = _corpus(config.haystack, config.split, config.tokenizer) if budget else None
    extra: dict = {}
    for attempt in range(1 if config.babi else MAX_STORY_TRIES):
        story = babi_story(config.babi, config.split, task, index) if config.babi else make_story(task, config.seed, index, attempt)
        try:
            built = build_input(
                story.facts, corpus, tokenizer, budget, (config.seed, task, length, index, attempt),
                config.depth, config.allow_reuse,
            )
            break
        except StoryTooLong as reason:
            extra["story_redrawn"] = f"{attempt + 1} stories did not fit ({reason})"
    else:
        raise BabilongError(f"no {task} story fits in {length} tokens minus a reserve of {config.reserve}: use longer --lengths or a smaller --reserve")
    if built.background_reused:
        warn_once(f"haystack {config.haystack!r} ({config.split}) is smaller than a {length} sample: books are read again (recorded as background_reused; --no-reuse makes this an error)")
    sample = Sample(
        input="", question=story.question, target=story.answer, task=task, length=length, index=index,
        seed=config.seed, token_count=built.token_count, tokenizer=config.tokenizer,
        haystack=f"{config.haystack}/{config.split}" if budget else None, facts=story.facts,
        supporting=story.supporting, fact_positions=built.fact_positions,
        background_reused=built.background_reused, extra=extra,
    )
    return sample, built.input


def check_length(length: str, config: GenerationConfig) -> None:
    """Refuse a length the settings cannot build, before any work."""
    target = length_tokens(length)
    if target and config.reserve >= target:
        raise BabilongError(f"--reserve {config.reserve} leaves no room for text at length {length}: use a smaller --reserve or longer --lengths")


MEMORY_CHECK_FROM = 1_000_000  # tokens: shorter samples need little memory
# Peak memory per character of a sample's text over the loaded corpus, measured by
# benchmarks/bench_long_sample_memory.py (benchmarks/RESULTS.md), with a margin: JSONL is
# written chunk by chunk (0.08 at 100M: the passage's sentence offsets), one string
# (``build_sample``, as eval builds samples) under 2, Parquet 4.1 at 100M and 5.3 at 10M
# (the bytes, and the writer's copies of the one value it cannot split).
MEMORY_PER_CHARACTER = {"jsonl": 0.25, "string": 4, "parquet": 6}
MEMORY_BASE = 160 * 2**20  # the interpreter, libraries and loaded corpus: about 90 MB with gutenberg
DEFAULT_FORMATS = "jsonl,parquet"
PARQUET_DEFAULT_MEMORY = 2 * 2**30  # the default writes Parquet only for lengths whose estimate stays below this
PARQUET_MAX_BYTES = 2**31  # a Parquet string column's offsets are 32-bit


def estimated_memory(length: str, config: GenerationConfig, formats: tuple[str, ...] = ()) -> int:
    """Bytes needed at the peak to build one sample of ``length`` and write it in ``formats``
    (no formats: held as one string, as ``build_sample`` returns it)."""
    if {"parquet", "hub"} & set(formats):
        kind = "parquet"
    else:
        kind = "jsonl" if formats else "string"
    return int(estimated_characters(length, config) * MEMORY_PER_CHARACTER[kind]) + MEMORY_BASE


def estimated_characters(length: str, config: GenerationConfig) -> int:
    """About how many characters a sample of ``length`` has, from the corpus's characters per token."""
    corpus = _corpus(config.haystack, config.split, config.tokenizer)
    return int((length_tokens(length) - config.reserve) * len(corpus.text) / max(corpus.total_tokens, 1))


def check_memory(length: str, config: GenerationConfig, formats: tuple[str, ...] = ()) -> None:
    """Refuse, with the figures and the way out, a sample longer than this machine's memory can hold."""
    if length_tokens(length) < MEMORY_CHECK_FROM:
        return
    available = available_memory()
    needed = estimated_memory(length, config, formats)
    if available is not None and needed > available:
        hint = " or --format jsonl (written chunk by chunk)" if {"parquet", "hub"} & set(formats) else ""
        raise BabilongError(
            f"a {length} sample needs about {_size(needed)} of memory and {_size(available)} is available: "
            f"use shorter --lengths{hint}, or free memory"
        )


def formats_by_length(lengths: list[str], config: GenerationConfig, formats: list[str], chosen: bool) -> dict[str, list[str]]:
    """The formats each length is written in, once the memory each needs is checked.

    Parquet needs a sample's whole input at once, and its writer several copies of it. Where
    it does not fit, the default formats (``chosen`` False) write that length as JSONL only
    and say so in one line; formats the user chose are refused instead, never dropped.
    """
    plan: dict[str, list[str]] = {}
    jsonl_only: list[str] = []
    for length in lengths:
        plan[length] = formats
        if length_tokens(length) < MEMORY_CHECK_FROM:
            continue
        reason = _why_no_parquet(length, config, chosen) if {"parquet", "hub"} & set(formats) else None
        if reason and (chosen or "jsonl" not in formats):
            raise BabilongError(f"a {length} sample cannot be written as Parquet: {reason}; use --format jsonl (written chunk by chunk) or shorter --lengths")
        if reason:
            plan[length] = ["jsonl"]
            jsonl_only.append(f"{length} as JSONL only: {reason}")
        check_memory(length, config, tuple(plan[length]))
    if jsonl_only:
        warn_once(f"writing {'; '.join(jsonl_only)}")
    return plan


def _why_no_parquet(length: str, config: GenerationConfig, chosen: bool) -> str | None:
    """Why one sample of ``length`` is not written as Parquet here; None when it can be."""
    characters = estimated_characters(length, config)
    if characters >= PARQUET_MAX_BYTES:
        return f"its input of about {_size(characters)} is more than a Parquet string column holds (2 GiB)"
    needed, available = estimated_memory(length, config, ("parquet",)), available_memory()
    if available is not None and needed > available:
        return f"Parquet would need about {_size(needed)} of memory and {_size(available)} is available"
    if not chosen and needed > PARQUET_DEFAULT_MEMORY:
        return (f"Parquet would need about {_size(needed)} of memory, more than the default allows "
                f"({_size(PARQUET_DEFAULT_MEMORY)}); --format jsonl,parquet writes it anyway")
    return None


def _size(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def available_memory() -> int | None:
    """Bytes this process may still use: the kernel's MemAvailable, or less under a cgroup limit; None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            available = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def babi_story(source: str, split: str, task: str, index: int) -> Story:
    """The ``index``-th question of a released bAbI file, with the facts before it."""
    stories = _babi_stories(source, split, task)
    if index >= len(stories):
        raise BabilongError(f"the bAbI {task} data in {source} has {len(stories)} questions, so no sample {index}: lower --samples or --start")
    return stories[index]


@cache
def _babi_stories(source: str, split: str, task: str) -> list[Story]:
    from babilong.babi_format import read_babi

    path = Path(source).expanduser()
    if path.is_file():
        return read_babi(path, task)
    number = task.removeprefix("qa")
    files = sorted(path.glob(f"qa{number}_*.txt"))
    preferred = [f for f in files if f.stem.endswith(f"_{split}")] or files
    if not preferred:
        raise BabilongError(f"no qa{number}_*.txt file in {path}: point --babi at the released bAbI folder (e.g. tasks_1-20_v1-2/en)")
    return read_babi(preferred[0], task)


_shipped: dict[tuple[str, str, str], Corpus] = {}  # haystacks a Ray driver shipped to this process


def install_corpus(config: GenerationConfig, corpus: Corpus) -> None:
    """Use ``corpus``, prepared elsewhere (a Ray driver), as this process's haystack for ``config``:
    the books are neither read nor fetched here."""
    _shipped[(config.haystack, config.split, config.tokenizer)] = corpus


def corpus_installed(config: GenerationConfig) -> bool:
    return (config.haystack, config.split, config.tokenizer) in _shipped


def prepared_corpus(config: GenerationConfig) -> Corpus:
    """The haystack ``config`` builds samples from, prepared (or loaded from the cache) once per process."""
    return _corpus(config.haystack, config.split, config.tokenizer)


def _corpus(haystack: str, split: str, tokenizer: str) -> Corpus:
    return _shipped.get((haystack, split, tokenizer)) or _prepared(haystack, split, tokenizer)


@cache
def _prepared(haystack: str, split: str, tokenizer: str) -> Corpus:
    return prepare(get_source(haystack), split, get_tokenizer(tokenizer), progress=True)


def _check_depth(depth: tuple[float, float]) -> None:
    low, high = depth
    if not 0 <= low <= high <= 100:
        raise BabilongError(f"bad --depth {low:g},{high:g}: give START,END percentages with 0 <= START <= END <= 100")


# ---- command line ---------------------------------------------------------------------------


def needs_haystack(config: GenerationConfig, lengths: list[str]) -> bool:
    """Whether any of these lengths holds background text (0k holds the story alone)."""
    return any(length_tokens(length) > config.reserve for length in lengths)


def prepare_haystack(config: GenerationConfig, lengths: list[str]) -> Corpus | None:
    """Read (or check) the haystack now when any length needs one: a bad one fails before any work."""
    return prepared_corpus(config) if needs_haystack(config, lengths) else None


def check_babi_count(config: GenerationConfig, tasks: list[str], needed: int) -> None:
    """Refuse, before any work, released bAbI files that hold fewer than ``needed`` questions of a task."""
    for task in tasks if config.babi else []:
        babi_story(config.babi, config.split, task, needed - 1)


def _workers_that_fit(workers: int, config: GenerationConfig, plan: dict[str, list[str]]) -> int:
    """``workers``, or fewer when that many samples of the longest length would not fit in memory at once (said in one line)."""
    long = [length for length in plan if length_tokens(length) >= MEMORY_CHECK_FROM]
    available = available_memory()
    if workers == 1 or not long or available is None:
        return workers
    needed = max(estimated_memory(length, config, tuple(plan[length])) for length in long)
    fit = max(1, min(workers, available // needed))
    if fit < workers:
        warn_once(f"using {fit} of {workers} --workers: each builds one long sample at a time, about {_size(needed)} "
                  f"of memory, and {_size(available)} is available")
    return fit
