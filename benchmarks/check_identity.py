"""A refactor changes no bytes: generated data, prompts and verdicts, this checkout against another.

Three fingerprints, each a sha256 over everything of its kind:
- data: `babilong generate` of qa1-qa20 at 0k and 1k, 3 samples each (the JSONL files);
- prompts: 20 tasks x 9 prompt configurations = 180 prompts (sample 0 of each task at 1k),
  rendered as plain text and with the embedded model's chat template;
- verdicts: every output in tests/data/published scored by each scorer of the checkout.

    git worktree add /tmp/before <commit>
    PYTHONPATH=$PWD python benchmarks/check_identity.py --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("full", "bare", "instruction_no_examples_yes_post_prompt_yes_chat_template_yes_system_prompt_yes",
           "instruction_yes_examples_no_post_prompt_yes_chat_template_yes_system_prompt_yes",
           "instruction_yes_examples_yes_post_prompt_no_chat_template_yes_system_prompt_yes",
           "instruction_yes_examples_yes_post_prompt_yes_chat_template_no_system_prompt_yes",
           "instruction_yes_examples_yes_post_prompt_yes_chat_template_yes_system_prompt_no",
           "instruction_yes_examples_no_post_prompt_no_chat_template_yes_system_prompt_yes",
           "instruction_no_examples_yes_post_prompt_yes_chat_template_no_system_prompt_no")

# Runs inside the checkout under test: only names every version of the package has.
PROBE = r'''
import hashlib, json, sys
from pathlib import Path
from babilong.cli import main
from babilong.datasets import load_samples
from babilong.prompts import build_prompt, parse_prompt_config

data, configs, published = Path(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
assert main(["generate", "--tasks", "all", "--lengths", "0k,1k", "--samples", "3", "--out", str(data),
             "--format", "jsonl"]) == 0
files = sorted(data.rglob("*.jsonl"))
data_hash = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()

from transformers import AutoTokenizer
from babilong.models.smollm2 import model_folder
template = AutoTokenizer.from_pretrained(str(model_folder()))
prompts = hashlib.sha256()
count = 0
for config in configs:
    prompt_config = parse_prompt_config(config, None)
    for task in [f"qa{n}" for n in range(1, 21)]:
        sample = load_samples(str(data), [task], ["1k"], limit=1)[0]
        prompt = build_prompt(sample, prompt_config)
        chat = template.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)
        prompts.update(json.dumps([prompt.plain_text(), chat, prompt.chat]).encode())
        count += 1

import babilong
if (Path(babilong.__file__).parent / "sources.py").exists():  # where load_sources lives in this checkout
    from babilong.sources import load_sources
else:
    from babilong.report import load_sources
verdicts = hashlib.sha256()
scored = 0
for folder in sorted(p for p in published.glob("*/*") if p.is_dir()):
    for source in load_sources([folder]):
        for key in sorted(source.records):
            record = source.records[key]
            verdicts.update(json.dumps([source.title, key, record.get("scores")], sort_keys=True).encode())
            scored += 1
print(json.dumps({"data": [data_hash, len(files)], "prompts": [prompts.hexdigest(), count],
                  "verdicts": [verdicts.hexdigest(), scored]}))
'''


def fingerprints(checkout: Path) -> dict[str, list]:
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-c", PROBE, str(Path(scratch) / "data"), json.dumps(CONFIGS),
                   str(ROOT / "tests" / "data" / "published")]
        done = subprocess.run(command, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)},
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    args = parser.parse_args()
    ours, theirs = fingerprints(ROOT), fingerprints(args.baseline.resolve())
    for kind in ("data", "prompts", "verdicts"):
        (mine, count), (other, _) = ours[kind], theirs[kind]
        print(f"{kind}: {count} items, {'identical' if mine == other else 'DIFFERENT'} ({mine[:16]} vs {other[:16]})")


if __name__ == "__main__":
    main()
