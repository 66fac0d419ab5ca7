"""eval's samples: streamed (built when their turn comes), the generator's own flags, data identified by content."""

import argparse
import json

from babilong import evaluate, generate
from babilong.cli import main


def eval_args(tmp_path, *extra):
    return ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "2",
            "--output", str(tmp_path / "run"), "--no-progress", *extra]


def test_finished_samples_are_skipped_without_being_built(tmp_path, monkeypatch, capsys):
    assert main(eval_args(tmp_path, "--samples", "4")) == 0
    built = []
    real = generate.build_sample

    def counting(task, length, index, config):
        built.append(index)
        return real(task, length, index, config)

    monkeypatch.setattr(generate, "build_sample", counting)
    assert main(eval_args(tmp_path, "--samples", "6")) == 0
    assert built == [4, 5]
    assert "6 samples, 4 already done, 2 answered" in capsys.readouterr().err


def test_eval_and_generate_share_the_generation_flags_and_defaults():
    def defaults(module):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        return {a.dest: a.default for a in parser._actions}

    shared = ("seed", "haystack", "split", "tokenizer", "reserve", "depth", "no_reuse", "babi")
    assert {k: defaults(evaluate)[k] for k in shared} == {k: defaults(generate)[k] for k in shared}


def test_the_run_identity_holds_the_whole_generation_config(tmp_path, capsys):
    assert main(eval_args(tmp_path, "--depth", "10,90", "--no-reuse")) == 0
    generator = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["data"]["generator"]
    assert generator == {"seed": 0, "haystack": "gutenberg", "split": "test", "tokenizer": "gpt2", "reserve": 0,
                         "depth": [10.0, 90.0], "allow_reuse": False, "babi": None}
    assert main(eval_args(tmp_path, "--depth", "0,50", "--no-reuse")) == 2
    assert "another configuration (changed: data" in capsys.readouterr().err


def test_a_regenerated_data_folder_is_refused_not_answered_from_stale_results(tmp_path, capsys):
    data = tmp_path / "data"
    make = ["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "3", "--format", "jsonl", "--out", str(data)]
    assert main(make) == 0
    assert main(eval_args(tmp_path, "--data", str(data), "--samples", "3")) == 0
    files = json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["data"]["files"]
    assert list(files) == ["0k/qa1.jsonl"] and len(files["0k/qa1.jsonl"]) == 64
    assert main(eval_args(tmp_path, "--data", str(data), "--samples", "3")) == 0  # same bytes: resumes
    assert "3 already done" in capsys.readouterr().err
    assert main([*make, "--seed", "1", "--overwrite"]) == 0
    assert main(eval_args(tmp_path, "--data", str(data), "--samples", "3")) == 2
    err = capsys.readouterr().err
    assert f"the data in {data.resolve()} changed since" in err and "choose another --output" in err


def test_fewer_samples_than_asked_are_named(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "2", "--format", "jsonl", "--out", str(data)]) == 0
    assert main(eval_args(tmp_path, "--data", str(data), "--samples", "5")) == 0
    assert f"{data} has 2 qa1 samples at 0k, fewer than --samples 5" in capsys.readouterr().err


def test_missing_data_is_one_line_before_the_model_loads(tmp_path, capsys):
    (tmp_path / "data" / "0k").mkdir(parents=True)
    assert main(eval_args(tmp_path, "--data", str(tmp_path / "data"))) == 2
    err = capsys.readouterr().err
    assert "no qa1 data for length 0k" in err and err.count("\n") == 1
