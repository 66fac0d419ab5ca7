"""Draw the outputs to label by hand: 250 where the two scorers disagree, 250 where they agree.

    python benchmarks/draw_scoring_sample.py ../shared/data/leaderboard-outputs

Reads every published prediction CSV (``{task}_{length}_{prompt config}.csv`` with columns
index, target, output, question) under the folder, scores each output with the pre-rewrite
``babilong`` scorer (frozen below, so the strata do not move when the default scorer is
rewritten) and with ``reference``, and draws with a fixed seed at random over all outputs of
each stratum. Writes ``tests/data/scoring/sample.jsonl`` (one output per line, unmodified)
and ``tests/data/scoring/strata.json`` (the stratum sizes), and prints the counts.

A further, disjoint sample (a held-out set labelled blind) comes from the options:

    python benchmarks/draw_scoring_sample.py ../shared/data/leaderboard-outputs --seed 7 \
        --per-stratum 100 --exclude tests/data/scoring/labelled.jsonl \
        --out tests/data/scoring/heldout_sample.jsonl

``--exclude`` skips every id in a JSONL file before drawing (give it once per file); the stratum
sizes then go to ``{out stem}_strata.json`` beside ``--out`` (unless ``--strata`` names another path).

``--kinds`` draws by surface pattern instead, without running any scorer (so a set can be
labelled blind before a scorer sees it): ``--per-kind`` outputs of each named kind (see
``KINDS``), at random with the seed, each output drawn for one kind at most (the kinds are drawn in
the order given), up to half of each kind from each model where a model has that many. The row's
``stratum`` and ``kind`` fields name the kind; the sizes JSON holds each kind's pool per model:

    python benchmarks/draw_scoring_sample.py ../shared/data/leaderboard-outputs --seed 20 \
        --kinds all --per-kind 40 --exclude tests/data/scoring/labelled.jsonl \
        --exclude tests/data/scoring/heldout.jsonl --out tests/data/scoring/rules2_sample.jsonl \
        --strata tests/data/scoring/rules2_kinds.json
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from babilong.scoring import reference_correct

SEED = 20261127
PER_STRATUM = 250
OUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "scoring"
FILE_NAME = re.compile(r"^(qa\d+)_(\d+[kM])_(.+)\.csv$")


@dataclass(frozen=True)
class Output:
    """One published model output and where it came from."""

    id: str
    model: str
    task: str
    length: str
    question: str
    target: str
    output: str


# --- the default scorer as it was before the rewrite (babilong/scoring.py at commit 9c9f68f) ---

_OLD_LOCATIONS = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
_OLD_OBJECTS = ("apple", "football", "milk")
_OLD_PLACES = ("bedroom", "cinema", "kitchen", "office", "park", "school")
_OLD_DIRECTIONS = ("n", "s", "e", "w")
_OLD_LABELS: dict[str, tuple[str, ...]] = {
    **{task: _OLD_LOCATIONS for task in ("qa1", "qa2", "qa3", "qa4", "qa11", "qa12", "qa13")},
    "qa5": ("bill", "fred", "jeff", "mary", *_OLD_OBJECTS),
    **{task: ("yes", "no") for task in ("qa6", "qa9", "qa17", "qa18")},
    "qa7": ("none", "one", "two", "three"),
    "qa8": (*_OLD_OBJECTS, "nothing"),
    "qa10": ("yes", "no", "maybe"),
    "qa14": _OLD_PLACES,
    "qa15": ("cat", "mouse", "sheep", "wolf"),
    "qa16": ("gray", "green", "white", "yellow"),
    "qa19": tuple(f"{a},{b}" for a in _OLD_DIRECTIONS for b in _OLD_DIRECTIONS),
    "qa20": ("bedroom", "bored", "garden", "hungry", "kitchen", "thirsty", "tired"),
}
_OLD_SYNONYMS: dict[str, dict[str, str]] = {
    "qa7": {"zero": "none", "0": "none", "1": "one", "2": "two", "3": "three"},
    "qa15": {"cats": "cat", "mice": "mouse", "wolves": "wolf", "wolfs": "wolf"},
    "qa16": {"grey": "gray"},
    "qa19": {"north": "n", "south": "s", "east": "e", "west": "w"},
}
_OLD_STOP_MARKERS = ("<context>", "<example>", "</example>", "\nquestion:")
_OLD_WORD = re.compile(r"[a-z0-9]+")


def old_babilong_correct(output: str, target: str, question: str, task: str) -> bool:
    """The pre-rewrite default: whole words of the text after the last 'Answer:', before echoes."""
    text = output.lower()
    for marker in _OLD_STOP_MARKERS:
        text = text.split(marker)[0]
    if "answer:" in text:
        text = text.rsplit("answer:", 1)[1]
    if task == "qa19":
        said = [_OLD_SYNONYMS["qa19"].get(w, w) for w in _OLD_WORD.findall(text)]
        said = [w for w in said if w in _OLD_DIRECTIONS]
        path = [part.strip() for part in target.lower().split(",")]
        if not said or not path or len(said) % len(path):
            return False
        return all(said[i:i + len(path)] == path for i in range(0, len(said), len(path)))
    named = _old_labels_named(text, task) - _old_labels_named(question.lower(), task)
    wanted = {part.strip() for part in target.lower().split(",") if part.strip()}
    return bool(wanted) and named == wanted


def _old_labels_named(text: str, task: str) -> set[str]:
    labels = set(_OLD_LABELS[task])
    synonyms = _OLD_SYNONYMS.get(task, {})
    return {synonyms.get(w, w) for w in _OLD_WORD.findall(text)} & labels


# --- reading and drawing ---


def read_outputs(folder: Path) -> list[Output]:
    """Every output of every prediction CSV under ``folder``, in a fixed order (path, row)."""
    csv.field_size_limit(2**31 - 1)
    outputs = []
    for path in sorted(folder.rglob("*.csv")):
        match = FILE_NAME.match(path.name)
        if not match:
            sys.exit(f"error: {path} is not named {{task}}_{{length}}_{{prompt config}}.csv; move it out of {folder}")
        task, length, _config = match.groups()
        model = str(path.parent.relative_to(folder))
        with path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.DictReader(handle)):
                missing = {"target", "output", "question"} - set(row)
                if missing:
                    sys.exit(f"error: {path} lacks the column(s) {', '.join(sorted(missing))}; it is not a prediction file")
                outputs.append(Output(
                    id=f"{model}/{path.stem}/{number}", model=model, task=task, length=length,
                    question=row["question"], target=row["target"], output=row["output"],
                ))
    return outputs


# --- the kinds of output the rules of issue 20 decide, found by surface pattern only ---

_ROOMS = r"bathroom|bedroom|garden|hallway|kitchen|office"
_ACTORS = r"Mary|John|Daniel|Sandra|Bill|Fred|Jeff"
_STORY_VERBS = (r"put down|dropped|discarded|left|took|picked up|got|grabbed|moved|went back|went|"
                r"journeyed|travell?ed|handed|passed|gave|received")
_STORY_SENTENCE = (rf"(?:(?:{_ACTORS}) (?:{_STORY_VERBS})\b[^.\n]*|"
                   rf"The (?:{_ROOMS}) is (?:north|south|east|west) of the (?:{_ROOMS}))\.")
_OPENING_PREFIX = re.compile(
    r"(?:\s|[-*#=\[\]\"'`<>!]|\b(?:answer|final answer|response|output|ai|assistant|reply|solution)\b\s*\]?\s*:?)*",
    re.IGNORECASE)
_FIRST_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n\s*\n")
_REASONING_OPENER = re.compile(rf"(?:{_STORY_SENTENCE}|(?:To determine|To find|Let's|Let us|First,)[^.\n]*\.)")
_STORY_RUN = re.compile(rf"(?:{_STORY_SENTENCE}(?:\s|[-*] )*){{2,}}")
_CONCLUSION = re.compile(
    r"(?:^|[.!?][\"”')\]]?\s+)(?:Therefore|So|Thus|Hence|Consequently|In conclusion|This means|Now,)\b")
_DASH_ITEM = re.compile(r"(?m)^[-*] (?!\W*[A-Za-z ]+\W*:)")
_CLOSED_END = re.compile(r"[.!?][\"”’')\]](?=\s|$)")
_BEFORE_PLACE = re.compile(r"before the (\w+)")


def _opening(output: str) -> str:
    """The output after any markup, quotes, role word or answer marker it opens with."""
    return output[_OPENING_PREFIX.match(output).end():]


def _is_reasoning_opener(item: Output) -> bool:
    """qa1-qa3: a first sentence that restates a fact or starts reasoning, naming no room, then a room."""
    if item.task not in ("qa1", "qa2", "qa3"):
        return False
    text = _opening(item.output)
    end = _FIRST_SENTENCE_END.search(text)
    first, rest = (text[:end.end()], text[end.end():]) if end else (text, "")
    rooms = re.compile(rf"\b(?:{_ROOMS})\b", re.IGNORECASE)
    return bool(_REASONING_OPENER.match(first)) and not rooms.search(first) and bool(rooms.search(rest))


def _names_question_place_as_where(item: Output) -> bool:
    """qa3 'before the Q': the output says something 'was in the Q' (not 'before it was in the Q')."""
    place = _BEFORE_PLACE.search(item.question)
    if item.task != "qa3" or not place:
        return False
    said = re.compile(rf"(?<!before it )(?<!before the apple )(?<!before the milk )(?<!before the football )"
                      rf"\bwas (?:in|at) the {place.group(1)}\b", re.IGNORECASE)
    return bool(said.search(item.output))


KINDS = {
    "story": lambda item: bool(_STORY_RUN.match(_opening(item.output))),
    "reasoning": _is_reasoning_opener,
    "reversed": _names_question_place_as_where,
    "conclusion": lambda item: bool(_CONCLUSION.search(item.output)),
    "dash_list": lambda item: len(_DASH_ITEM.findall(item.output)) >= 2,
    "quote_end": lambda item: bool(_CLOSED_END.search(item.output)),
}


def draw_kinds(outputs: list[Output], kinds: list[str], per_kind: int, seed: int,
               excluded: set[str]) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """``per_kind`` outputs of each kind, up to half from each model, each drawn for one kind only."""
    rng = random.Random(seed)
    taken = set(excluded)
    sample, pools = [], {}
    for kind in kinds:
        pool = [item for item in outputs if item.id not in taken and KINDS[kind](item)]
        by_model: dict[str, list[Output]] = {}
        for item in pool:
            by_model.setdefault(item.model, []).append(item)
        pools[kind] = {model: len(members) for model, members in sorted(by_model.items())}
        if len(pool) < per_kind:
            sys.exit(f"error: only {len(pool)} outputs of kind {kind} left, {per_kind} needed; lower --per-kind")
        drawn = []
        for model in sorted(by_model):
            members = by_model[model]
            drawn += rng.sample(members, min(len(members), per_kind // 2))
        drawn_ids = {item.id for item in drawn}
        rest = [item for item in pool if item.id not in drawn_ids]
        drawn += rng.sample(rest, per_kind - len(drawn)) if len(drawn) < per_kind else []
        drawn = drawn[:per_kind]
        taken.update(item.id for item in drawn)
        sample += [{**asdict(item), "stratum": kind, "kind": kind} for item in drawn]
    return sample, pools


def scorers_agree(item: Output) -> bool:
    args = (item.output, item.target, item.question, item.task)
    return old_babilong_correct(*args) == reference_correct(*args)


def read_excluded_ids(path: Path) -> set[str]:
    """The ``id`` of every row of a JSONL file (an earlier sample not to draw again)."""
    if not path.is_file():
        sys.exit(f"error: {path} does not exist; pass a JSONL file of already drawn outputs to --exclude")
    ids = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            sys.exit(f"error: line {number} of {path} is not a JSON object with an 'id'; pass a sample JSONL file to --exclude")
    return ids


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the published predictions folder (leaderboard-outputs)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"seed of the draw (default {SEED})")
    parser.add_argument("--per-stratum", type=int, default=PER_STRATUM,
                        help=f"outputs drawn from each stratum (default {PER_STRATUM})")
    parser.add_argument("--exclude", type=Path, action="append",
                        help="a JSONL file whose ids are not drawn (an earlier sample); may be repeated")
    parser.add_argument("--kinds", help=f"draw by surface pattern, no scorer run: comma-separated kinds "
                                        f"({', '.join(KINDS)}) or 'all'")
    parser.add_argument("--per-kind", type=int, default=40, help="outputs drawn of each kind (default 40)")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "sample.jsonl",
                        help="the sample JSONL to write (default tests/data/scoring/sample.jsonl)")
    parser.add_argument("--strata", type=Path,
                        help="the stratum sizes JSON to write (default strata.json beside the default "
                             "--out, else {out stem}_strata.json beside --out)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder; pass the leaderboard-outputs folder")
    if args.per_stratum < 1:
        parser.error(f"--per-stratum must be at least 1, got {args.per_stratum}")
    if args.kinds:
        args.kinds = list(KINDS) if args.kinds == "all" else [kind.strip() for kind in args.kinds.split(",")]
        unknown = [kind for kind in args.kinds if kind not in KINDS]
        if unknown:
            parser.error(f"--kinds: unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)} or 'all'")
        if args.per_kind < 1:
            parser.error(f"--per-kind must be at least 1, got {args.per_kind}")
    if args.out.suffix != ".jsonl":
        parser.error(f"--out {args.out} must name a .jsonl file")
    if args.strata is None:
        default_out = args.out.resolve() == (OUT_DIR / "sample.jsonl").resolve()
        args.strata = args.out.with_name("strata.json" if default_out else f"{args.out.stem}_strata.json")
    return args


def main() -> None:
    args = parse_args()
    excluded = set().union(*(read_excluded_ids(path) for path in args.exclude or []))

    outputs = read_outputs(args.folder)
    if args.kinds:
        write_kinds_sample(args, outputs, excluded)
        return
    strata: dict[str, list[Output]] = {"disagree": [], "agree": []}
    for item in outputs:
        strata["agree" if scorers_agree(item) else "disagree"].append(item)
    rng = random.Random(args.seed)
    sample = []
    excluded_per_stratum = {}
    for name, members in strata.items():
        candidates = [item for item in members if item.id not in excluded]
        excluded_per_stratum[name] = len(members) - len(candidates)
        if len(candidates) < args.per_stratum:
            sys.exit(f"error: only {len(candidates)} outputs left in the {name} stratum, {args.per_stratum} needed; "
                     f"lower --per-stratum")
        sample += [{**asdict(item), "stratum": name} for item in rng.sample(candidates, args.per_stratum)]

    sizes: dict[str, object] = {"total": len(outputs), "disagree": len(strata["disagree"]),
                                "agree": len(strata["agree"]), "per_stratum_drawn": args.per_stratum,
                                "seed": args.seed}
    if args.exclude:
        sizes["excluded"] = {"file": ", ".join(path.name for path in args.exclude), **excluded_per_stratum}
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in sample)
    write_atomically(args.out, lines)
    write_atomically(args.strata, json.dumps(sizes, indent=2) + "\n")
    print(f"outputs {sizes['total']}, disagree {sizes['disagree']}, agree {sizes['agree']}; "
          f"drew {args.per_stratum} from each (seed {args.seed}) into {args.out} and {args.strata}")


def write_kinds_sample(args: argparse.Namespace, outputs: list[Output], excluded: set[str]) -> None:
    """Draw ``--per-kind`` outputs of each kind in ``--kinds`` and write them with the pool sizes."""
    sample, pools = draw_kinds(outputs, args.kinds, args.per_kind, args.seed, excluded)
    sizes = {"total": len(outputs), "excluded": len(excluded & {item.id for item in outputs}),
             "excluded_files": [path.name for path in args.exclude or []], "per_kind_drawn": args.per_kind,
             "seed": args.seed, "kinds": args.kinds, "pool_per_kind_and_model": pools}
    write_atomically(args.out, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in sample))
    write_atomically(args.strata, json.dumps(sizes, indent=2) + "\n")
    print(f"outputs {len(outputs)}, {sizes['excluded']} excluded; drew {args.per_kind} of each of "
          f"{len(args.kinds)} kinds (seed {args.seed}) into {args.out} and {args.strata}")


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a crash leaves no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


if __name__ == "__main__":
    main()
