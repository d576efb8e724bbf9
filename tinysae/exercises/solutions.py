"""Student versions of the lesson notebooks, and the command line that writes one.

:func:`student_notebook_from` replaces every block between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` with ``raise NotImplementedError()`` (nbgrader's convention), drops the cells
tagged ``solution-discussion`` and clears the outputs; :func:`strip_solutions` does so for one
file; :func:`main` is ``python -m tinysae.exercises SOURCE DESTINATION``. ``tinysae lessons
--student OUT/`` (:mod:`tinysae.lessons`) writes every lesson's student version, with nbgrader's
cell metadata.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Sequence
from pathlib import Path

import nbformat

__all__ = ["DISCUSSION_TAG", "SOLUTION_BEGIN", "SOLUTION_END", "main", "strip_solutions",
           "student_notebook_from"]

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"
#: The tag of the collapsed "solution and discussion" cells, which student versions drop.
DISCUSSION_TAG = "solution-discussion"


def _strip_source(text: str, where: str) -> tuple[str, int]:
    """One cell's source with each solution block replaced by ``raise NotImplementedError()`` at
    the block's indentation, and the number of blocks replaced."""
    out, blocks, indent = [], 0, None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == SOLUTION_BEGIN:
            if indent is not None:
                raise ValueError(f"{where}, line {number}: {SOLUTION_BEGIN} inside another solution block")
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif stripped == SOLUTION_END:
            if indent is None:
                raise ValueError(f"{where}, line {number}: {SOLUTION_END} without {SOLUTION_BEGIN}")
            indent, blocks = None, blocks + 1
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise ValueError(f"{where}: {SOLUTION_BEGIN} without {SOLUTION_END}")
    return "\n".join(out), blocks


def _count_blocks(notebook: nbformat.NotebookNode) -> int:
    return sum(cell.source.count(SOLUTION_BEGIN) for cell in notebook.cells if cell.cell_type == "code")


def student_notebook_from(notebook: nbformat.NotebookNode, name: str = "lesson") -> nbformat.NotebookNode:
    """A copy of ``notebook`` as a student receives it (``notebook`` itself is not changed).

    In every code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the same indentation (nbgrader's
    convention); cells tagged ``solution-discussion`` are dropped; outputs and execution counts
    are cleared. Unbalanced markers raise ``ValueError`` naming ``name`` and the cell.
    """
    student = copy.deepcopy(notebook)
    kept = []
    for number, cell in enumerate(student.cells, start=1):
        if DISCUSSION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source, _ = _strip_source(cell.source, f"{name}, cell {number}")
            cell.outputs = []
            cell.execution_count = None
        kept.append(cell)
    student.cells = kept
    return student


def strip_solutions(source: str | Path, destination: str | Path) -> int:
    """Write the student version (:func:`student_notebook_from`) of the lesson notebook ``source``
    to ``destination``, a valid notebook (``nbformat.validate``); return the number of solution
    blocks replaced."""
    notebook = nbformat.read(source, as_version=4)
    student = student_notebook_from(notebook, str(source))
    nbformat.validate(student)
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(student, indent=1, ensure_ascii=False)  # each source stays one string
    Path(destination).write_text(text + "\n", encoding="utf-8")
    return _count_blocks(notebook)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tinysae.exercises SOURCE.ipynb DESTINATION.ipynb``: write the student version."""
    parser = argparse.ArgumentParser(prog="python -m tinysae.exercises",
                                     description="Write the student version of a lesson notebook.")
    parser.add_argument("source", help="a lesson notebook with ### BEGIN/END SOLUTION blocks")
    parser.add_argument("destination", help="where to write the student version")
    args = parser.parse_args(argv)
    blocks = strip_solutions(args.source, args.destination)
    print(f"wrote {args.destination}: {blocks} solution block(s) replaced by NotImplementedError")
    return 0
