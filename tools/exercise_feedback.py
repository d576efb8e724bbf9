"""Print the feedback every plausible wrong answer gets (``tests/wrong_answers/``, two per exercise).

    python tools/exercise_feedback.py                     # every exercise
    python tools/exercise_feedback.py check_backprop      # one checker's wrong answers

This is the table an instructor reads to see what the checkers say: for each wrong answer, its
title, then the feedback exactly as a student sees it in the notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from wrong_answers import all_wrong_answers  # noqa: E402

from tinysae import exercises  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkers", nargs="*", help="checker names (default: all)")
    args = parser.parse_args(argv)
    answers = [a for a in all_wrong_answers() if not args.checkers or a.checker in args.checkers]
    if not answers:
        parser.error(f"no wrong answers for {', '.join(args.checkers)}")
    for answer in answers:
        print(f"## {answer.checker}: {answer.title}\n")
        feedback = getattr(exercises, answer.checker)(answer.function, verbose=False)
        print(f"{feedback}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
