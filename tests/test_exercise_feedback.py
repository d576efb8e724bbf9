"""What every exercise's feedback shows, and what it never shows.

Every plausible wrong answer in ``tests/wrong_answers/`` (two per exercise) is run through its
checker: it must fail, name the mistake it is known for, and print a shrunk counterexample. No
feedback may print the reference: neither a line of code from the package (the checkers'
references, the numpy reference, the engine's ops) nor a formula. Two tests hold that from both
sides: the feedback actually printed for every wrong answer contains no line of the package's
source and no formula, and no module of :mod:`tinysae.exercises` can print source at all (none
imports :mod:`inspect` or reads a file), which is the grep the issue asks for, as a test.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from wrong_answers import MODULES, WrongAnswer, all_wrong_answers

import tinysae
from tinysae import exercises
from tinysae.exercises import Mistake

EXERCISES = Path(exercises.__file__).resolve().parent
PACKAGE = Path(tinysae.__file__).resolve().parent
WRONG_ANSWERS = all_wrong_answers()

#: What a formula looks like in a hint or in feedback: an operator between two operands, a
#: function applied to an argument, or an equation. Words ("right-hand", "and/or") do not match.
FORMULA = re.compile(
    r"[\w)\]]\s*[*^]\s*[\w(]|[\d)]\s*/\s*[\w(]|\w\s+/\s+[\w(]"  # a * b, x ^ 2, 1/m, rho / rho_hat
    r"|\b(?:exp|log|sqrt|sum|mean|sigmoid|softplus|np\.\w+)\s*\("  # exp(...), np.mean(...)
    r"|[\w)\]]\s*=\s*[-\w(]"  # s = ..., D2 = ...
)


def _string_lines(tree: ast.AST) -> set[int]:
    """The line numbers covered by a string constant (docstrings, messages, hints)."""
    covered: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            covered.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return covered


def _source_lines() -> set[str]:
    """Every line of the package's code long enough to mean something: stripped, at least 16
    characters, not a comment, a decorator or part of a string (a hint may be printed)."""
    lines: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        strings = _string_lines(ast.parse(text))
        for number, line in enumerate(text.splitlines(), start=1):
            code = line.strip()
            if len(code) >= 16 and not code.startswith(("#", "@")) and number not in strings:
                lines.add(code)
    return lines


SOURCE_LINES = _source_lines()


def _feedback_text(answer: WrongAnswer) -> tuple[exercises.Feedback, str]:
    checker = getattr(exercises, answer.checker)
    feedback = checker(answer.function, verbose=False)
    return feedback, str(feedback)


def test_every_exercise_has_two_wrong_answers() -> None:
    checkers = sorted(name for name in exercises.__all__ if name.startswith("check_"))
    per_checker = {name: [a for a in WRONG_ANSWERS if a.checker == name] for name in checkers}
    assert {name: len(answers) for name, answers in per_checker.items() if len(answers) < 2} == {}
    assert len(MODULES) == len({a.function.__module__ for a in WRONG_ANSWERS})


@pytest.mark.parametrize("answer", WRONG_ANSWERS, ids=lambda a: f"{a.checker}-{a.title[:40]}")
def test_a_wrong_answer_gets_a_counterexample_and_no_answer(answer: WrongAnswer) -> None:
    feedback, text = _feedback_text(answer)
    assert not feedback.passed and feedback.status in ("failed", "could not run"), text
    if answer.mistake is not None:
        assert feedback.mistake == answer.mistake, text
    assert "the smallest input found" in text or "could not run" in text, text
    leaked = [line for line in SOURCE_LINES if line in text]
    assert leaked == [], f"the feedback prints the package's code: {leaked}\n{text}"
    prose = "\n".join(line for line in text.splitlines() if not line.startswith("  "))  # not the arrays
    assert FORMULA.search(prose) is None, f"the feedback states a formula:\n{text}"


def _mistake_tables() -> list[tuple[str, Mistake]]:
    return [(name, mistake) for name in exercises.__all__ if name.endswith("_MISTAKES")
            for mistake in getattr(exercises, name)]


@pytest.mark.parametrize(("table", "mistake"), _mistake_tables(), ids=lambda v: getattr(v, "key", v))
def test_no_hint_states_a_formula(table: str, mistake: Mistake) -> None:
    assert FORMULA.search(mistake.hint) is None, f"{table} {mistake.key}: {mistake.hint}"


def test_no_feedback_path_can_print_source() -> None:
    """No module of tinysae.exercises imports inspect, reads a file or calls getsource: the grep
    ``grep -rnE "inspect|getsource|open\\(|read_text" tinysae/exercises/*.py`` finds nothing."""
    pattern = re.compile(r"\binspect\b|getsource|\bopen\(|read_text|linecache")
    found = [f"{path.name}:{number}: {line.strip()}" for path in sorted(EXERCISES.glob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), start=1) if pattern.search(line)]
    assert found == []


def test_the_source_scan_sees_the_references() -> None:
    """The leak check is not vacuous: it knows the references' lines, and finds one in a text."""
    lines = inspect.getsource(exercises.graph._matmul_reference).splitlines()
    body = lines[-1].strip()
    assert body in SOURCE_LINES
    assert any(line in f"hint: {body}" for line in SOURCE_LINES)
    assert FORMULA.search("s = -rho / rho_hat") and FORMULA.search("beta * s / m")
    assert FORMULA.search("divide by 1/m") and not FORMULA.search("the right-hand side, and/or the left")
