"""A prompt from a file: texts per task, a template, chat and system text; its content is the run's identity."""

import json

import pytest

from babilong.cli import main
from babilong.prompts import build_prompt, parse_prompt_config
from babilong.sample import Sample

SAMPLE = Sample(input="  Mary went to the {question} kitchen.\n", question="Where is Mary? ", target="kitchen",
                task="qa1", length="0k")
LM_EVAL_STYLE = {
    "instruction": {"qa1": "Find where the person is.", "default": "Read the facts."},
    "post_prompt": "Answer with one word.",
    "template": "{instruction}\n{post_prompt}\n\nContext: {context}\nQuestion: {question}\nAnswer:",
    "chat_template": False,
    "system_prompt": "Be brief.",
}


def write(tmp_path, content, name="prompt.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_template_is_filled_once_with_the_task_texts(tmp_path):
    prompt = build_prompt(SAMPLE, parse_prompt_config(str(write(tmp_path, LM_EVAL_STYLE))))
    assert prompt.user == ("Find where the person is.\nAnswer with one word.\n\n"
                           "Context: Mary went to the {question} kitchen.\nQuestion: Where is Mary?\nAnswer:")
    assert prompt.system == "Be brief." and prompt.chat is False
    other_task = build_prompt(Sample("x", "q", "t", "qa2", "0k"), parse_prompt_config(str(write(tmp_path, LM_EVAL_STYLE))))
    assert other_task.user.startswith("Read the facts.\n")


def test_without_a_template_the_parts_come_in_the_usual_order(tmp_path):
    prompt = build_prompt(SAMPLE, parse_prompt_config(str(write(tmp_path, {"instruction": "Read.", "examples": "Ex."})), "Sys."))
    assert prompt.user == "Read.\n\nEx.\n\n<context>\nMary went to the {question} kitchen.\n</context>\n\nQuestion: Where is Mary?"
    assert prompt.system == "Sys." and prompt.chat is True


def test_the_file_content_is_the_run_identity(tmp_path, capsys):
    path = write(tmp_path, LM_EVAL_STYLE)
    args = ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--prompt", str(path),
            "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 0
    prompt = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["prompt"]
    assert prompt["template"] == LM_EVAL_STYLE["template"] and prompt["name"].startswith("custom_")
    record = json.loads((tmp_path / "run" / "results.jsonl").read_text().splitlines()[0])
    assert record["prompt"].startswith("Be brief.\n\nFind where the person is.")
    write(tmp_path, {**LM_EVAL_STYLE, "post_prompt": "One word."})
    assert main(args) == 2
    assert "another configuration (changed: prompt" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ('{"instruction": "x",\n "template": }', "is not valid JSON at line 2"),
    ("[1]", "must hold a JSON object"),
    ({"instructions": "x"}, "unknown key 'instructions'"),
    ({"template": "{context} only"}, "must contain {context} and {question}"),
    ({"instruction": 3}, "'instruction' must be a text"),
    ({"chat_template": "yes"}, "'chat_template' must be true or false"),
])
def test_a_bad_prompt_file_is_one_line(tmp_path, capsys, content, message):
    path = write(tmp_path, content)
    args = ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "1", "--prompt", str(path),
            "--output", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_missing_prompt_file_is_named(tmp_path, capsys):
    assert main(["eval", "--model", "echo", "--prompt", str(tmp_path / "nope.json"), "--output", str(tmp_path / "run")]) == 2
    assert "cannot read prompt file" in capsys.readouterr().err
