"""Story logic: what each statement does given what the text told before it, whom a question
asks about, and what supports it, counted per question and turned into shares.

The statements read: a move, a move to where the person already is, a pick-up, drop or
hand-over, a no-op "is in", an "is in" naming another place, a negative fact and whether it
names the last told place, an "either" pair and whether it leaves out the last told place;
then whom the question asks about, whether supporting facts include receipts, qa14 questions
across a gap in time slots, and the drop and pronoun wordings.
"""

from __future__ import annotations

import re
from collections import Counter

from babilong.tasks import Story

# Where the reference world's people stand before a story starts, under every cast's names
# (qa5: John -> Bill, Sandra -> Fred, Daniel -> Jeff; qa10/qa14: Daniel -> Julie, places renamed).
HOMES: dict[str, frozenset[str]] = {
    "John": frozenset({"kitchen"}), "Bill": frozenset({"kitchen"}), "Mary": frozenset({"bedroom"}),
    "Sandra": frozenset({"garden"}), "Fred": frozenset({"garden", "park"}),
    "Daniel": frozenset({"hallway"}), "Jeff": frozenset({"hallway"}), "Julie": frozenset({"hallway", "cinema"}),
}
_VERB = r"(?:moved|went back|went|journeyed|travelled)"
_TIMES = ("yesterday", "this morning", "this afternoon", "this evening")
_STATEMENTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("timed", re.compile(rf"^(?:(?P<when1>{'|'.join(t.capitalize() for t in _TIMES)}) )?(?P<a>\w+) {_VERB} to the (?P<place>\w+)"
                         rf"(?: (?P<when2>{'|'.join(_TIMES)}))?\.$")),
    ("pronoun", re.compile(rf"^(?:(?P<adverb>After that|Afterwards|Following that|Then) (?:he|she|they)|(?:He|She) then)"
                           rf" {_VERB} to the (?P<place>\w+)\.$")),
    ("group", re.compile(rf"^(?P<a>\w+) and (?P<b>\w+) {_VERB} to the (?P<place>\w+)\.$")),
    ("pick", re.compile(r"^(?P<a>\w+) (?:got|took|grabbed|picked up) the (?P<obj>\w+)(?: there)?\.$")),
    ("drop", re.compile(r"^(?P<a>\w+) (?P<verb>dropped|discarded|put down|left|let go of) the (?P<obj>\w+)(?: there)?\.$")),
    ("give", re.compile(r"^(?P<a>\w+) (?:gave|passed|handed) the (?P<obj>\w+) to (?P<b>\w+)\.$")),
    ("is", re.compile(r"^(?P<a>\w+) is in the (?P<place>\w+)\.$")),
    ("not", re.compile(r"^(?P<a>\w+) is (?:not|no longer) in the (?P<place>\w+)\.$")),
    ("either", re.compile(r"^(?P<a>\w+) is either in the (?P<place>\w+) or the (?P<other>\w+)\.$")),
)


def logic_counts(story: Story) -> Counter[str]:
    """Numerators and denominators ("name" / "name/of") of the story-logic metrics of one
    question: what each statement does given what the text told before it, and the question."""
    counts: Counter[str] = Counter()
    told: dict[str, str] = {}  # person -> place the text last put them
    last_kind: dict[str, str] = {}  # person -> kind of the last statement about them
    subjects: list[str] = []
    acted: set[str] = set()  # people who picked up, dropped or gave
    slot_of: dict[int, int] = {}
    for index, fact in enumerate(story.facts):
        kind, m = next(((k, m) for k, pattern in _STATEMENTS if (m := pattern.match(fact))), ("other", None))
        people = subjects if kind == "pronoun" else [n for n in (m and m.groupdict().get("a"), m and kind == "group" and m["b"]) if n]
        place = m.groupdict().get("place") if m else None
        counts["statements"] += 1
        if kind in ("timed", "pronoun", "group"):
            if kind == "timed" and (m["when1"] or m["when2"]):
                slot_of[index] = _TIMES.index((m["when1"] or m["when2"]).lower())
            if kind == "pronoun":
                counts["pronoun moves"] += 1
                counts["'X then' among pronoun moves"] += not m["adverb"]
            for person in people:
                counts["kind: move"] += 1
                counts["move to where the text last put them/of"] += person in told
                counts["move to where the text last put them"] += told.get(person) == place
                if person not in told and person not in last_kind and person in HOMES:
                    counts["first move to the starting place/of"] += 1
                    counts["first move to the starting place"] += place in HOMES[person]
                told[person], last_kind[person] = place, "move"
        elif kind in ("pick", "drop", "give"):
            counts[f"kind: {kind}"] += 1
            acted.add(m["a"])
            if kind == "drop":
                counts["'let go of' among drops/of"] += 1
                counts["'let go of' among drops"] += m["verb"] == "let go of"
        elif kind == "is":
            person = m["a"]
            silent = person in told and told[person] != place
            counts["kind: 'is in' naming another place (silent move)"] += silent
            counts["kind: 'is in' (no change)"] += not silent
            told[person], last_kind[person] = place, "is"
        elif kind == "not":
            person = m["a"]
            counts["kind: negative fact"] += 1
            counts["negative fact names the last told place/of"] += person in told
            counts["negative fact names the last told place"] += told.get(person) == place
            last_kind[person] = "not"
        elif kind == "either":
            person = m["a"]
            counts["kind: either"] += 1
            if last_kind.get(person) in ("move", "is"):
                counts["either after a definite place leaves it out/of"] += 1
                counts["either after a definite place leaves it out"] += told[person] not in (place, m["other"])
            told.pop(person, None)
            last_kind[person] = "either"
        else:
            counts["kind: other"] += 1
        subjects = people
    asked = re.search(r"\b(John|Mary|Sandra|Daniel|Bill|Fred|Jeff|Julie)\b", story.question)
    if asked:
        person = asked[1]
        counts["questions about a person"] += 1
        counts["asks about the subject of the last statement"] += bool(subjects) and person in subjects
        if re.search(r" is \w+ carrying\?$", story.question):
            counts["asks about someone who never acted"] += person not in acted
            counts["a supporting fact is a receipt"] += any(
                story.facts[i].endswith(f" to {person}.") for i in story.supporting)
    if story.task == "qa10":
        counts["'yes' from 'either' statements alone"] += story.answer == "yes" and all(
            " either " in story.facts[i] for i in story.supporting)
    if story.task == "qa14" and all(i in slot_of for i in story.supporting) and len(story.supporting) == 2:
        first, second = (slot_of[i] for i in story.supporting)
        counts["question across a gap in time slots"] += abs(first - second) > 1
    counts["questions"] += 1
    return counts


def logic_metrics(counts: Counter[str]) -> dict[str, float]:
    """Each metric as a share: of statements ("kind: ..."), of its own "/of" count, or of questions."""
    metrics: dict[str, float] = {}
    counts = Counter(counts)
    for key in [k for k in counts if k.endswith("/of")]:
        counts[key.removesuffix("/of")] += 0  # a share that is zero is still measured
    for key, value in counts.items():
        if key in ("statements", "questions", "questions about a person", "pronoun moves") or key.endswith("/of"):
            continue
        if share_of := denominator(key, counts):
            metrics[key] = value / share_of
    return metrics


def denominator(name: str, counts: Counter[str]) -> int:
    """The count a metric is a share of."""
    if name.startswith("kind: "):
        return counts["statements"]
    if f"{name}/of" in counts:
        return counts[f"{name}/of"]
    if name.startswith("'X then'"):
        return counts["pronoun moves"]
    if name.startswith(("asks about", "a supporting")):
        return counts["questions about a person"]
    return counts["questions"]

