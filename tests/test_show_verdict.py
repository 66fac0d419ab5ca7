"""`babilong show-verdict`: each scorer's reasons for one output, from the scorer's own decision."""

from pathlib import Path

from babilong.cli import main

PHI3 = Path(__file__).parent / "data" / "published" / "microsoft" / "Phi-3-mini-128k-instruct"


def test_a_published_sample_is_explained_for_every_prompt_configuration(capsys):
    assert main(["show-verdict", str(PHI3), "qa1/1k/3", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert out.count("target:   hallway") == 2  # the folder holds two prompt configurations
    assert "Answer: [[Sandra is in the kitchen]]." in out  # the committed statement, marked in the raw output
    assert "babilong: wrong (rule labels:" in out and "labels read: kitchen" in out
    assert "babilong: right" in out and "reference: right" in out


def test_a_given_output_is_explained(capsys):
    code = main(["show-verdict", "--output", "Mary is not in the kitchen, she is in the garden.", "--target", "garden",
                 "--task", "qa1", "--question", "Where is Mary?", "--color", "never"])
    out = capsys.readouterr().out
    assert code == 0
    assert "babilong: right (rule negation:" in out and "negated, so not named: kitchen" in out
    assert "reference: wrong" in out


def test_a_missing_sample_or_missing_arguments_are_one_line_errors(capsys):
    assert main(["show-verdict", str(PHI3), "qa9/1k/0"]) != 0
    assert main(["show-verdict", "--output", "kitchen"]) != 0
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "no sample qa9/1k/0" in errors[0] and "--target and --task" in errors[1]
