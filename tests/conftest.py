import shutil
from pathlib import Path

import pytest

from babilong.assets import gutenberg_dir

# Four short books of the set `babilong setup` installs (about 300k GPT-2 tokens in all).
SMALL_BOOKS = ("blake-poems", "carroll-alice", "shakespeare-macbeth", "burgess-busterbrown")


@pytest.fixture(scope="session")
def small_books(tmp_path_factory) -> Path:
    """A folder of four short public-domain books, copied from the installed haystack."""
    installed = gutenberg_dir()
    missing = [name for name in SMALL_BOOKS if not (installed / f"{name}.txt").exists()]
    if missing:
        pytest.fail(f"the installed books lack {', '.join(missing)} (looked in {installed}): run 'babilong setup' first")
    folder = tmp_path_factory.mktemp("books")
    for name in SMALL_BOOKS:
        shutil.copy(installed / f"{name}.txt", folder / f"{name}.txt")
    return folder


@pytest.fixture(scope="session")
def gpt2():
    from babilong.tokens import get_tokenizer

    return get_tokenizer("gpt2")
