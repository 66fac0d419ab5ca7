"""Where babilong keeps what it installs and prepares: corpora, tokenizers, models, indexes."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache folder for babilong (``$BABILONG_CACHE`` overrides it)."""
    configured = os.environ.get("BABILONG_CACHE")
    if configured:
        return Path(configured)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("babilong"))


def gutenberg_dir() -> Path:
    """The default haystack's books, installed by ``babilong setup``."""
    return cache_dir() / "haystacks" / "gutenberg"


def gpt2_ranks_file() -> Path:
    """The GPT-2 tokenizer's rank file, made by ``babilong setup``."""
    return cache_dir() / "tokenizers" / "gpt2.tiktoken"
