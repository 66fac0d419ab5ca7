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
