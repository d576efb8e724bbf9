"""The results of an experiment: rows of method x setting, and the plain-text table they make.

A **row** is one measurement, a dict with exactly the keys of :data:`ROW_KEYS`:

* ``method``: what was measured (``"SparseAutoencoder"``, ``"PCA"``, ...);
* ``setting``: under which condition (``"held-out 3"``, ``"sigma 0.2"``, ``"mean"``, ...);
* ``metric``: the measure's name (``"ROC AUC"``), the same in every row of an experiment;
* ``value``: the measure, a float;
* ``seconds``: the wall-clock seconds that method took for that setting (fit and scoring). A
  summary row (:func:`summary_rows`, setting ``"mean"``) holds the mean value over the method's
  other rows and the total of their seconds.

A :class:`Result` is an application's rows with what reading them needs: the title, whether a
higher value is better, which methods are the baselines, the figures written and the notes
that state each method's budget. :func:`format_table` prints the rows as a table (one line per
setting, one column per method, the best method of each setting last) and says, for each method
that is not a baseline, whether it is better or worse than each baseline: where a method loses
to a baseline, the table says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The keys of every row, in order.
ROW_KEYS = ("method", "setting", "metric", "value", "seconds")


def row(method: str, setting: str, metric: str, value: float, seconds: float) -> dict[str, Any]:
    """One row: ``value`` of ``metric`` for ``method`` under ``setting``, measured in ``seconds``."""
    return {"method": method, "setting": setting, "metric": metric, "value": float(value),
            "seconds": float(seconds)}


def timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """``work()`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def summary_rows(rows: list[dict[str, Any]], setting: str = "mean") -> list[dict[str, Any]]:
    """One row per method (in the order of ``rows``): the mean of its values and the total of its
    seconds, under ``setting``."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        summary.append(row(method, setting, mine[0]["metric"], np.mean([r["value"] for r in mine]),
                           sum(r["seconds"] for r in mine)))
    return summary


@dataclass
class Result:
    """An application's results: its :data:`ROW_KEYS` rows and how to read them.

    ``summary_setting`` names the setting whose values :func:`format_table` compares each
    method with the baselines on (None: no comparison); ``figures`` are the files written,
    ``notes`` the lines that state the data, each method and its budget. ``seconds`` is the
    whole experiment's wall-clock time, filled in by :func:`tinysae.experiments.run`.
    """

    name: str
    title: str
    metric: str
    higher_is_better: bool
    rows: list[dict[str, Any]]
    baselines: tuple[str, ...] = ()
    summary_setting: str | None = "mean"
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def methods(self) -> list[str]:
        """The methods, in the order of their first row."""
        return list(dict.fromkeys(r["method"] for r in self.rows))

    @property
    def settings(self) -> list[str]:
        """The settings, in the order of their first row."""
        return list(dict.fromkeys(r["setting"] for r in self.rows))

    def value(self, method: str, setting: str) -> float | None:
        """The value of ``method`` under ``setting``, or None if it has no such row."""
        for r in self.rows:
            if r["method"] == method and r["setting"] == setting:
                return r["value"]
        return None

    def to_json(self) -> dict[str, Any]:
        """The result as plain JSON values (the figures by file name)."""
        return {"name": self.name, "title": self.title, "metric": self.metric,
                "higher_is_better": self.higher_is_better, "baselines": list(self.baselines),
                "seconds": self.seconds, "figures": [Path(p).name for p in self.figures],
                "notes": self.notes, "rows": self.rows}


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    return a > b if higher_is_better else a < b


def verdicts(result: Result) -> list[str]:
    """For each method that is not a baseline, one line: its value under the summary setting
    against each baseline's, and on how many of the other settings it is the better one."""
    setting = result.summary_setting
    if setting is None:
        return []
    others = [s for s in result.settings if s != setting]
    lines = []
    for method in result.methods:
        mine = result.value(method, setting)
        if method in result.baselines or mine is None:
            continue
        parts = []
        for baseline in result.baselines:
            theirs = result.value(baseline, setting)
            if theirs is None:
                continue
            where = "better than" if _better(mine, theirs, result.higher_is_better) else (
                "equal to" if mine == theirs else "worse than")
            pairs = [(result.value(method, s), result.value(baseline, s)) for s in others]
            pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
            wins = sum(_better(a, b, result.higher_is_better) for a, b in pairs)
            parts.append(f"{where} {baseline} ({theirs:.4g}; better on {wins} of {len(pairs)} settings)")
        if parts:
            loses = any(part.startswith("worse") for part in parts)
            word = "loses to a baseline" if loses else "beats the baselines"
            lines.append(f"{method}: {setting} {mine:.4g}, {word} on the {setting}: " + ", ".join(parts))
    return lines


def format_table(result: Result) -> str:
    """The rows as a plain-text table: a line per setting with each method's value and the best
    method, a line of each method's total seconds, then the :func:`verdicts` and the notes."""
    methods, summary = result.methods, result.summary_setting
    width = max(len(m) for m in [*methods, "seconds"]) + 2
    first = max(len(s) for s in [*result.settings, "setting", "seconds"]) + 2
    direction = "higher" if result.higher_is_better else "lower"
    lines = [f"## {result.name}: {result.title} ({result.seconds:.1f} s)",
             f"{result.metric} ({direction} is better)",
             "setting".ljust(first) + "".join(m.rjust(width) for m in methods) + "  best"]
    for setting in result.settings:
        values = {m: result.value(m, setting) for m in methods}
        known = {m: v for m, v in values.items() if v is not None}
        pick = max if result.higher_is_better else min
        best = pick(known, key=known.get) if known else ""
        cells = "".join(("-" if v is None else f"{v:.4f}").rjust(width) for v in values.values())
        lines.append(setting.ljust(first) + cells + f"  {best}")
    totals = [sum(r["seconds"] for r in result.rows if r["method"] == m and r["setting"] != summary)
              for m in methods]
    lines.append("seconds".ljust(first) + "".join(f"{t:.1f}".rjust(width) for t in totals))
    lines += verdicts(result)
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines)
