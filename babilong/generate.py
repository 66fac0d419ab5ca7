"""``babilong generate``: BABILong samples for tasks x lengths, written in the published layout."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from babilong import __version__
from babilong import arguments
from babilong.builder import StoryTooLong, build_input
from babilong.errors import BabilongError
from babilong.files import atomic_write_text, exclusive, file_sha256, remove_leftovers
from babilong.haystack import Corpus, get_source, prepare, warn_once
from babilong.lengths import length_tokens, parse_lengths
from babilong.sample import InputText, Sample
from babilong.tasks import Story, parse_tasks
from babilong.tasks.dataset import make_story
from babilong.tokens import DEFAULT_TOKENIZER, get_tokenizer

HELP = "generate BABILong samples (tasks x lengths) as JSONL and Parquet"
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


_PROVIDED: dict[tuple[str, str, str], Corpus] = {}  # haystacks a Ray driver shipped to this worker


def provide_corpus(config: GenerationConfig, corpus: Corpus) -> None:
    """Use ``corpus`` as this config's haystack in this process (a Ray worker: no books to read on its node)."""
    _PROVIDED[(config.haystack, config.split, config.tokenizer)] = corpus


def corpus_provided(config: GenerationConfig) -> bool:
    return (config.haystack, config.split, config.tokenizer) in _PROVIDED


@cache
def _corpus(haystack: str, split: str, tokenizer: str) -> Corpus:
    provided = _PROVIDED.get((haystack, split, tokenizer))
    return provided if provided is not None else prepare(get_source(haystack), split, get_tokenizer(tokenizer), progress=True)


def _check_depth(depth: tuple[float, float]) -> None:
    low, high = depth
    if not 0 <= low <= high <= 100:
        raise BabilongError(f"bad --depth {low:g},{high:g}: give START,END percentages with 0 <= START <= END <= 100")


# ---- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tasks", default="qa1-qa5", help="e.g. qa1-qa5,qa7 or all (default qa1-qa5)")
    parser.add_argument("--lengths", default="0k,1k,2k,4k", help="e.g. 0k,4k,128k,1M or 0k-32k or 1500,2.5M")
    parser.add_argument("--samples", type=arguments.positive, default=100, help="samples per task and length (default 100)")
    parser.add_argument("--start", type=arguments.non_negative, default=0, help="index of the first sample, to shard generation (default 0)")
    add_generation_arguments(parser)
    parser.add_argument("--format",
                        help="jsonl, parquet, both (default), or hub: the layout of the published datasets "
                             "(OUT/{length}/{task}-00000-of-00001.parquet + a README.md dataset card); by default, "
                             "lengths whose Parquet would need over 2 GiB of memory (about 80M tokens) are written as JSONL only"),
    parser.add_argument("--out", type=arguments.output_folder, required=True, help="output folder: OUT/{length}/{task}.jsonl|.parquet + manifest.json")
    parser.add_argument("--overwrite", action="store_true", help="replace what an earlier run wrote in --out (its files that this run does not write are removed)")
    parser.add_argument("--workers", type=arguments.positive, default=None,
                        help="processes that build samples at once (default: the cores available); the files are the same for any number")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="build on a Ray cluster, one task per CPU, instead of --workers (the local cluster when no ADDRESS; "
                             "needs pip install 'babilong[ray]' and --out on storage every node shares)")


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``GenerationConfig``, shared by ``generate`` and ``eval`` (same names, same defaults)."""
    parser.add_argument("--seed", type=arguments.seed, default=0, help="generator seed (default 0)")
    parser.add_argument("--haystack", default="gutenberg", help="gutenberg | pg19 | pg19:FOLDER | hub:DATASET[#column] | FOLDER of .txt | FILE.parquet/.jsonl[#column]")
    parser.add_argument("--split", default="test", choices=["test", "train", "all"], help="which books (train and test books are disjoint)")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="gpt2 (default), a tiktoken encoding, or hf:ID_OR_PATH")
    parser.add_argument("--reserve", type=arguments.non_negative, default=0, help="tokens of each length kept free for the prompt (the reference data keeps about 300)")
    parser.add_argument("--depth", default="0,100", help="START,END: facts only between these percentages of the context")
    parser.add_argument("--no-reuse", action="store_true", help="fail instead of reading the books again when a sample needs more text than the corpus has")
    parser.add_argument("--babi", type=arguments.existing_path, help="use the stories of released bAbI files (a folder of qaN_*.txt or one file) instead of generating them")


def generation_config(args: argparse.Namespace) -> GenerationConfig:
    """The ``GenerationConfig`` the shared flags describe."""
    return GenerationConfig(args.seed, args.haystack, args.split, args.tokenizer, args.reserve, _parse_depth(args.depth),
                            not args.no_reuse, args.babi)


def prepare_haystack(config: GenerationConfig, lengths: list[str]) -> Corpus | None:
    """Read (or check) the haystack now when any length needs one: a bad one fails before any work."""
    if any(length_tokens(length) > config.reserve for length in lengths):
        return _corpus(config.haystack, config.split, config.tokenizer)
    return None


def run(args: argparse.Namespace) -> int:
    tasks, lengths = parse_tasks(args.tasks), parse_lengths(args.lengths)
    formats = _formats(DEFAULT_FORMATS if args.format is None else args.format)
    if args.samples < 1:
        raise BabilongError(f"--samples {args.samples}: give 1 or more samples per task and length")
    if args.start < 0:
        raise BabilongError(f"--start {args.start} is negative: give the index of the first sample, 0 or more")
    config = generation_config(args)
    with exclusive(args.out, wait=False):
        return _generate(args, tasks, lengths, formats, config)


def _generate(args: argparse.Namespace, tasks: list[str], lengths: list[str], formats: list[str], config) -> int:
    """``run`` once this process is the one writer of ``--out``."""
    from babilong.datasets import hub_card, write_manifest
    from babilong.generate_parallel import remove_scratch

    asked = {(length, task): [args.out / name for name in output_names(length, task, formats)] for length in lengths for task in tasks}
    card = args.out / HUB_CARD if "hub" in formats else None
    manifest_path = args.out / "manifest.json"
    planned = [path for paths in asked.values() for path in paths] + [p for p in (card, manifest_path) if p]
    clashes = [str(p) for p in planned if p.exists()]
    if clashes and not args.overwrite:
        raise BabilongError(f"{clashes[0]} exists ({len(clashes)} files would be replaced): pass --overwrite or choose another --out")
    for length in lengths:
        check_length(length, config)
    earlier_files = _files_of_earlier_run(args.out) if args.overwrite else set()
    prepare_haystack(config, lengths)  # fail on a bad haystack before any output
    plan = formats_by_length(lengths, config, formats, chosen=args.format is not None)
    outputs = {(length, task): [args.out / name for name in output_names(length, task, plan[length])] for length, task in asked}
    for task in tasks if args.babi else []:
        _babi_stories(args.babi, args.split, task)  # and on bad bAbI files
    manifest_path.unlink(missing_ok=True)  # until the new manifest is written, the folder does not look complete
    for path in planned:
        remove_leftovers(path)  # of an earlier run that was killed
    remove_scratch(args.out)
    _write_outputs(args, outputs, config, plan)
    files = {str(path.relative_to(args.out)): file_sha256(path) for paths in outputs.values() for path in paths}
    if card:
        atomic_write_text(card, hub_card(outputs, args.out, _command_line(args)))
        files[HUB_CARD] = file_sha256(card)
    for stale in sorted(earlier_files - set(files)):
        (args.out / stale).unlink(missing_ok=True)
    manifest = {
        "babilong_version": __version__, "tasks": tasks, "lengths": lengths, "samples": args.samples,
        "start": args.start, "seed": args.seed, "haystack": args.haystack, "split": args.split,
        "tokenizer": args.tokenizer, "reserve": args.reserve, "depth": list(config.depth),
        "allow_reuse": config.allow_reuse, "babi": args.babi, "formats": formats, "files": files,
    }
    if any(plan[length] != formats for length in lengths):
        manifest["jsonl_only_lengths"] = [length for length in lengths if plan[length] != formats]
    write_manifest(manifest, manifest_path)
    print(f"wrote {len(files)} files for {len(tasks)} tasks x {len(lengths)} lengths x {args.samples} samples to {args.out}")
    return 0


HUB_CARD = "README.md"


def output_names(length: str, task: str, formats: list[str]) -> list[str]:
    """The files of one task at one length, relative to ``--out``."""
    if formats == ["hub"]:
        return [f"{length}/{task}-00000-of-00001.parquet"]
    return [f"{length}/{task}.{fmt}" for fmt in formats]


def _write_outputs(args: argparse.Namespace, outputs: dict[tuple[str, str], list[Path]], config: GenerationConfig,
                   plan: dict[str, list[str]]) -> None:
    """Every output file, built here (``--workers 1``), by local worker processes or on Ray: the same bytes."""
    from tqdm import tqdm

    from babilong.generate_parallel import default_workers, open_builders, plan_blocks, write_blocks

    indices = range(args.start, args.start + args.samples)
    workers = 1 if args.ray is not None else _workers_that_fit(args.workers or default_workers(), config, plan)  # Ray: its CPUs
    blocks = plan_blocks(outputs, indices)
    haystack = prepare_haystack(config, list(plan))
    with open_builders(min(workers, len(blocks)), args.ray, haystack) as builders:
        with tqdm(total=len(outputs) * len(indices), unit="sample", desc="generating") as bar:
            if builders is None:
                for (length, task), paths in outputs.items():
                    _write_task(paths, task, length, indices, config, bar.update)
            else:
                write_blocks(blocks, config, builders, args.out, bar.update)


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


def _write_task(paths: list[Path], task: str, length: str, indices: range, config: GenerationConfig, done) -> None:
    """Build the samples one at a time and append each to every output file: memory stays flat in their number,
    and a long input goes to JSONL chunk by chunk. Parquet row groups end where the blocks of
    ``--workers`` end (``block_ranges``), so the bytes do not depend on the number of workers."""
    from babilong.datasets import sample_writer
    from babilong.generate_parallel import block_ranges

    with ExitStack() as files:
        writers = [files.enter_context(sample_writer(path)) for path in paths]
        for block in block_ranges(length, indices):
            for index in block:
                sample, input_text = build_sample_in_pieces(task, length, index, config)
                for write in writers:
                    write(sample, input_text)
                done()
            for write in writers:
                write.end_row_group()


def _files_of_earlier_run(out: Path) -> set[str]:
    """The files the manifest in ``out`` lists (paths inside ``out`` only)."""
    try:
        listed = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("files", {})
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, AttributeError) as error:
        raise BabilongError(f"{out / 'manifest.json'} is damaged ({error}): remove it, or choose another --out") from None
    inside = set()
    for name in listed if isinstance(listed, dict) else []:
        relative = Path(name)
        if not relative.is_absolute() and ".." not in relative.parts:
            inside.add(str(relative))
    return inside


def _command_line(args: argparse.Namespace) -> str:
    """The ``babilong generate`` command that makes these files again."""
    parts = ["babilong generate", f"--tasks {','.join(parse_tasks(args.tasks))}", f"--lengths {','.join(parse_lengths(args.lengths))}",
             f"--samples {args.samples}", f"--seed {args.seed}", f"--haystack {args.haystack}", f"--split {args.split}",
             f"--tokenizer {args.tokenizer}", f"--reserve {args.reserve}", f"--depth {args.depth}",
             f"--format {DEFAULT_FORMATS if args.format is None else args.format}"]
    if args.start:
        parts.append(f"--start {args.start}")
    if args.no_reuse:
        parts.append("--no-reuse")
    if args.babi:
        parts.append(f"--babi {args.babi}")
    return " ".join(parts + ["--out OUT"])


def _formats(spec: str) -> list[str]:
    formats = [f.strip() for f in spec.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("jsonl", "parquet", "hub")]
    if bad or not formats:
        raise BabilongError(f"unknown --format {spec!r}: use jsonl, parquet, jsonl,parquet or hub")
    if "hub" in formats and len(formats) > 1:
        raise BabilongError(f"--format {spec!r}: hub is a layout of its own; give --format hub alone")
    return list(dict.fromkeys(formats))


def _parse_depth(spec: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in spec.split(","))
    except ValueError:
        raise BabilongError(f"malformed --depth {spec!r}: give START,END percentages such as 0,50") from None
    if low != low or high != high:  # NaN
        raise BabilongError(f"malformed --depth {spec!r}: give START,END percentages such as 0,50")
    _check_depth((low, high))
    return low, high
