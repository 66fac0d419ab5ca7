"""Context lengths: labels like ``4k`` or ``2.5M`` and ranges like ``0k-32k``."""

from __future__ import annotations

import re

from babilong.errors import BabilongError

LADDER = ("0k", "1k", "2k", "4k", "8k", "16k", "32k", "64k", "128k", "256k", "512k", "1M", "2M", "10M")
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")


def length_tokens(label: str) -> int:
    """``"4k"`` -> 4000, ``"2.5M"`` -> 2500000, ``"1500"`` -> 1500 (k = 1000, as in BABILong)."""
    match = _LENGTH.match(label.strip())
    if not match:
        raise BabilongError(f"malformed length {label!r}: use a number of tokens like 1500, 4k, 2.5M or 0k")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value != int(value):
        raise BabilongError(f"length {label!r} is not a whole number of tokens")
    return int(value)


def normalise(label: str) -> str:
    """The canonical spelling of a length: ladder labels keep their form, ``4K`` -> ``4k``, ``2.5m`` -> ``2.5M``."""
    tokens = length_tokens(label)
    for rung in LADDER:
        if length_tokens(rung) == tokens:
            return rung
    text = label.strip()
    return text[:-1] + {"K": "k", "m": "M"}.get(text[-1], text[-1])


def parse_lengths(spec: str) -> list[str]:
    """``"0k,1k"`` / ``"0k-32k"`` (a range over the ladder) / ``"1500,2.5M"`` -> labels."""
    labels: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if "-" in part:
            labels.extend(_ladder_range(part, spec))
        else:
            labels.append(normalise(part))
    if not labels:
        raise BabilongError("no lengths given: use e.g. --lengths 0k,1k,4k or 0k-32k")
    by_tokens: dict[int, str] = {}  # 1500 and 1.5k are one length: the first spelling is kept
    for label in labels:
        by_tokens.setdefault(length_tokens(label), label)
    return list(by_tokens.values())


def _ladder_range(part: str, spec: str) -> list[str]:
    low_text, high_text = part.split("-", 1)
    try:
        low, high = length_tokens(low_text), length_tokens(high_text)
    except BabilongError:  # "-5", "1k-", "1k--2k": name the whole part, not an empty or half side
        raise BabilongError(f"malformed length {part!r} in {spec!r}: a length is a number of tokens like 1500, 4k or "
                            "2.5M (never negative), a range is LOW-HIGH like 0k-32k") from None
    if low > high:
        raise BabilongError(f"bad length range {part!r} in {spec!r}: write it low-high, e.g. 0k-32k")
    chosen = [rung for rung in LADDER if low <= length_tokens(rung) <= high]
    if not chosen:
        raise BabilongError(f"length range {part!r} holds no standard length ({', '.join(LADDER)})")
    return chosen
