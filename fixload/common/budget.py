"""The regression budget of `fixload compare`: how much worse NEW may be than BASE before it is a regression.

Written as `--budget 'p95=+5%,success=-0.2pp'` or as a profile's `"compare": {"budget": {"p95": "+5%"}}`;
each rule applies to every scenario and to the overall row. Rules:

| key | value | a row regresses when |
|---|---|---|
| `p50` `p95` `p99` `avg` | `+N%` or `+Nms` | the latency grew by more than N percent / N ms |
| `success` | `-Npp` | the success rate fell by more than N percentage points |
| `iterations` | `-N%` | iterations/s fell by more than N percent |
| `failures` | `+N` | failed iterations grew by more than N |
| `dropped` | `+N` | dropped iterations grew by more than N |
| `thresholds` | `+N` | more than N thresholds fail in NEW that did not in BASE |

`off` switches a rule off. Defaults: `p95=+10%`, `success=-0.5pp`, `dropped=+0`, `thresholds=+0` (the others
are off). Later sources override earlier ones key by key: defaults, then the profile, then `--budget`.
A sign, when written, must point the bad way (`p95=+5%`, `success=-0.2pp`); without one it is implied.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_RULE_RE = re.compile(r"^(?P<sign>[+-])?(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<unit>%|pp|ms)?$")


class BudgetError(ValueError):
    """A budget that cannot be read; the message names the key and what was expected."""


@dataclass(frozen=True)
class Kind:
    """What a budget key measures: which way is worse, and the units it can be written in."""

    worse: int
    """+1: a larger value is worse (latency, drops); -1: a smaller one is (success, iterations/s)."""
    units: tuple[str, ...]
    example: str


KINDS: dict[str, Kind] = {
    "p50": Kind(+1, ("%", "ms"), "+10% or +50ms"),
    "p95": Kind(+1, ("%", "ms"), "+10% or +50ms"),
    "p99": Kind(+1, ("%", "ms"), "+10% or +50ms"),
    "avg": Kind(+1, ("%", "ms"), "+10% or +50ms"),
    "success": Kind(-1, ("pp",), "-0.5pp (percentage points)"),
    "iterations": Kind(-1, ("%",), "-5%"),
    "failures": Kind(+1, ("",), "+10 (a count)"),
    "dropped": Kind(+1, ("",), "+0 (a count)"),
    "thresholds": Kind(+1, ("",), "+0 (a count)"),
}


@dataclass(frozen=True)
class Rule:
    key: str
    amount: float
    """The allowed change, positive, in `unit`."""
    unit: str
    """`%` (relative), `ms`, `pp` (percentage points), or `` (a count)."""

    def __str__(self) -> str:
        sign = "+" if KINDS[self.key].worse > 0 else "-"
        return f"{self.key} {sign}{self.amount:g}{self.unit}"

    def exceeded(self, base: float | None, new: float | None) -> bool:
        """True when going from `base` to `new` is worse than this rule allows (False when either is unknown)."""
        if base is None or new is None:
            return False
        worse = (new - base) * KINDS[self.key].worse
        if self.unit == "%":
            if base == 0:
                return worse > 0
            return worse / abs(base) * 100 > self.amount + 1e-9
        if self.unit == "pp":
            return worse * 100 > self.amount + 1e-9
        return worse > self.amount + 1e-9


Budget = dict[str, Rule]

DEFAULTS: Budget = {
    "p95": Rule("p95", 10.0, "%"),
    "success": Rule("success", 0.5, "pp"),
    "dropped": Rule("dropped", 0.0, ""),
    "thresholds": Rule("thresholds", 0.0, ""),
}


def parse_rule(key: str, value: str) -> Rule | None:
    """One `key=value` rule (None for `off`); BudgetError says what was expected."""
    kind = KINDS.get(key)
    if kind is None:
        close = difflib.get_close_matches(key, KINDS, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise BudgetError(f"unknown budget key {key!r}, expected one of {', '.join(KINDS)}{hint}")
    text = str(value).strip()
    if text == "off":
        return None
    match = _RULE_RE.match(text)
    expected = f"expected {kind.example} or off"
    if match is None:
        raise BudgetError(f"{key}={text!r} is not a budget, {expected}")
    unit = match["unit"] or ""
    if unit not in kind.units:
        raise BudgetError(f"{key}={text!r}: unit {unit or '(none)'!r} does not apply to {key}, {expected}")
    sign = match["sign"]
    bad = "+" if kind.worse > 0 else "-"
    if sign is not None and sign != bad and float(match["number"]) != 0:
        raise BudgetError(f"{key}={text!r}: a budget is the change allowed the bad way, {expected}")
    amount = float(match["number"])
    if not math.isfinite(amount):
        raise BudgetError(f"{key}={text!r} is not a finite number, {expected}")
    return Rule(key, amount, unit)


def parse_items(items: Iterable[tuple[str, str]], where: str) -> dict[str, Rule | None]:
    """Rules from (key, value) pairs; every problem is collected, then raised as one BudgetError."""
    rules: dict[str, Rule | None] = {}
    problems = []
    for key, value in items:
        try:
            rules[key] = parse_rule(key, value)
        except BudgetError as exc:
            problems.append(f"{where}: {exc}" if where else str(exc))
    if problems:
        raise BudgetError("\n".join(problems))
    return rules


def parse_text(text: str, where: str = "--budget") -> dict[str, Rule | None]:
    """`p95=+5%,success=-0.2pp` -> rules."""
    items = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise BudgetError(f"{where}: {part!r} is not key=value (e.g. p95=+5%)")
        items.append((key.strip(), value.strip()))
    return parse_items(items, where)


def parse_mapping(mapping: Mapping[str, str], where: str) -> dict[str, Rule | None]:
    """A profile's `compare.budget` object -> rules."""
    return parse_items(((str(k), str(v)) for k, v in mapping.items()), where)


def resolve(*overrides: Mapping[str, Rule | None]) -> Budget:
    """The defaults with each override applied in turn (a None rule switches that key off)."""
    budget: dict[str, Rule | None] = dict(DEFAULTS)
    for override in overrides:
        budget.update(override)
    return {key: rule for key, rule in budget.items() if rule is not None}


def describe(budget: Budget) -> str:
    return ", ".join(str(rule) for rule in budget.values()) or "none"
