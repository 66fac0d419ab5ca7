import hashlib
import json

import pytest

from babilong.assets import GPT2_RANKS_SHA256, install_gpt2_tokenizer, install_gutenberg
from babilong.cache import gpt2_ranks_file
from babilong.tokens import read_ranks
from babilong.errors import BabilongError


def _tiny_gpt2_files(folder):
    """A vocab.bpe / encoder.json pair in GPT-2's format: the 256 byte tokens plus two merges."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    shown = {b: chr(b) for b in printable}
    shown.update({b: chr(256 + n) for n, b in enumerate(b for b in range(256) if b not in printable)})
    order = printable + [b for b in range(256) if b not in printable]
    encoder = {shown[b]: rank for rank, b in enumerate(order)}
    encoder.update({"he": 256, "\u0120he": 257, "<|endoftext|>": 258})
    (folder / "vocab.bpe").write_text("#version: 0.2\nh e\n\u0120 he\n", encoding="utf-8")
    (folder / "encoder.json").write_text(json.dumps(encoder), encoding="utf-8")
    return [hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("vocab.bpe", "encoder.json")]


def test_rank_file_is_built_from_the_bpe_files(tmp_path):
    vocab_hash, encoder_hash = _tiny_gpt2_files(tmp_path)
    target = tmp_path / "out" / "tiny.tiktoken"
    install_gpt2_tokenizer(tmp_path / "vocab.bpe", tmp_path / "encoder.json", target, hashes=(vocab_hash, encoder_hash))
    ranks = read_ranks(target)
    assert len(ranks) == 258 and ranks[b"he"] == 256 and ranks[b" he"] == 257 and ranks[b"!"] == 0
    assert [p.name for p in target.parent.iterdir()] == ["tiny.tiktoken"]  # no leftover temp file


def test_tampered_tokenizer_files_are_refused(tmp_path):
    _tiny_gpt2_files(tmp_path)  # not the original GPT-2 files: the built-in hashes refuse them
    with pytest.raises(BabilongError, match="vocab.bpe failed its hash check"):
        install_gpt2_tokenizer(tmp_path / "vocab.bpe", tmp_path / "encoder.json", tmp_path / "out.tiktoken")
    assert not (tmp_path / "out.tiktoken").exists()


def test_mismatched_bpe_files_are_refused(tmp_path):
    vocab_hash, _ = _tiny_gpt2_files(tmp_path)
    (tmp_path / "encoder.json").write_text(json.dumps({"a": 0}))
    encoder_hash = hashlib.sha256((tmp_path / "encoder.json").read_bytes()).hexdigest()
    with pytest.raises(BabilongError, match="do not match"):
        install_gpt2_tokenizer(tmp_path / "vocab.bpe", tmp_path / "encoder.json", tmp_path / "out.tiktoken",
                               hashes=(vocab_hash, encoder_hash))


def test_installed_gpt2_rank_file_is_the_original():
    path = gpt2_ranks_file()
    assert path.exists(), f"{path} is missing: run 'babilong setup' before the tests"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GPT2_RANKS_SHA256
    assert len(read_ranks(path)) == 50256


def test_books_are_installed_as_utf8_with_lf(tmp_path):
    source = tmp_path / "package" / "gutenberg"
    source.mkdir(parents=True)
    (source / "latin.txt").write_bytes("Caf\xe9 society.\r\nNext line.\r\n".encode("latin-1"))
    assert install_gutenberg(source, tmp_path / "books") == 1
    assert (tmp_path / "books" / "latin.txt").read_text(encoding="utf-8") == "Café society.\nNext line.\n"
