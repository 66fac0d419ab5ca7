import os
import shutil
from pathlib import Path

import pytest

from babilong.cache import cache_dir, gutenberg_dir

# Four short books of the set `babilong setup` installs (about 300k GPT-2 tokens in all).
SMALL_BOOKS = ("blake-poems", "carroll-alice", "shakespeare-macbeth", "burgess-busterbrown")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """A babilong cache of the test session's own (``$BABILONG_CACHE``), so tests never fill the
    user's and never pass on a corpus an earlier run prepared there.

    It is seeded from the installed assets (``babilong setup``): the tokenizer copied, the
    books and converted models linked (read only, and large); nothing prepared is carried over.
    """
    installed = cache_dir()
    cache = tmp_path_factory.mktemp("babilong-cache")
    if (installed / "tokenizers").is_dir():
        shutil.copytree(installed / "tokenizers", cache / "tokenizers")
    for folder in ("haystacks", "models"):
        for entry in sorted((installed / folder).glob("[!.]*")) if (installed / folder).is_dir() else []:  # no locks
            _link_tree(entry, cache / folder / entry.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BABILONG_CACHE", str(cache))
        yield cache


def _link_tree(source: Path, target: Path) -> None:
    """``target`` as a folder tree of links to the files under ``source`` (a writer replacing it leaves ``source`` alone)."""
    if source.is_dir():
        target.mkdir(parents=True)
        for entry in source.iterdir():
            if not entry.name.startswith("."):
                _link_tree(entry, target / entry.name)
    elif not source.name.startswith("."):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(source.resolve(), target)


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
