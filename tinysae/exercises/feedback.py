r"""What every exercise checker returns and names: :class:`Feedback` (the verdict and the lines
printed), :class:`Mistake` (a known wrong answer and its hint), :class:`ExerciseNotPassed` (raised
under nbgrader), the marks printed and the tolerances. The checkers themselves search with
hypothesis (:mod:`tinysae.exercises.search`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FAIL_MARK", "NOT_DONE_MARK", "PASS_MARK", "TOLERANCE", "ExerciseNotPassed",
           "Feedback", "Mistake"]

PASS_MARK = "✔"
FAIL_MARK = "✘"
NOT_DONE_MARK = "…"
#: Largest relative error ``||yours - expected|| / ||yours + expected||`` that passes.
TOLERANCE = 1e-7


# ----------------------------------------------------------------------------- the result


@dataclass
class Feedback:
    """The verdict of one checker.

    ``passed`` is True when every case matched the reference; ``details`` are the lines
    explaining what went wrong (empty on success); ``hint`` names a likely cause; ``mistake``
    is the key of the known mistake the answer matched (or None); ``errors`` maps each output
    checked to its worst relative error over the cases tried.
    """

    exercise: str
    passed: bool
    details: list[str] = field(default_factory=list)
    hint: str | None = None
    mistake: str | None = None
    errors: dict[str, float] = field(default_factory=dict)
    status: str = ""
    checks: int = 0

    def __post_init__(self) -> None:
        if not self.status:
            self.status = "passed" if self.passed else "failed"

    def __str__(self) -> str:
        if self.checks and self.passed:
            return f"{PASS_MARK} {self.exercise}: all {self.checks} checks passed"
        if self.status == "not done":
            return (f"{NOT_DONE_MARK} {self.exercise}: not done yet (your function raises "
                    "NotImplementedError: replace that line with your code)")
        if self.passed:
            worst = max(self.errors.values(), default=0.0)
            return (f"{PASS_MARK} {self.exercise}: correct on every case "
                    f"(worst relative error {worst:.1e}, tolerance {TOLERANCE:.0e})")
        lines = [f"{FAIL_MARK} {self.exercise}: not yet"]
        lines += [f"  {line}" for line in self.details]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Feedback(exercise={self.exercise!r}, passed={self.passed}, mistake={self.mistake!r})"


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: its key, the hint shown when it matches, and how to compute it
    from the same arguments as the exercise (``None`` where a shared function computes it)."""

    key: str
    hint: str
    compute: Callable[..., Any] | None = None


class ExerciseNotPassed(AssertionError):
    """Raised by a checker that did not pass while nbgrader grades (``NBGRADER_EXECUTION`` set)."""
