"""``generate --workers N`` and ``--ray``: the same bytes as one process, whatever builds them."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import babilong.generate_parallel as parallel
from babilong.cli import main
from babilong.generate import GenerationConfig, _workers_that_fit

REPO = Path(__file__).resolve().parents[1]


def _generate(books: Path, out: Path, *flags: str) -> int:
    return main(["generate", "--tasks", "qa4,qa5", "--lengths", "0k,1k,2k", "--samples", "5", "--haystack", str(books),
                 "--split", "all", "--out", str(out), *flags])


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every file in ``folder`` (hidden ones too: nothing may be left behind)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("formats", ["jsonl,parquet", "hub"])
def test_workers_write_the_bytes_one_process_writes(small_books, tmp_path, monkeypatch, formats):
    monkeypatch.setattr(parallel, "BLOCK_TOKENS", 2500)  # 2 samples a block at 1k, 1 at 2k: files of several blocks
    pools = []
    start_pool = parallel.ProcessBuilders.__init__
    monkeypatch.setattr(parallel.ProcessBuilders, "__init__", lambda self, workers: pools.append(workers) or start_pool(self, workers))
    assert _generate(small_books, tmp_path / "one", "--workers", "1", "--format", formats) == 0
    assert pools == []  # built in this process
    assert _generate(small_books, tmp_path / "two", "--workers", "2", "--format", formats) == 0
    assert pools == [2]
    one, two = _digests(tmp_path / "one"), _digests(tmp_path / "two")
    assert one == two and "manifest.json" in one and len(one) == (8 if formats == "hub" else 13)
    parquet = next((tmp_path / "two" / "2k").glob("qa5*.parquet"))
    assert pq.ParquetFile(parquet).num_row_groups == 5  # put together from 5 blocks, row group by row group


def test_blocks_hold_at_most_a_million_tokens_and_come_in_file_order():
    outputs = {("1k", "qa1"): [Path("1k/qa1.jsonl")], ("32k", "qa1"): [Path("32k/qa1.jsonl")]}
    blocks = parallel.plan_blocks(outputs, range(10, 1010))
    assert [b.whole_file for b in blocks[:2]] == [True, False]
    by_file = {length: [b.indices for b in blocks if b.length == length] for length in ("1k", "32k")}
    assert by_file["1k"] == [range(10, 1010)]  # 1M tokens: one block
    assert by_file["32k"][0] == range(10, 41) and len(by_file["32k"]) == 33 and by_file["32k"][-1].stop == 1010
    assert [b.number for b in blocks] == list(range(len(blocks)))


def test_a_worker_that_dies_fails_the_run_in_one_line_and_leaves_no_half_files(small_books, tmp_path):
    out = tmp_path / "data"
    command = ["generate", "--tasks", "qa4,qa5", "--lengths", "1k", "--samples", "2", "--haystack", str(small_books),
               "--split", "all", "--out", str(out), "--workers", "2"]
    script = (  # a worker (forked, so it runs this patched function) is killed on qa5's second sample
        "import os, signal, sys, babilong.generation as g\n"
        "real, driver = g.build_sample_in_pieces, os.getpid()\n"
        "def dying(task, length, index, config):\n"
        "    if task == 'qa5' and index == 1 and os.getpid() != driver: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(task, length, index, config)\n"
        "g.build_sample_in_pieces = dying\n"
        "from babilong.cli import main\n"
        f"sys.exit(main({command!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert done.returncode == 2 and errors == ["babilong: error: a generation worker process died (out of memory, or killed): "
                                               "rerun with fewer --workers or shorter --lengths"], done.stderr
    assert not (out / "manifest.json").exists() and not list(out.rglob("*.partial")) and not list(out.glob(".generate-parts-*"))
    assert not (out / "1k" / "qa5.jsonl").exists()
    assert main([*command, "--overwrite"]) == 0 and (out / "manifest.json").exists()


def test_workers_are_fewer_when_their_long_samples_would_not_fit_in_memory(small_books, monkeypatch, capsys):
    import babilong.generation as generate

    config = GenerationConfig(haystack=str(small_books), split="all")
    needed = generate.estimated_memory("1M", config, ("jsonl",))
    monkeypatch.setattr(generate, "available_memory", lambda: int(2.5 * needed))
    assert _workers_that_fit(8, config, {"1M": ["jsonl"], "1k": ["jsonl"]}) == 2
    assert "using 2 of 8 --workers" in capsys.readouterr().err
    assert _workers_that_fit(8, config, {"1k": ["jsonl"]}) == 8  # short samples: no limit


def test_workers_zero_is_one_clear_line(tmp_path, capsys):
    assert main(["generate", "--workers", "0", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--workers" in err and len(err.splitlines()) == 1


def test_ray_without_ray_installed_is_one_clear_line(small_books, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as it does where it is not installed
    assert _generate(small_books, tmp_path / "out", "--ray") == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert err == ["babilong: error: --ray needs the ray package: pip install 'babilong[ray]' (or drop --ray to use local --workers)"]
    assert not (tmp_path / "out" / "manifest.json").exists()


@pytest.mark.slow
def test_ray_writes_the_bytes_one_process_writes(small_books, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(parallel, "BLOCK_TOKENS", 2500)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the workers import this checkout's babilong
    assert _generate(small_books, tmp_path / "one", "--workers", "1") == 0
    from babilong.generate_ray import RayBuilders

    submitted = []
    submit = RayBuilders.submit
    monkeypatch.setattr(RayBuilders, "submit", lambda self, block, *rest: submitted.append(block) or submit(self, block, *rest))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        assert _generate(small_books, tmp_path / "ray", "--ray") == 0
    finally:
        ray.shutdown()
    assert len(submitted) == 2 * (1 + 3 + 5)  # blocks a task: 1 at 0k, 3 at 1k, 5 at 2k
    assert _digests(tmp_path / "one") == _digests(tmp_path / "ray")
