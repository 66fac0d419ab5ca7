"""``babilong eval`` and ``babilong report`` from the command line: the happy path and every error path."""

import json

import pytest

from babilong.cli import main
from babilong.models import BACKENDS, parse_model_args


def eval_args(tmp_path, *extra):
    return ["eval", "--model", "echo", "--tasks", "qa1", "--lengths", "0k", "--samples", "2",
            "--output", str(tmp_path / "run"), "--no-progress", *extra]


def test_eval_prints_the_table_and_writes_the_run(tmp_path, capsys):
    assert main(eval_args(tmp_path, "--export", str(tmp_path / "export"))) == 0
    out = capsys.readouterr().out
    assert "| qa1 |" in out and "scorer `babilong`" in out and "scorer `reference`" in out
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"manifest.json", "results.jsonl", "accuracy.csv", "heatmap.png", "report.md",
                                              "view.html", "depth.png"}
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert all(r["depths"] and len(r["depths"]) == len(r["supporting_facts"]) for r in records)  # where the facts sat
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["data"]["generator"]["seed"] == 0
    assert any((tmp_path / "export").rglob("qa1_0k_instruction_yes_*.csv"))
    assert main(["report", str(run)]) == 0 and "| qa1 |" in capsys.readouterr().out


def test_rerun_resumes_and_a_changed_prompt_is_refused(tmp_path, capsys):
    assert main(eval_args(tmp_path)) == 0
    assert main(eval_args(tmp_path, "--samples", "3")) == 0
    assert "2 already done, 1 answered" in capsys.readouterr().err
    assert main(eval_args(tmp_path, "--prompt", "bare")) == 2
    assert "another configuration (changed: prompt" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--model", "gpt5"], "unknown model backend 'gpt5': use one of " + ", ".join(BACKENDS)),
    (["--model-args", "reply"], "bad --model-args item 'reply': write key=value pairs"),
    (["--model-args", "colour=red"], "--model echo does not take colour: it takes reply"),
    (["--model-args", "context_window=lots"], "--model-args context_window='lots' is not a whole number"),
    (["--tasks", "qa99"], "unknown task 'qa99'"),
    (["--samples", "0"], "argument --samples: 0 is out of range: give a whole number from 1"),
    (["--prompt", "chatty"], "bad --prompt 'chatty'"),
    (["--data", "/nonexistent/babilong-data"], "/nonexistent/babilong-data"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert main(eval_args(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_backend_specific_errors(tmp_path, capsys):
    assert main(eval_args(tmp_path, "--model", "hf")) == 2
    assert "--model hf needs --model-args pretrained=" in capsys.readouterr().err
    assert main(eval_args(tmp_path, "--model", "openai", "--model-args", "base_url=http://127.0.0.1:9/v1")) == 2
    assert "needs --model-args model=NAME" in capsys.readouterr().err
    pytest.importorskip("transformers")
    assert main(eval_args(tmp_path, "--model", "hf", "--model-args", f"pretrained={tmp_path / 'no-model'}")) == 2
    assert f"model folder {tmp_path / 'no-model'} not found" in capsys.readouterr().err


def test_vllm_absent_is_a_clear_error(tmp_path, capsys):
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed here")
    except ImportError:
        pass
    assert main(eval_args(tmp_path, "--model", "vllm", "--model-args", "pretrained=x")) == 2
    assert "--model vllm needs vLLM" in capsys.readouterr().err


def test_unwritable_output_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main([*eval_args(tmp_path)[:-2], str(tmp_path / "file" / "run"), "--no-progress"]) == 2
    assert "is a file, so" in capsys.readouterr().err


def test_model_args_parse():
    assert parse_model_args("pretrained=a/b, batch_size=4,") == {"pretrained": "a/b", "batch_size": "4"}
    assert parse_model_args("") == {}


def test_samples_built_by_worker_processes_give_the_same_run(tmp_path, capsys, small_books):
    common = ["eval", "--model", "echo", "--tasks", "qa1,qa2", "--lengths", "0k,1k", "--samples", "3",
              "--haystack", str(small_books), "--no-progress"]
    assert main([*common, "--output", str(tmp_path / "one")]) == 0
    assert main([*common, "--workers", "2", "--output", str(tmp_path / "two")]) == 0
    read = lambda folder: sorted(  # noqa: E731
        json.dumps({k: v for k, v in json.loads(line).items() if k != "latency"})
        for line in (folder / "results.jsonl").read_text().splitlines())
    assert read(tmp_path / "one") == read(tmp_path / "two") and len(read(tmp_path / "one")) == 12
