import json
import os
import shutil
import subprocess
import sys

import pytest

from babilong.errors import BabilongError
from babilong.haystack import get_source, iter_sentences, prepare, split_sentences


def test_sentences_are_split_offline_and_whitespace_folded():
    text = "Mr. Darcy bowed to\nher politely. She did not look up at him.\n\nCHAPTER II\n\nThey walked on in silence for a while."
    assert split_sentences(text) == [
        "Mr. Darcy bowed to her politely.",
        "She did not look up at him.",
        "They walked on in silence for a while.",
    ]


def test_counts_add_up_to_the_tokens_of_the_joined_text(small_books, gpt2, tmp_path):
    corpus = prepare(get_source(str(small_books)), "all", gpt2, cache=tmp_path)
    for book in range(len(corpus.book_names)):
        first, last = corpus.book_bounds[book], corpus.book_bounds[book + 1]
        joined = corpus.text[corpus.starts[first]:corpus.ends[last - 1]]
        assert len(gpt2.encode(" " + joined)) == corpus.tokens[first:last].sum()
    assert list(iter_sentences(corpus, 0, 1))[0] == corpus.text[:corpus.ends[0]]


def test_prepared_corpus_is_cached(small_books, gpt2, tmp_path):
    first = prepare(get_source(str(small_books)), "all", gpt2, cache=tmp_path)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 1  # hidden: its lock file
    again = prepare(get_source(str(small_books)), "all", gpt2, cache=tmp_path)
    assert again.text == first.text and (again.tokens == first.tokens).all()


def test_train_and_test_books_are_disjoint(small_books):
    source = get_source(str(small_books))
    train = {b.name for b in source.books("train")}
    test = {b.name for b in source.books("test")}
    assert train and test and not train & test
    assert train | test == {b.name for b in source.books("all")}


def test_pg19_style_folder_uses_its_own_splits(tmp_path, gpt2):
    for split, name in (("train", "101"), ("test", "202")):
        (tmp_path / split).mkdir()
        (tmp_path / split / f"{name}.txt").write_text(f"This is the {split} book speaking now. " * 50)
    source = get_source(f"pg19:{tmp_path}")
    assert [b.name for b in source.books("test")] == ["202"]
    corpus = prepare(source, "train", gpt2, cache=tmp_path / "cache")
    assert "train book" in corpus.text and "test book" not in corpus.text
    with pytest.raises(BabilongError, match="no 'validation' split"):
        source.books("validation")


def test_table_sources(tmp_path, gpt2):
    rows = [{"title": "one", "body": "The first book has a sentence or two in it. " * 20},
            {"title": "two", "body": "The second book says other things entirely here. " * 20}]
    path = tmp_path / "books.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = prepare(get_source(f"{path}#body"), "all", gpt2, cache=tmp_path / "cache")
    assert corpus.book_names == ("one", "two")
    with pytest.raises(BabilongError, match="no column 'text'"):
        get_source(str(path)).books("all")


@pytest.mark.parametrize("spec", ["/no/such/folder", "nonsense-haystack"])
def test_missing_haystack_is_a_clear_error(spec):
    with pytest.raises(BabilongError, match="not found"):
        get_source(spec)


def test_empty_haystack_is_a_clear_error(tmp_path, gpt2):
    with pytest.raises(BabilongError, match="no .txt files"):
        get_source(str(tmp_path))
    (tmp_path / "tiny.txt").write_text("Hi. Yes.")
    with pytest.raises(BabilongError, match="no sentences"):
        prepare(get_source(str(tmp_path)), "all", gpt2, cache=tmp_path / "cache")


def test_hub_style_datasets_split_by_their_own_splits(tmp_path, gpt2):
    folder = tmp_path / "dataset"
    folder.mkdir()
    for split in ("train", "test"):
        rows = [{"title": f"{split}-{i}", "body": f"A {split} book number {i} tells its story here. " * 20} for i in range(2)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = get_source(f"hub:{folder}#body")
    assert [b.name for b in source.books("test")] == ["test/test-0", "test/test-1"]
    corpus = prepare(source, "train", gpt2, cache=tmp_path / "cache")
    assert "train book" in corpus.text and "test book" not in corpus.text
    with pytest.raises(BabilongError, match="no column 'text'"):
        get_source(f"hub:{folder}").books("test")


@pytest.mark.slow
def test_concurrent_shards_on_a_cold_cache(small_books, tmp_path):
    """Four `generate --start` shards prepare the same new corpus at once: each finishes with its own samples."""
    from babilong.cache import gpt2_ranks_file
    from babilong.datasets import read_file
    from babilong.generate import generate_samples

    cache = tmp_path / "cache"
    (cache / "tokenizers").mkdir(parents=True)
    shutil.copy(gpt2_ranks_file(), cache / "tokenizers" / "gpt2.tiktoken")  # cold for corpora only
    env = {**os.environ, "BABILONG_CACHE": str(cache)}
    shards = [
        subprocess.Popen([sys.executable, "-m", "babilong", "generate", "--tasks", "qa1", "--lengths", "1k", "--samples", "1",
                          "--start", str(shard), "--haystack", str(small_books), "--split", "all", "--format", "jsonl",
                          "--out", str(tmp_path / f"shard{shard}")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for shard in range(4)
    ]
    errors = [process.communicate(timeout=300)[1].decode() for process in shards]
    assert [process.returncode for process in shards] == [0, 0, 0, 0], errors
    expected = generate_samples("qa1", "1k", 4, haystack=str(small_books), split="all")
    assert [read_file(tmp_path / f"shard{shard}" / "1k" / "qa1.jsonl") for shard in range(4)] == [[s] for s in expected]
    names = [p.name for p in (cache / "prepared").iterdir()]
    assert len([n for n in names if not n.startswith(".")]) == 1 and not [n for n in names if n.endswith(".partial")], names


def test_a_one_book_haystack_has_no_disjoint_splits(tmp_path, gpt2):
    (tmp_path / "only.txt").write_text("The only book in this folder says this sentence. " * 40)
    source = get_source(str(tmp_path))
    for split in ("train", "test"):
        with pytest.raises(BabilongError, match="no separate train and test books.*--split all"):
            source.books(split)
    assert [b.name for b in source.books("all")] == ["only"]
