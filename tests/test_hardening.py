"""The second hardening pass (issue 17): data-loss paths, refusals that wrote files, silent wrong results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.runs import MANIFEST


def _eval(args: list[str]) -> int:
    return main(["eval", "--model", "echo", "--no-progress", *args])


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with a file's bytes."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


# ---- 2: eval --output pointed at a generate folder ----

def test_eval_refuses_a_dataset_folder_as_output_and_leaves_it_untouched(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--out", str(data)]) == 0
    before = _tree(data)
    capsys.readouterr()
    code = _eval(["--data", str(data), "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--output", str(data)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not a run folder" in err[0] and "babilong generate" in err[0], err
    assert _tree(data) == before
    assert "files" in json.loads((data / MANIFEST).read_text())


# ---- 3: generate --overwrite removes only regular files inside --out ----

def test_overwrite_never_follows_links_out_of_the_folder(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    (outside / "direct.txt").write_text("keep me too")
    generate = ["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--out", str(out)]
    assert main(generate) == 0
    (out / "link").symlink_to(outside, target_is_directory=True)
    (out / "direct.txt").symlink_to(outside / "direct.txt")
    (out / "0k" / "old.jsonl").write_text("an earlier run's file\n")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].update({"link/victim.txt": "x", "direct.txt": "x", "0k/old.jsonl": "x"})
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert main([*generate, "--format", "jsonl", "--overwrite"]) == 0
    assert (outside / "victim.txt").read_text() == "keep me" and (outside / "direct.txt").read_text() == "keep me too"
    assert (out / "direct.txt").is_symlink()
    assert not (out / "0k" / "old.jsonl").exists() and not (out / "0k" / "qa1.parquet").exists()  # ours still go


# ---- 4: a changed prepared-corpus cache is rebuilt, never used ----

def _two_books(folder: Path) -> Path:
    folder.mkdir()
    (folder / "one.txt").write_text("The first book has a sentence or two in it. " * 40)
    (folder / "two.txt").write_text("The second book says other things entirely here. " * 40)
    return folder


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10:14] = b"XXXX" if data[10:14] != b"XXXX" else b"YYYY"
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [
    ("text.txt", _flip_bytes), ("text.txt", _truncate), ("arrays.npz", _truncate), ("arrays.npz", _flip_bytes),
    ("meta.json", _truncate)], ids=lambda d: f"{d[0]}-{d[1].__name__}")
def test_a_damaged_prepared_corpus_is_rebuilt_with_a_warning(tmp_path, gpt2, capsys, damage):
    from babilong import haystack

    name, spoil = damage
    source = haystack.get_source(str(_two_books(tmp_path / "books")))
    first = haystack.prepare(source, "all", gpt2, cache=tmp_path / "cache")
    [folder] = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    spoil(folder / name)
    haystack._warned.clear()
    capsys.readouterr()
    again = haystack.prepare(source, "all", gpt2, cache=tmp_path / "cache")
    err = capsys.readouterr().err
    assert "is damaged" in err and name.split(".")[0] in err and "rebuilding" in err, err
    assert again.text == first.text and (again.tokens == first.tokens).all() and (again.starts == first.starts).all()
    assert haystack.load_prepared(folder).text == first.text  # and stored intact again


def test_setup_verify_finds_and_removes_a_damaged_corpus(tmp_path, gpt2, monkeypatch, capsys):
    from babilong import haystack

    monkeypatch.setenv("BABILONG_CACHE", str(tmp_path / "cache"))
    for name in ("a", "b"):
        haystack.prepare(haystack.get_source(str(_two_books(tmp_path / name))), "all", gpt2)
    folders = sorted(p for p in (tmp_path / "cache" / "prepared").iterdir() if not p.name.startswith("."))
    capsys.readouterr()
    assert main(["setup", "--verify"]) == 1  # the cache has no books nor tokenizer either
    assert "prepared corpora: 2 intact, 0 damaged" in capsys.readouterr().out
    _flip_bytes(folders[1] / "text.txt")
    assert main(["setup", "--verify"]) == 1
    captured = capsys.readouterr()
    assert "prepared corpora: 1 intact, 1 damaged" in captured.out
    assert f"{folders[1]} is damaged (text.txt has other bytes than were written): removed" in captured.err
    assert folders[0].is_dir() and not folders[1].exists()


# ---- 6: the last tracebacks ----

def test_show_into_a_closed_pipe_stops_quietly(tmp_path):
    import subprocess
    import sys

    from babilong.datasets import write_samples
    from tests.helpers import make_samples

    write_samples(make_samples(count=1, filler="word " * 200_000), tmp_path / "long.jsonl")  # far over a pipe's buffer
    root = Path(__file__).resolve().parents[1]
    show = subprocess.Popen([sys.executable, "-m", "babilong", "show", str(tmp_path / "long.jsonl"), "--full"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root)
    assert show.stdout.readline().startswith(b"qa1/0k/0")
    show.stdout.close()  # as `| head -1` does
    err = show.stderr.read().decode()
    assert show.wait(timeout=60) == 141 and err == "", err


@pytest.mark.parametrize("files, message", [
    ({"qa1_1k_p.csv": ""}, "qa1_1k_p.csv is empty"),
    ({"qa1_1k_p.csv": ",target,output,question\n"}, "hold no predictions"),
    ({"qa1_1.2.3k_p.csv": ",target,output,question\n0,a,a,q\n"}, "not a run directory"),
])
def test_report_on_a_broken_published_folder_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, files, message):
    folder = tmp_path / "org" / "model"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["org"] and sorted(p.name for p in folder.iterdir()) == sorted(files)


# ---- 7: silent wrong results ----

def test_one_length_spelt_twice_is_one_length():
    from babilong.lengths import parse_lengths

    assert parse_lengths("2.5m,2.5M") == ["2.5M"]
    assert parse_lengths("1500,1.5k,1.50k") == ["1500"]
    assert parse_lengths("1m,1M") == ["1M"]


def test_a_book_that_is_not_utf8_is_said(tmp_path, capsys):
    from babilong import haystack

    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "old.txt").write_bytes("Un caf\u00e9 tr\u00e8s noir.".encode("latin-1"))
    (tmp_path / "books" / "new.txt").write_text("Plain words only here.")
    haystack._warned.clear()
    texts = {book.name: book.read() for book in haystack.get_source(str(tmp_path / "books")).books("all")}
    assert "\ufffd" in texts["old"] and texts["new"] == "Plain words only here."
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "old.txt is not UTF-8 (byte 6)" in err


def test_a_data_file_holding_two_tasks_runs_each_once(tmp_path, capsys):
    from babilong.datasets import write_samples
    from babilong.runs import read_results
    from tests.helpers import make_samples

    write_samples(make_samples("qa1", count=2) + make_samples("qa2", count=3), tmp_path / "two.jsonl")
    code = _eval(["--data", str(tmp_path / "two.jsonl"), "--tasks", "qa1,qa2", "--lengths", "0k", "--samples", "5",
                  "--output", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    keys = sorted(read_results(tmp_path / "run" / "results.jsonl").records)
    assert keys == ["qa1/0k/0", "qa1/0k/1", "qa2/0k/0", "qa2/0k/1", "qa2/0k/2"]


def test_a_data_file_of_another_length_is_refused_naming_what_it_holds(tmp_path, capsys):
    from babilong.datasets import write_samples
    from tests.helpers import make_samples

    write_samples(make_samples("qa1", "1k", count=2), tmp_path / "one.jsonl")
    code = _eval(["--data", str(tmp_path / "one.jsonl"), "--tasks", "qa1", "--lengths", "4k", "--samples", "2",
                  "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no samples for qa1 at 4k" in err[0] and "it holds qa1 at 1k" in err[0], err
    assert not (tmp_path / "run").exists()


# ---- 8: refusals write nothing ----

def test_a_refusal_while_samples_are_built_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    from babilong import generate
    from babilong.errors import BabilongError

    def refuse(*args, **kwargs):
        raise BabilongError("no qa1 story fits (as a refusal found only while building)")

    monkeypatch.setattr(generate, "build_sample", refuse)
    code = _eval(["--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--output", str(tmp_path / "run")])
    assert code == 2 and "no qa1 story fits" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_refused_run_keeps_an_existing_folder_and_its_results(tmp_path, monkeypatch, capsys):
    from babilong import generate
    from babilong.errors import BabilongError

    run = ["--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--output", str(tmp_path / "run")]
    assert _eval(run) == 0
    before = (tmp_path / "run" / "results.jsonl").read_bytes()
    monkeypatch.setattr(generate, "build_sample", lambda *a, **k: (_ for _ in ()).throw(BabilongError("refused")))
    assert _eval([*run[:5], "3", *run[6:]]) == 2
    assert (tmp_path / "run" / "results.jsonl").read_bytes() == before and (tmp_path / "run" / MANIFEST).is_file()


def test_a_generate_refused_mid_way_leaves_no_empty_length_folder(tmp_path, monkeypatch):
    from babilong import generation
    from babilong.errors import BabilongError

    def refuse(task, length, index, config):
        raise BabilongError(f"no {task} story fits in {length}")

    monkeypatch.setattr(generation, "build_sample_in_pieces", refuse)
    assert main(["generate", "--tasks", "qa1,qa2", "--lengths", "0k", "--samples", "1", "--workers", "1",
                 "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


# ---- 10: values and messages ----

def test_a_quoted_model_arg_may_hold_commas(tmp_path):
    from babilong.models import parse_model_args
    from babilong.runs import read_results

    assert parse_model_args('reply="a,b",delay=0') == {"reply": "a,b", "delay": "0"}
    assert parse_model_args('reply=""') == {"reply": ""}
    assert _eval(["--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--model-args", 'reply="in the garden, then"',
                  "--output", str(tmp_path / "run")]) == 0
    [record] = read_results(tmp_path / "run" / "results.jsonl").records.values()
    assert record["output"] == "in the garden, then"


# ---- 11: the tests' own cache ----

def test_the_suite_uses_a_cache_of_its_own_seeded_from_the_installed_assets(private_cache, tmp_path, gpt2):
    import os

    from platformdirs import user_cache_dir

    from babilong import haystack
    from babilong.cache import cache_dir, gpt2_ranks_file, gutenberg_dir

    assert cache_dir() == private_cache and Path(os.environ["BABILONG_CACHE"]) == private_cache
    assert cache_dir() != Path(user_cache_dir("babilong"))
    assert gpt2_ranks_file().is_file() and any(gutenberg_dir().glob("*.txt"))
    haystack.prepare(haystack.get_source(str(_two_books(tmp_path / "books"))), "all", gpt2)  # the default cache
    assert any((private_cache / "prepared").iterdir())


# ---- 12: tests that notice deliberate breaks ----

MANY_FACTS = [f"Fact number {n} says Mary went to room {n}." for n in range(6)]


@pytest.fixture(scope="module")
def book_corpus(small_books, gpt2, tmp_path_factory):
    from babilong.haystack import get_source, prepare

    return prepare(get_source(str(small_books)), "all", gpt2, cache=tmp_path_factory.mktemp("prepared"))


def test_the_facts_of_a_sample_are_spread_over_the_passage_not_put_in_one_gap(book_corpus, gpt2):
    from babilong.builder import build_input

    for index in range(5):
        built = build_input(MANY_FACTS, book_corpus, gpt2, 4000, (0, "qa1", "4k", index))
        chars = [p.char for p in built.fact_positions]
        adjacent = [chars[i] + len(MANY_FACTS[i]) + 1 == chars[i + 1] for i in range(len(chars) - 1)]
        assert not all(adjacent), f"sample {index}: all facts in one gap"
        depths = [p.depth for p in built.fact_positions]
        assert max(depths) - min(depths) > 20, f"sample {index}: facts within {max(depths) - min(depths):.1f}% of each other"


@pytest.fixture()
def one_story_babi(tmp_path) -> Path:
    """A bAbI file of one story, so a sample's facts are the same whatever the seed."""
    lines = [f"{n + 1} {fact}" for n, fact in enumerate(MANY_FACTS)] + ["7 Where is Mary?\troom\t6"]
    path = tmp_path / "qa1_single_test.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_seed_moves_the_background_and_the_fact_positions(small_books, one_story_babi):
    from babilong.generate import GenerationConfig, build_sample

    built = {seed: build_sample("qa1", "2k", 0, GenerationConfig(seed=seed, haystack=str(small_books), split="all",
                                                                 babi=str(one_story_babi))) for seed in (0, 1)}
    assert built[0].facts == built[1].facts  # the same story: only the seed differs
    backgrounds = {seed: sample.input for seed, sample in built.items()}
    for seed, sample in built.items():
        for fact in sample.facts:
            backgrounds[seed] = backgrounds[seed].replace(fact, "")
    assert backgrounds[0] != backgrounds[1], "the haystack passage ignores the seed"
    assert [p.depth for p in built[0].fact_positions] != [p.depth for p in built[1].fact_positions], \
        "the fact positions ignore the seed"


def test_the_cli_seed_is_the_seed_of_the_samples(tmp_path):
    from babilong.datasets import read_file
    from babilong.generate import generate_samples

    written = {}
    for seed in ("0", "5"):
        out = tmp_path / f"seed{seed}"
        assert main(["generate", "--tasks", "qa2", "--lengths", "0k", "--samples", "3", "--seed", seed, "--format", "jsonl",
                     "--out", str(out)]) == 0
        written[seed] = read_file(out / "0k" / "qa2.jsonl")
    assert [s.input for s in written["5"]] == [s.input for s in generate_samples("qa2", "0k", 3, seed=5)]
    assert [s.input for s in written["5"]] != [s.input for s in written["0"]]
    assert all(s.seed == 5 for s in written["5"])


def test_a_crash_while_writing_the_run_manifest_leaves_no_half_manifest(tmp_path, monkeypatch):
    """The manifest goes through a temporary file: a write that fails half-way leaves none (or the old one)."""
    import errno

    from babilong.errors import BabilongError
    from babilong.models import load_model
    from babilong.prompts import PromptConfig
    from babilong.runs import ResultStore, RunConfig

    import babilong.files as files

    model = load_model("echo", {})
    config = RunConfig("echo", model.settings(), PromptConfig(), 5, {"source": "hand-made"})
    renamed = []
    real_replace = files.os.replace

    def disk_full_at_the_manifest(source, target):
        renamed.append(Path(target).name)
        if Path(target).name == MANIFEST:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", disk_full_at_the_manifest)
    with pytest.raises(BabilongError, match="disk is full"):
        ResultStore(tmp_path / "run", config)
    monkeypatch.undo()
    assert MANIFEST in renamed  # written aside and renamed into place, never in place
    assert not (tmp_path / "run" / MANIFEST).exists() and not list((tmp_path / "run").glob("*manifest*"))


def test_the_mean_over_tasks_is_the_mean_of_the_task_accuracies_when_cells_differ(tmp_path):
    from babilong.models import load_model
    from babilong.prompts import PromptConfig
    from babilong.tables import MEAN_ROW, build_table
    from babilong.runs import RunConfig, read_results
    from tests.helpers import make_samples, run_store

    model = load_model("echo", {"reply": "kitchen"})  # right for index 0 of each task but qa5
    samples = [s for task in ("qa1", "qa2", "qa3", "qa4", "qa5") for s in make_samples(task, "1k", count=4)]
    samples += make_samples("qa1", "1k", count=12)[4:]  # qa1: 12 samples, 2 right (indices 0 and 6)
    run_store(tmp_path, samples, model, RunConfig("echo", model.settings(), PromptConfig(examples=False), 5, {"source": "x"}))
    table = build_table(read_results(tmp_path / "results.jsonl").records, "babilong", "a")
    assert table.accuracy("qa1", "1k") == pytest.approx(100 * 2 / 12) and table.accuracy("qa2", "1k") == 25.0
    per_task, pooled = (100 * 2 / 12 + 25 + 25 + 25 + 0) / 5, 100 * 5 / 28
    assert abs(per_task - pooled) > 0.4
    assert table.accuracy(MEAN_ROW, "1k") == pytest.approx(per_task)


def test_the_too_long_check_counts_the_new_tokens_at_the_boundary(tmp_path):
    from babilong.models import load_model
    from babilong.prompts import PromptConfig, build_prompt
    from babilong.runs import RunConfig, read_results
    from tests.helpers import make_samples, run_store

    [sample] = make_samples(count=1)
    new_tokens = 7
    prompt_tokens = load_model("echo", {}).count_tokens(build_prompt(sample, PromptConfig(examples=False)))
    status = {}
    for window in (prompt_tokens + new_tokens, prompt_tokens + new_tokens - 1, prompt_tokens + 1):
        model = load_model("echo", {"context_window": str(window)})
        config = RunConfig("echo", model.settings(), PromptConfig(examples=False), new_tokens, {"source": "x"})
        run_store(tmp_path / str(window), [sample], model, config)
        [record] = read_results(tmp_path / str(window) / "results.jsonl").records.values()
        status[window - prompt_tokens] = record["status"]
    assert status == {new_tokens: "ok", new_tokens - 1: "too_long", 1: "too_long"}


def test_no_gradient_flows_through_armt_gamma():
    torch = pytest.importorskip("torch")
    from babilong.memory.armt import EPS, AssociativeMemory

    torch.manual_seed(0)
    memory = AssociativeMemory(8, 4)
    m = torch.randn(1, 1, 8)  # one memory token: its gamma is the plain formula below
    with torch.no_grad():
        norm = 0.3 * memory.features(memory.key, torch.randn(1, 3, 8)).mean(1)
    matrix = torch.randn(1, 8, norm.shape[-1])
    k = memory.features(memory.key, m)
    gamma = (1 - (k @ norm.unsqueeze(-1)) / (k.pow(2).sum(-1, keepdim=True) + EPS)).clamp(0, 1)
    assert ((gamma > 0.01) & (gamma < 0.99)).all()  # inside the clip: a gradient through gamma would show
    expected = torch.autograd.grad((norm + (gamma.detach() * k).sum(1)).sum(), memory.key.weight, retain_graph=True)[0]
    _, new_norm = memory.write(m, matrix, norm)
    actual = torch.autograd.grad(new_norm.sum(), memory.key.weight)[0]
    torch.testing.assert_close(actual, expected)
    with_gamma = torch.autograd.grad((norm + (gamma * k).sum(1)).sum(), memory.key.weight)[0]
    assert not torch.allclose(with_gamma, expected)  # the two differ here, so the check above can fail
