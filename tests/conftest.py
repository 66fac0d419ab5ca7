import os
import shutil
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("BABILONG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
GUTENBERG = SHARED / "data" / "gutenberg"


@pytest.fixture(scope="session")
def small_books(tmp_path_factory) -> Path:
    """A folder of four short public-domain books (about 300k GPT-2 tokens)."""
    folder = tmp_path_factory.mktemp("books")
    for name in ("blake-poems", "carroll-alice", "shakespeare-macbeth", "burgess-busterbrown"):
        shutil.copy(GUTENBERG / f"{name}.txt", folder / f"{name}.txt")
    return folder


@pytest.fixture(scope="session")
def gpt2():
    from babilong.tokens import get_tokenizer

    return get_tokenizer("gpt2")
