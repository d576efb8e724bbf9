"""Plausible wrong answers to every lesson exercise, one module per checker module.

Each module (``sparsity``, ``backprop``, ``gradient``, ``variants``, ``vae``, ``conv``, ``graph``,
``kernels``) defines ``WRONG_ANSWERS``, a list of :class:`WrongAnswer`: the checker's name in
:mod:`tinysae.exercises`, a one-line title saying what the student got wrong, the student's function,
and the key of the known mistake the feedback must name (None where the feedback only shows the
smallest failing input). ``tests/test_exercise_feedback.py`` runs every one through its checker, and
``tools/exercise_feedback.py`` prints the feedback each gets.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

MODULES = ("sparsity", "backprop", "gradient", "variants", "vae", "conv", "graph", "kernels")


@dataclass(frozen=True)
class WrongAnswer:
    """One wrong answer: ``checker`` (a name in :mod:`tinysae.exercises`), ``title``, ``function``
    (what the student wrote) and ``mistake`` (the key of the mistake the feedback names, or None)."""

    checker: str
    title: str
    function: Callable
    mistake: str | None


def all_wrong_answers() -> list[WrongAnswer]:
    """Every module's ``WRONG_ANSWERS``, in the order of :data:`MODULES`."""
    answers: list[WrongAnswer] = []
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        answers.extend(module.WRONG_ANSWERS)
    return answers
