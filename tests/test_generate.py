import json
import os
import stat
import subprocess
import sys

import pytest

from babilong.cli import main
from babilong.datasets import load_samples, read_file
from babilong.errors import BabilongError
from babilong.generate import generate_samples
from babilong.tasks import get_task


def test_sample_i_does_not_depend_on_count_or_start(small_books):
    many = generate_samples("qa5", "2k", 6, seed=3, haystack=str(small_books), split="all")
    assert generate_samples("qa5", "2k", 2, seed=3, haystack=str(small_books), split="all", start=4) == many[4:]
    other_seed = generate_samples("qa5", "2k", 6, seed=4, haystack=str(small_books), split="all")
    assert all(a.input != b.input for a, b in zip(many, other_seed))


def test_samples_carry_labels_checked_and_facts_located(small_books, gpt2):
    for sample in generate_samples("qa5", "1k", 20, haystack=str(small_books), split="all"):
        assert sample.token_count == len(gpt2.encode(sample.input)) == 1000
        assert get_task("qa5").check(sample.facts, sample.question) == sample.target
        for fact, position in zip(sample.facts, sample.fact_positions):
            assert sample.input[position.char:position.char + len(fact)] == fact


def test_same_story_at_every_length(small_books):
    short, long = (generate_samples("qa4", length, 3, haystack=str(small_books), split="all")[2] for length in ("0k", "4k"))
    assert short.facts == long.facts and short.question == long.question and short.input == " ".join(short.facts)


def test_reserve_keeps_room_for_the_prompt(small_books):
    sample = generate_samples("qa4", "1k", 1, haystack=str(small_books), split="all", reserve=300)[0]
    assert sample.token_count == 700 and sample.length == "1k"


def test_cli_writes_published_layout_and_manifest(small_books, tmp_path, capsys):
    out = tmp_path / "data"
    code = main(["generate", "--tasks", "qa4,qa5", "--lengths", "0k,1k", "--samples", "3", "--haystack", str(small_books),
                 "--split", "all", "--out", str(out)])
    assert code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(f"{l}/{t}.{f}" for l in ("0k", "1k") for t in ("qa4", "qa5") for f in ("jsonl", "parquet"))
    jsonl, parquet = read_file(out / "1k" / "qa5.jsonl"), read_file(out / "1k" / "qa5.parquet")
    assert jsonl == parquet and len(jsonl) == 3
    first = json.loads((out / "1k" / "qa5.jsonl").read_text().splitlines()[0])
    assert list(first)[:3] == ["input", "question", "target"]
    assert load_samples(out, ["qa4", "qa5"], ["0k", "1k"], limit=2)[0] == read_file(out / "0k" / "qa4.jsonl")[0]
    # the same command again: refused without --overwrite, identical bytes with it
    before = (out / "1k" / "qa5.jsonl").read_bytes()
    assert main(["generate", "--tasks", "qa4,qa5", "--lengths", "0k,1k", "--samples", "3", "--haystack", str(small_books),
                 "--split", "all", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    main(["generate", "--tasks", "qa5", "--lengths", "1k", "--samples", "3", "--haystack", str(small_books),
          "--split", "all", "--out", str(out), "--overwrite", "--format", "jsonl"])
    assert (out / "1k" / "qa5.jsonl").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--tasks", "qa42"], "unknown task"),
    (["--tasks", "qa1-"], "unknown task"),
    (["--lengths", "4q"], "malformed length"),
    (["--haystack", "/no/such/dir"], "not found"),
    (["--depth", "70,20"], "bad --depth 70,20"),
    (["--format", "csv"], "unknown --format"),
    (["--samples", "0"], "--samples"),
    (["--start", "-1"], "--start"),
    (["--reserve", "-5"], "argument --reserve: -5 is out of range"),
    (["--reserve", "1000"], "--reserve 1000 leaves no room"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    code = main(["generate", "--tasks", "qa4", "--lengths", "1k", "--samples", "1", "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_interrupted_generation_leaves_no_half_files(small_books, tmp_path):
    out = tmp_path / "data"
    command = ["generate", "--tasks", "qa4,qa5", "--lengths", "1k", "--samples", "2", "--haystack", str(small_books),
               "--split", "all", "--out", str(out), "--workers", "1"]
    script = (  # killed while qa5 is half written: its first sample is in its files, the second never comes
        "import signal, os, babilong.generation as g\n"
        "real = g.build_sample_in_pieces\n"
        "def dying(task, length, index, config):\n"
        "    if task == 'qa5' and index == 1: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(task, length, index, config)\n"
        "g.build_sample_in_pieces = dying\n"
        "from babilong.cli import main\n"
        f"main({command!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode != 0
    assert not (out / "manifest.json").exists()  # no manifest: the folder never looks complete
    assert sorted(p.name for p in (out / "1k").iterdir() if not p.name.startswith(".")) == ["qa4.jsonl", "qa4.parquet"]
    assert len(read_file(out / "1k" / "qa4.jsonl")) == 2
    assert main([*command, "--overwrite"]) == 0  # the rerun finishes and clears what the killed run left
    assert not list(out.rglob("*.partial")) and len(read_file(out / "1k" / "qa5.parquet")) == 2


def test_released_babi_stories_can_replace_the_generator(small_books, tmp_path, capsys):
    reference = tmp_path / "babi"  # the first story of the released qa1 file, as the release lays it out
    reference.mkdir()
    (reference / "qa1_single-supporting-fact_test.txt").write_text(
        "1 Sandra journeyed to the bathroom.\n2 John travelled to the office.\n3 Where is Sandra?\tbathroom\t1\n"
        "4 Sandra travelled to the kitchen.\n5 Mary went to the office.\n6 Where is John?\toffice\t2\n"
    )
    out = tmp_path / "from-babi"
    assert main(["generate", "--tasks", "qa1", "--lengths", "1k", "--samples", "2", "--babi", str(reference),
                 "--haystack", str(small_books), "--split", "all", "--out", str(out)]) == 0
    first, second = read_file(out / "1k" / "qa1.jsonl")
    assert first.facts == ("Sandra journeyed to the bathroom.", "John travelled to the office.")
    assert first.question == "Where is Sandra?" and first.target == "bathroom" and first.supporting == (0,)
    assert len(second.facts) == 4 and second.target == "office" and second.supporting == (1,)
    bad = tmp_path / "qa1_bad.txt"
    bad.write_text("1 Mary went to the kitchen.\n3 Where is Mary?\tkitchen\t1\n")
    assert main(["generate", "--tasks", "qa1", "--lengths", "1k", "--samples", "1", "--babi", str(bad),
                 "--haystack", str(small_books), "--split", "all", "--out", str(tmp_path / "y")]) == 2
    assert "qa1_bad.txt: line 2" in capsys.readouterr().err


def test_reuse_warns_once_and_is_recorded(tmp_path, capsys):
    (tmp_path / "book.txt").write_text("The small book says only this one sentence here. " * 30)
    samples = generate_samples("qa1", "4k", 2, haystack=str(tmp_path), split="all")
    assert all(s.background_reused for s in samples)
    assert capsys.readouterr().err.count("books are read again") == 1
    with pytest.raises(BabilongError, match="tokens, fewer than"):
        generate_samples("qa1", "4k", 1, haystack=str(tmp_path), split="all", allow_reuse=False)


def test_any_hf_tokenizer_gives_exact_lengths(small_books):
    from babilong.models.smollm2 import model_folder
    from babilong.tokens import get_tokenizer

    name = f"hf:{model_folder()}"
    tokenizer = get_tokenizer(name)
    for sample in generate_samples("qa1", "1500", 5, haystack=str(small_books), split="all", tokenizer=name):
        assert len(tokenizer.encode(sample.input)) == sample.token_count == 1500
        assert sample.tokenizer == name


def _generate(small_books, out, *extra: str) -> int:
    return main(["generate", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--samples", "3", "--haystack", str(small_books),
                 "--split", "all", "--out", str(out), *extra])


def test_hub_layout_loads_with_datasets_offline(small_books, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    out = tmp_path / "hub"
    assert _generate(small_books, out, "--format", "hub") == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "0k/qa1-00000-of-00001.parquet", "0k/qa2-00000-of-00001.parquet", "1k/qa1-00000-of-00001.parquet",
        "1k/qa2-00000-of-00001.parquet", "README.md", "manifest.json"]
    rows = datasets.load_dataset(str(out), "1k", split="qa2", cache_dir=str(tmp_path / "hf-cache"))
    ours = load_samples(out, ["qa2"], ["1k"])
    assert rows["input"] == [s.input for s in ours] and rows["target"] == [s.target for s in ours] and len(ours) == 3
    assert ours == generate_samples("qa2", "1k", 3, haystack=str(small_books), split="all")


def test_generated_files_get_the_umask_mode(small_books, tmp_path):
    previous = os.umask(0o022)
    try:
        assert _generate(small_books, tmp_path / "out", "--lengths", "0k") == 0
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert modes and set(modes.values()) == {0o644}, modes


def test_overwrite_with_another_config_removes_the_old_files(small_books, tmp_path):
    out = tmp_path / "out"
    assert _generate(small_books, out) == 0
    assert _generate(small_books, out, "--lengths", "1k", "--tasks", "qa2", "--format", "jsonl", "--overwrite") == 0
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert left == ["1k/qa2.jsonl", "manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["files"].keys() == {"1k/qa2.jsonl"}
    with pytest.raises(BabilongError, match="no qa1 data"):
        load_samples(out, ["qa1"], ["1k"])


def test_negative_reserve_is_refused_in_python_too(small_books):
    with pytest.raises(BabilongError, match="--reserve -100 is negative"):
        generate_samples("qa1", "1k", 1, haystack=str(small_books), split="all", reserve=-100)


def test_messages_name_the_flag_to_change(small_books):
    with pytest.raises(BabilongError, match="longer --lengths or a smaller --reserve"):
        generate_samples("qa7", "5", 1, haystack=str(small_books), split="all")  # no qa7 story fits in 5 tokens
    with pytest.raises(BabilongError, match="choose another --split"):
        generate_samples("qa1", "1k", 1, haystack=f"pg19:{small_books.parent}", split="validation")


def test_a_sample_too_big_for_memory_is_refused_up_front(small_books, tmp_path, capsys, monkeypatch):
    import babilong.generation as generate

    monkeypatch.setattr(generate, "available_memory", lambda: 10 * 2**20)
    code = _generate(small_books, tmp_path / "out", "--lengths", "1M", "--tasks", "qa1")  # not even JSONL fits
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("preparing")]  # not progress bars
    assert code == 2 and len(err) == 1, err
    assert "a 1M sample needs about" in err[0] and "MiB of memory and 10 MiB is available: use shorter --lengths, or free memory" in err[0]
    assert not (tmp_path / "out").exists()
    with pytest.raises(BabilongError, match="needs about .* of memory"):
        generate_samples("qa1", "2M", 1, haystack=str(small_books), split="all")  # eval's path: one sample at a time


def test_memory_estimate_grows_with_the_length_and_the_formats(small_books):
    from babilong.generate import MEMORY_BASE, GenerationConfig, estimated_memory

    config = GenerationConfig(haystack=str(small_books), split="all")
    one, ten = (estimated_memory(length, config) - MEMORY_BASE for length in ("1M", "10M"))  # held as one string
    assert 5 * 2**20 < one < 100 * 2**20 and ten == pytest.approx(10 * one, rel=1e-3)
    assert estimated_memory("1M", config, ("jsonl", "parquet")) > MEMORY_BASE + one
    assert MEMORY_BASE < estimated_memory("1M", config, ("jsonl",)) < MEMORY_BASE + one / 4  # written chunk by chunk


def _memory_between_jsonl_and_parquet(small_books, length: str) -> int:
    from babilong.generate import GenerationConfig, estimated_memory

    config = GenerationConfig(haystack=str(small_books), split="all")
    jsonl, parquet = estimated_memory(length, config, ("jsonl",)), estimated_memory(length, config, ("parquet",))
    assert jsonl < parquet
    return (jsonl + parquet) // 2


def _error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith(("preparing", "generating"))]


def test_default_formats_write_jsonl_only_where_parquet_would_not_fit_and_say_so(small_books, tmp_path, capsys, monkeypatch):
    import babilong.generation as generate

    monkeypatch.setattr(generate, "available_memory", lambda: _memory_between_jsonl_and_parquet(small_books, "1M"))
    out = tmp_path / "out"
    assert _generate(small_books, out, "--lengths", "1k,1M", "--tasks", "qa1", "--samples", "1") == 0
    notes = [line for line in _error_lines(capsys) if "JSONL only" in line]
    assert len(notes) == 1 and "1M as JSONL only: Parquet would need about" in notes[0] and "is available" in notes[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["1M/qa1.jsonl", "1k/qa1.jsonl", "1k/qa1.parquet"]
    assert manifest["jsonl_only_lengths"] == ["1M"] and manifest["formats"] == ["jsonl", "parquet"]
    assert read_file(out / "1M" / "qa1.jsonl")[0].token_count == 1_000_000


@pytest.mark.parametrize("formats", ["jsonl,parquet", "parquet", "hub"])
def test_parquet_asked_for_is_refused_not_dropped_when_it_would_not_fit(small_books, tmp_path, capsys, monkeypatch, formats):
    import babilong.generation as generate

    monkeypatch.setattr(generate, "available_memory", lambda: _memory_between_jsonl_and_parquet(small_books, "1M"))
    assert _generate(small_books, tmp_path / "out", "--lengths", "1k,1M", "--tasks", "qa1", "--format", formats, "--samples", "1") == 2
    err = _error_lines(capsys)
    assert len(err) == 1 and "a 1M sample cannot be written as Parquet: Parquet would need about" in err[0], err
    assert err[0].endswith("use --format jsonl (written chunk by chunk) or shorter --lengths")
    assert not (tmp_path / "out").exists()


def test_the_default_keeps_parquet_under_its_memory_limit_unless_asked(small_books, tmp_path, capsys, monkeypatch):
    import babilong.generation as generate

    monkeypatch.setattr(generate, "PARQUET_DEFAULT_MEMORY", _memory_between_jsonl_and_parquet(small_books, "1M"))
    assert _generate(small_books, tmp_path / "default", "--lengths", "1M", "--tasks", "qa1", "--samples", "1") == 0
    notes = [line for line in _error_lines(capsys) if "JSONL only" in line]
    assert len(notes) == 1 and "more than the default allows" in notes[0] and "--format jsonl,parquet writes it anyway" in notes[0]
    assert sorted(p.name for p in (tmp_path / "default" / "1M").iterdir()) == ["qa1.jsonl"]
    assert _generate(small_books, tmp_path / "asked", "--lengths", "1M", "--tasks", "qa1", "--format", "jsonl,parquet", "--samples", "1") == 0
    assert sorted(p.name for p in (tmp_path / "asked" / "1M").iterdir()) == ["qa1.jsonl", "qa1.parquet"]
    assert (tmp_path / "asked" / "1M" / "qa1.jsonl").read_bytes() == (tmp_path / "default" / "1M" / "qa1.jsonl").read_bytes()


def test_generate_writes_a_long_input_in_bounded_chunks_without_joining_it(small_books, tmp_path, monkeypatch):
    """The JSONL writer gets the input a chunk at a time: no write is near the input's size, and it is never joined."""
    import babilong.datasets as datasets
    import babilong.sample as sample_module

    joined = tmp_path / "joined"
    assert _generate(small_books, joined, "--lengths", "64k", "--tasks", "qa1", "--format", "jsonl") == 0
    largest: dict[str, int] = {}
    real_open = datasets.atomic_open

    class Recording:
        def __init__(self, handle, name):
            self.handle, self.name = handle, name

        def write(self, data):
            largest[self.name] = max(largest.get(self.name, 0), len(data))
            return self.handle.write(data)

    def recording_open(path):
        from contextlib import contextmanager

        @contextmanager
        def opened():
            with real_open(path) as handle:
                yield Recording(handle, path.name)
        return opened()

    def never_joined(self):
        raise AssertionError("the input was joined into one string")

    monkeypatch.setattr(datasets, "atomic_open", recording_open)
    monkeypatch.setattr(sample_module, "CHUNK_CHARACTERS", 1000)
    monkeypatch.setattr(sample_module.InputText, "join", never_joined)
    streamed = tmp_path / "streamed"
    assert _generate(small_books, streamed, "--lengths", "64k", "--tasks", "qa1", "--format", "jsonl") == 0
    line = (streamed / "64k" / "qa1.jsonl").read_bytes()
    assert line == (joined / "64k" / "qa1.jsonl").read_bytes() and len(line) > 250_000
    assert largest["qa1.jsonl"] <= 6 * 1000 + 20_000  # a chunk escaped (at most 6 bytes a character), or the record's other fields


def test_a_second_generate_into_the_same_folder_is_refused_and_the_folder_stays_clean(tmp_path, capsys):
    from babilong.files import exclusive

    out = tmp_path / "data"
    with exclusive(out, wait=False):  # another generate is writing there
        assert main(["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--out", str(out)]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and f"{out} is being written by another babilong process" in error
        assert "--out" in error
    assert main(["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.rglob("*") if p.name.startswith(".")) == []  # the lock sits beside, not inside
