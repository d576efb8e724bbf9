"""Assertions shared by the exercise checkers' tests (``tests/test_exercises_*.py``): what a pass
looks like, what naming a known mistake looks like, a plausible wrong answer of
``tests/wrong_answers/`` being named, and the settings for asking whether a search reaches an input."""

from __future__ import annotations

from hypothesis import settings
from wrong_answers import WrongAnswer

from tinysae import exercises
from tinysae.exercises import PASS_MARK, Feedback

#: How the tests ask ``hypothesis.find`` whether a check's strategy reaches an input: derandomized
#: and without a database, as the checkers search, so the answer is the same on every run.
REACH = settings(max_examples=2000, derandomize=True, database=None)


def assert_passes(feedback: Feedback, printed: str, exercise: str, checks: int) -> None:
    """``feedback`` passed all ``checks`` checks of ``exercise``, with no hint and no mistake, and
    ``printed`` (what the checker printed) is the one line saying so."""
    assert isinstance(feedback, Feedback)
    assert feedback.passed and feedback.status == "passed"
    assert feedback.hint is None and feedback.mistake is None
    assert printed.strip() == f"{PASS_MARK} {exercise}: all {checks} checks passed"


def assert_named(feedback: Feedback, key: str, hint: str) -> None:
    """``feedback`` failed with the smallest input found, the expected answer and the student's
    shown, and named the known mistake ``key`` by its ``hint``."""
    assert not feedback.passed and feedback.status == "failed"
    assert feedback.mistake == key and feedback.hint == hint
    assert {"the smallest input found:", "expected:", "yours:"} <= set(feedback.details)


def assert_wrong_answer_named(answer: WrongAnswer) -> None:
    """``answer``'s checker fails it at a smallest input found and names ``answer.mistake``."""
    feedback = getattr(exercises, answer.checker)(answer.function, verbose=False)
    assert not feedback.passed and feedback.mistake == answer.mistake
    assert "the smallest input found:" in feedback.details
