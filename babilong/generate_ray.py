"""``generate --ray [ADDRESS]``: the blocks of ``generate_parallel`` built as Ray tasks, on every core of a cluster.

Each task gets a block's description and the haystack (put in the object store once, so no
node reads or downloads the books), writes the block's part files into ``--out`` and returns
their names; the driver puts the files together and writes the manifest, as with local
workers. ``--out`` must therefore be on storage that every node shares.
"""

from __future__ import annotations

import logging
from pathlib import Path

from babilong import __version__
from babilong.errors import BabilongError
from babilong.generate_parallel import Block, Builders, build_block

MAX_RETRIES = 3  # a block whose worker died is built again (its parts are rewritten whole: same bytes)


def import_ray():
    try:
        import ray
    except ImportError:
        raise BabilongError("--ray needs the ray package: pip install 'babilong[ray]' (or drop --ray to use local --workers)") from None
    return ray


class RayBuilders(Builders):
    """Blocks as Ray tasks of one CPU each; ``workers`` is the cluster's CPU count."""

    def __init__(self, address: str, haystack) -> None:
        ray = import_ray()
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(address=address or None, include_dashboard=False, logging_level=logging.WARNING)
            except (ConnectionError, ValueError, RuntimeError) as error:
                where = address or "a local cluster"
                raise BabilongError(f"could not start or join the Ray cluster at {where} ({_first_line(error)}): "
                                    "check the address (ray status), or drop --ray") from None
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._corpus = [ray.put(haystack)] if haystack is not None else []  # in a list: tasks get the reference, not a copy each
        self._task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_build_block_on_ray)
        self._pending: set = set()

    def submit(self, block: Block, config, scratch: Path):
        handle = self._task.options(memory=_memory_of(block, config)).remote(block, config, scratch, self._corpus)
        self._pending.add(handle)
        return handle

    def collect(self, handle) -> list[Path]:
        from ray.exceptions import RayError, RayTaskError

        self._pending.discard(handle)
        try:
            parts, version = self._ray.get(handle)
        except RayTaskError as error:
            if isinstance(error.cause, BabilongError):
                raise BabilongError(str(error.cause)) from None
            raise BabilongError(f"a Ray worker failed: {_first_line(error.cause or error)}") from None
        except RayError as error:
            raise BabilongError(f"a Ray worker was lost ({type(error).__name__}) after {MAX_RETRIES} retries: "
                                "check the cluster (ray status), then rerun") from None
        if version != __version__:
            raise BabilongError(f"a Ray worker runs babilong {version} and this driver {__version__}: "
                                "install the same version on every node")
        missing = [part for part in parts if not part.exists()]
        if missing:
            raise BabilongError(f"a Ray worker wrote {missing[0]} where this machine cannot see it: put --out on storage "
                                "every node shares (NFS or another shared file system), or drop --ray")
        return parts

    def close(self) -> None:
        """Stop the blocks still out (their parts would land in a removed folder); leave a cluster we joined."""
        for handle in self._pending:
            self._ray.cancel(handle, force=True)
        self._pending.clear()
        if self._started:
            self._ray.shutdown()
            self._started = False


def _build_block_on_ray(block: Block, config, scratch: Path, corpus: list) -> tuple[list[Path], str]:
    """In a Ray worker: the shipped haystack is used instead of reading the books, then as ``build_block``."""
    from babilong.generation import corpus_installed, install_corpus

    if corpus and not corpus_installed(config):
        import ray

        install_corpus(config, ray.get(corpus[0]))
    return build_block(block, config, scratch), __version__


def _memory_of(block: Block, config) -> int | None:
    """The memory a block of long samples needs (Ray places it on a node that has it); None for short ones."""
    from babilong.generation import MEMORY_CHECK_FROM, estimated_memory
    from babilong.lengths import length_tokens

    if length_tokens(block.length) < MEMORY_CHECK_FROM:
        return None
    return estimated_memory(block.length, config, tuple(path.suffix.lstrip(".") for path in block.outputs))


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
