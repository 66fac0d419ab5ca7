"""Each task's module is its one home: scoring and prompts read the task, and its stories come by index."""

from dataclasses import replace

import pytest

from babilong import scoring
from babilong.errors import BabilongError
from babilong.generate import generate_samples
from babilong.prompts import instruction, post_prompt
from babilong.scorers import judge_answer
from babilong.tasks import all_tasks, get_task
from babilong.tasks.base import AnswerGrammar
from babilong.tasks.dataset import TaskConfig, TaskDataset

QUESTION = "What color is Greg?"


def test_scoring_and_prompts_follow_a_change_made_in_the_task_alone(monkeypatch):
    assert not scoring.babilong_correct("violet", "purple", QUESTION, "qa16")
    assert not scoring.reference_correct("purple", "purple", QUESTION, "qa16")
    qa16 = get_task("qa16")
    changed = replace(qa16, labels=(*qa16.labels, "purple"), synonyms={**qa16.synonyms, "violet": "purple"},
                      phrase_synonyms={"light blue": "purple"}, answer_format="Name the colour.",
                      hint="Colours run in families.")
    monkeypatch.setitem(all_tasks(), "qa16", changed)
    assert scoring.babilong_correct("violet", "purple", QUESTION, "qa16")
    assert scoring.babilong_correct("It is light blue.", "purple", QUESTION, "qa16")
    assert not scoring.babilong_correct("not violet but gray", "purple", QUESTION, "qa16")
    assert scoring.reference_correct("purple", "purple", QUESTION, "qa16")
    assert judge_answer("violet", "purple", QUESTION, "qa16")
    assert scoring.LABELS["qa16"] == changed.labels and scoring.SYNONYMS["qa16"]["violet"] == "purple"
    assert post_prompt("qa16") == "Name the colour."
    assert instruction("qa16").endswith("facts. Colours run in families.")


def test_the_scorer_reads_each_task_s_own_answer_grammar(monkeypatch):
    path_question, give_question = "How do you go from the garden to the office?", "Who received the milk?"
    assert not scoring.babilong_correct("e, s", "s,e", path_question, "qa19")  # a path: the order counts
    assert scoring.babilong_correct("Fred gave the milk to Mary.", "Mary", give_question, "qa5")  # the receiver's role
    for name in ("qa19", "qa5"):
        monkeypatch.setitem(all_tasks(), name, replace(get_task(name), grammar=AnswerGrammar()))
    assert scoring.babilong_correct("e, s", "s,e", path_question, "qa19")  # the general rule: a set
    assert not scoring.babilong_correct("Fred gave the milk to Mary.", "Mary", give_question, "qa5")  # two names


def test_the_label_views_list_every_task_and_nothing_else():
    assert list(scoring.LABELS) == list(all_tasks())
    assert "qa21" not in scoring.LABELS and scoring.SYNONYMS.get("qa21") is None
    assert scoring.PHRASE_SYNONYMS["qa1"] == {}


@pytest.mark.parametrize("name", list(all_tasks()))
def test_every_task_declares_its_scoring_and_prompt_parts(name):
    task = get_task(name)
    words = {word for label in task.labels for word in label.split(",")}
    assert task.labels and all(label == label.lower() for label in task.labels)
    assert set(task.synonyms.values()) <= words and set(task.phrase_synonyms.values()) <= words
    assert task.answer_format.startswith("Answer with") and task.hint.endswith(".")
    story = TaskDataset(TaskConfig(name, seed=5, size=1))[0]
    assert set(story.answer.lower().split(",")) <= words
    assert judge_answer(story.answer, story.answer, story.question, name)


def test_story_i_of_the_dataset_is_the_story_of_generated_sample_i():
    dataset = TaskDataset(TaskConfig("qa2", seed=3, size=4))
    samples = generate_samples("qa2", "0k", 4, seed=3)
    assert [(s.facts, s.question, s.answer) for s in dataset] == [
        (tuple(s.facts), s.question, s.target) for s in samples]
    assert dataset[1] == TaskDataset(TaskConfig("qa2", seed=3, size=9))[1]
    assert dataset[-1] == dataset[3] and dataset[1:3] == [dataset[1], dataset[2]]
    assert dataset[0] != TaskDataset(TaskConfig("qa2", seed=4, size=4))[0]
    with pytest.raises(IndexError):
        dataset[4]


def test_the_dataset_scores_beside_its_stories():
    dataset = TaskDataset(TaskConfig("qa7", seed=0, size=3))
    story = next(s for s in (TaskDataset(TaskConfig("qa7", seed=0, size=50))) if s.answer == "none")
    assert dataset.score(f"Answer: {dataset[0].answer}", dataset[0])
    assert dataset.score("zero", story) and not dataset.score("zero", story, scorer="reference")
    with pytest.raises(BabilongError, match="unknown scorer 'exact': use one of babilong, reference"):
        dataset.score("zero", story, scorer="exact")


@pytest.mark.parametrize(("config", "message"), [
    (TaskConfig("qa21"), "unknown task 'qa21'"),
    (TaskConfig("qa1", seed="3"), "bad seed '3' for qa1: use a whole number"),
    (TaskConfig("qa1", seed=True), "bad seed True for qa1"),
    (TaskConfig("qa1", size=0), "bad size 0 for qa1: use a whole number of stories, at least 1"),
    (TaskConfig("qa1", size=2.5), "bad size 2.5 for qa1"),
])
def test_a_bad_config_is_refused_in_one_line(config, message):
    with pytest.raises(BabilongError, match=message) as error:
        TaskDataset(config)
    assert "\n" not in str(error.value)
