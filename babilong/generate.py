"""``babilong generate``: BABILong samples for tasks x lengths, written in the published layout."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babilong import __version__, arguments
from babilong.errors import BabilongError
from babilong.files import atomic_write_text, exclusive, file_sha256, remove_leftovers
from babilong.lengths import parse_lengths
from babilong.tasks import parse_tasks
from babilong.generation import (  # noqa: F401  (also imported from here by eval, tests and benchmarks)
    DEFAULT_FORMATS,
    GenerationConfig,
    MEMORY_BASE,
    MEMORY_CHECK_FROM,
    _check_depth,
    _workers_that_fit,
    build_sample,
    build_sample_in_pieces,
    check_babi_count,
    check_length,
    check_memory,
    estimated_memory,
    formats_by_length,
    generate_samples,
    install_corpus,
    needs_haystack,
    prepare_haystack,
    prepared_corpus,
)
from babilong.tokens import DEFAULT_TOKENIZER

HELP = "generate BABILong samples (tasks x lengths) as JSONL and Parquet"


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
    parser.add_argument("--output", "--out", dest="out", type=arguments.output_folder, required=True, help="output folder: OUTPUT/{length}/{task}.jsonl|.parquet + manifest.json (--out is the same)")
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


def run(args: argparse.Namespace) -> int:
    tasks, lengths = parse_tasks(args.tasks), parse_lengths(args.lengths)
    formats = _formats(DEFAULT_FORMATS if args.format is None else args.format)
    if args.samples < 1:
        raise BabilongError(f"--samples {args.samples}: give 1 or more samples per task and length")
    if args.start < 0:
        raise BabilongError(f"--start {args.start} is negative: give the index of the first sample, 0 or more")
    config = generation_config(args)
    with exclusive(args.out, wait=False, flag="--output"):
        return _generate(args, tasks, lengths, formats, config)


def _generate(args: argparse.Namespace, tasks: list[str], lengths: list[str], formats: list[str], config) -> int:
    """``run`` once this process is the one writer of ``--output``."""
    from babilong.datasets import hub_card, write_manifest
    from babilong.generate_parallel import remove_scratch

    asked = {(length, task): [args.out / name for name in output_names(length, task, formats)] for length in lengths for task in tasks}
    card = args.out / HUB_CARD if "hub" in formats else None
    manifest_path = args.out / "manifest.json"
    planned = [path for paths in asked.values() for path in paths] + [p for p in (card, manifest_path) if p]
    clashes = [str(p) for p in planned if p.exists()]
    if clashes and not args.overwrite:
        raise BabilongError(f"{clashes[0]} exists ({len(clashes)} files would be replaced): pass --overwrite or choose another --output")
    for length in lengths:
        check_length(length, config)
    earlier_files = _files_of_earlier_run(args.out) if args.overwrite else set()
    prepare_haystack(config, lengths)  # fail on a bad haystack before any output
    plan = formats_by_length(lengths, config, formats, chosen=args.format is not None)
    outputs = {(length, task): [args.out / name for name in output_names(length, task, plan[length])] for length, task in asked}
    check_babi_count(config, tasks, args.start + args.samples)  # and on bAbI files too short or bad
    manifest_path.unlink(missing_ok=True)  # until the new manifest is written, the folder does not look complete
    for path in planned:
        remove_leftovers(path)  # of an earlier run that was killed
    remove_scratch(args.out)
    new_folders = [folder for folder in (args.out, *sorted({p.parent for p in planned})) if not folder.exists()]
    try:
        _write_outputs(args, outputs, config, plan)
    except BaseException:
        _remove_empty(new_folders)  # a refusal mid-way leaves no empty LENGTH/ folders behind
        raise
    files = {str(path.relative_to(args.out)): file_sha256(path) for paths in outputs.values() for path in paths}
    if card:
        atomic_write_text(card, hub_card(outputs, args.out, _command_line(args)))
        files[HUB_CARD] = file_sha256(card)
    _remove_stale(args.out, earlier_files - set(files))
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
    """The files of one task at one length, relative to ``--output``."""
    if formats == ["hub"]:
        return [f"{length}/{task}-00000-of-00001.parquet"]
    return [f"{length}/{task}.{fmt}" for fmt in formats]


def _write_outputs(args: argparse.Namespace, outputs: dict[tuple[str, str], list[Path]], config: GenerationConfig,
                   plan: dict[str, list[str]]) -> None:
    """Every output file, built here (``--workers 1``), by local worker processes or on Ray: the same bytes."""
    from tqdm import tqdm

    from babilong.generate_parallel import default_workers, plan_blocks, write_blocks, write_task

    indices = range(args.start, args.start + args.samples)
    workers = 1 if args.ray is not None else _workers_that_fit(args.workers or default_workers(), config, plan)  # Ray: its CPUs
    blocks = plan_blocks(outputs, indices)
    haystack = prepare_haystack(config, list(plan))
    with open_builders(min(workers, len(blocks)), args.ray, haystack) as builders:
        with tqdm(total=len(outputs) * len(indices), unit="sample", desc="generating") as bar:
            if builders is None:
                for (length, task), paths in outputs.items():
                    write_task(paths, task, length, indices, config, bar.update)
            else:
                write_blocks(blocks, config, builders, args.out, bar.update)


@contextmanager
def open_builders(workers: int, ray_address: str | None, haystack) -> Iterator[Any]:
    """Ray tasks (``ray_address`` not None; "" starts or joins the local cluster), ``workers``
    local processes, or None: build in this process. ``haystack`` is the loaded corpus, if any
    length needs one (Ray ships it to the workers)."""
    if ray_address is not None:
        from babilong.generate_ray import RayBuilders

        builders: Any = RayBuilders(ray_address, haystack)
    else:
        from babilong.generate_parallel import ProcessBuilders

        builders = ProcessBuilders(workers) if workers > 1 else None
    try:
        yield builders
    finally:
        if builders is not None:
            builders.close()


def _files_of_earlier_run(out: Path) -> set[str]:
    """The files the manifest in ``out`` lists (paths inside ``out`` only)."""
    try:
        listed = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("files", {})
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, AttributeError) as error:
        raise BabilongError(f"{out / 'manifest.json'} is damaged ({error}): remove it, or choose another --output") from None
    inside = set()
    for name in listed if isinstance(listed, dict) else []:
        relative = Path(name)
        if not relative.is_absolute() and ".." not in relative.parts:
            inside.add(str(relative))
    return inside


def _remove_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (made by this run) that are still empty, deepest first."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty (it holds finished files), or already gone


def _remove_stale(out: Path, names: set[str]) -> None:
    """Remove the files an earlier run listed that this run did not write: only regular files
    that lie inside ``out`` once every link on their way is followed (a manifest may name
    ``link/file`` where ``link`` leads elsewhere; that file is not ours to remove)."""
    import stat

    inside = out.resolve()
    for name in sorted(names):
        path = out / name
        try:
            if not stat.S_ISREG(path.lstat().st_mode) or not path.resolve().is_relative_to(inside):
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise BabilongError(f"cannot remove {path}, a file of the earlier run in --output: {error.strerror or error}") from None


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
    return " ".join(parts + ["--output OUT"])


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
