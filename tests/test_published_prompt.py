"""The leaderboard's own prompts: a published folder's JSONs drive the prompt, as the reference assembles it."""

import json
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.datasets import write_samples
from babilong.errors import BabilongError
from babilong.prompts import build_prompt, parse_prompt_config
from babilong.sample import Sample

PUBLISHED = Path(__file__).parent / "data" / "published"
PHI3 = PUBLISHED / "microsoft" / "Phi-3-mini-128k-instruct"
GEMINI = PUBLISHED / "google" / "gemini-3-flash-preview"
JSONS = sorted([*PHI3.glob("*.json"), *GEMINI.glob("*.json")])
CONTEXTS = ["Mary went to the garden. ", "\nJohn took the {question} apple there.\n  Daniel moved to the office.", "x"]


def reference_assembly(parts: dict, context: str, question: str) -> str:
    """The reference code's assembly as its public evaluation code does it: the template filled with the
    parts, the whole stripped (written here independently, with str.format)."""
    return parts["template"].format(instruction=parts["instruction"], examples=parts["examples"],
                                    post_prompt=parts["post_prompt"], context=context, question=question).strip()


def described_shape(parts: dict, context: str, question: str) -> str:
    """The reference layout: instruction, blank line, examples, blank line, post-prompt, blank line,
    the context in <context> tags, then the question."""
    head = f"{parts['instruction']}\n\n{parts['examples']}\n\n{parts['post_prompt']}\n\n"
    return (head + f"<context>\n{context}\n</context>\n\nQuestion: {question}").strip()


def sample_for(path: Path, context: str) -> Sample:
    task, length = path.name.split("_")[:2]
    return Sample(input=context, question="Where is the milk? ", target="garden", task=task, length=length, index=0)


@pytest.mark.parametrize("path", JSONS, ids=lambda p: f"{p.parent.name}/{p.name[:10]}")
@pytest.mark.parametrize("context", CONTEXTS)
def test_published_prompts_are_assembled_as_the_reference_does(path, context):
    parts = json.loads(path.read_text())["prompt"]
    sample = sample_for(path, context)
    prompt = build_prompt(sample, parse_prompt_config(str(path)))
    assert prompt.user == reference_assembly(parts, context, sample.question)
    assert prompt.system is None
    assert prompt.chat is parts.get("chat_template", True)  # Gemini's say false; Phi-3's do not say
    if path.parent == GEMINI:
        assert prompt.user == described_shape(parts, context, sample.question)


def test_a_folder_gives_every_task_and_length_its_own_prompt():
    prompt = parse_prompt_config(str(GEMINI))
    assert prompt.name == "instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    assert sorted(prompt.parts) == ["qa1/1k", "qa1/32k", "qa2/1k", "qa2/32k"]
    qa1, qa2 = (build_prompt(sample_for(GEMINI / f"{task}_1k_x.json", "ctx"), prompt).user for task in ("qa1", "qa2"))
    assert "most recent location" in qa1 and "The 'item' is in" not in qa1 and "is in \u2019location\u2019" in qa2
    assert prompt.max_new_tokens() == 5000
    notes = " ".join(prompt.notes())
    assert "temperature=1" in notes and "thinking_level" in notes
    assert parse_prompt_config(str(next(PHI3.glob("qa1_1k_instruction_yes*.json")))).notes() == []  # greedy, as ours


def test_a_folder_of_several_configurations_asks_which(tmp_path):
    with pytest.raises(BabilongError, match="holds 2 prompt configurations .*give one of its .json files"):
        parse_prompt_config(str(PHI3))
    chosen = parse_prompt_config(str(PHI3 / "qa2_32k_instruction_no_examples_no_post_prompt_no.json"))
    assert chosen.name == "instruction_no_examples_no_post_prompt_no" and len(chosen.parts) == 4


def test_a_run_with_a_published_prompt(tmp_path, capsys):
    write_samples([Sample(input="Mary went to the garden.", question="Where is Mary?", target="garden", task="qa1",
                          length="1k", index=i) for i in range(2)], tmp_path / "data" / "1k" / "qa1.jsonl")
    args = ["eval", "--model", "echo", "--data", str(tmp_path / "data"), "--tasks", "qa1", "--lengths", "1k",
            "--samples", "2", "--prompt", str(GEMINI), "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]
    assert manifest["prompt"]["name"] == "instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    assert list(manifest["prompt"]["parts"]) == ["qa1/1k"]  # only what the run uses is its identity
    assert manifest["max_new_tokens"] == 5000  # the published budget, as none was given
    record = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[0])
    assert record["prompt"].startswith("I will give you context") and record["prompt"].endswith("Question: Where is Mary?")
    assert "decodes greedily" in capsys.readouterr().err


def test_a_length_the_folder_does_not_have_is_refused_before_any_work(tmp_path, capsys):
    args = ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--prompt", str(GEMINI),
            "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 2
    assert "has no prompt for qa1/0k" in capsys.readouterr().err and not (tmp_path / "run").exists()
