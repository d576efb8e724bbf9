"""The lessons' student versions and their nbgrader metadata (``tinysae lessons --student OUT/``).

The lessons are the notebooks in ``lessons/`` at the repository root (found beside the package
when it is installed editable, or given with ``--source DIR``). Their exercise cells hold the
solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the code cell right after each
is its check cell, and a markdown cell tagged ``solution-discussion`` may follow.

* :func:`add_nbgrader_metadata` marks every exercise cell as an nbgrader *autograded answer*
  (``solution: true, grade: false, locked: false``) and the check cell after it as an
  *autograder test* (``grade: true, solution: false, locked: true, points: 1``), both with
  ``schema_version: 3`` and a ``grade_id`` unique in the notebook (the lesson's number and the
  exercise's function name). nbgrader's v3 schema requires ``grade_id`` whenever one of grade,
  solution or locked is true, and ``points`` whenever grade is. Other cells get no nbgrader
  metadata: they are ordinary cells, which nbgrader neither grades nor locks.
* :func:`student_notebook` is a lesson as a student receives it: solution blocks replaced by
  ``raise NotImplementedError()`` (:func:`tinysae.exercises.solutions.strip_solutions`' rule),
  ``solution-discussion`` cells dropped, outputs cleared, the nbgrader metadata added.
* :func:`write_student_versions` writes the student version of every lesson into a folder.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from tinysae.exercises.solutions import DISCUSSION_TAG, SOLUTION_BEGIN, student_notebook_from

__all__ = [
    "DISCUSSION_TAG",
    "LessonsNotFound",
    "add_nbgrader_metadata",
    "find_lessons",
    "student_notebook",
    "write_student_versions",
]

#: nbgrader's cell-metadata schema version written here (nbgrader/nbgraderformat/v3.json).
SCHEMA_VERSION = 3


class LessonsNotFound(FileNotFoundError):
    """No folder of lesson notebooks where one was looked for."""


def _grade_id(stem: str, source: str, number: int) -> str:
    """``NN-name``: the lesson's number and the first function the cell defines (else ``exerciseN``)."""
    lesson = stem.split("_", 1)[0]
    match = re.search(r"^\s*def\s+(\w+)", source, flags=re.MULTILINE)
    name = match.group(1) if match else f"exercise{number}"
    return re.sub(r"[^A-Za-z0-9_\-]", "-", f"{lesson}-{name}")


def add_nbgrader_metadata(notebook: nbformat.NotebookNode, name: str = "lesson") -> nbformat.NotebookNode:
    """Mark ``notebook``'s exercise and check cells for nbgrader, in place; return it.

    An exercise cell is a code cell containing ``### BEGIN SOLUTION``; its check cell is the next
    code cell. Existing ``nbgrader`` metadata on those cells is replaced, so applying this twice
    gives the same notebook (idempotent). ``name`` (the file's stem, ``04_denoising...``) gives
    the ``grade_id`` prefix. Raises ``ValueError`` when an exercise has no check cell after it.
    """
    cells = notebook.cells
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or SOLUTION_BEGIN not in cell.source:
            continue
        check = next((later for later in cells[index + 1:] if later.cell_type == "code"), None)
        if check is None or SOLUTION_BEGIN in check.source:
            raise ValueError(f"{name}, cell {index + 1}: an exercise cell without a check cell after it")
        grade_id = base = _grade_id(name, cell.source, len(seen) + 1)
        suffix = 2
        while grade_id in seen:
            grade_id, suffix = f"{base}-{suffix}", suffix + 1
        seen.add(grade_id)
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                     "schema_version": SCHEMA_VERSION, "solution": True}
        check.metadata["nbgrader"] = {"grade": True, "grade_id": f"{grade_id}-check", "locked": True,
                                      "points": 1, "schema_version": SCHEMA_VERSION, "solution": False}
    return notebook


def student_notebook(notebook: nbformat.NotebookNode, name: str = "lesson") -> nbformat.NotebookNode:
    """The student version of ``notebook`` (a new notebook; the argument is not changed).

    Solutions become ``raise NotImplementedError()``, cells tagged ``solution-discussion`` are
    dropped, outputs and execution counts are cleared, the nbgrader metadata is added; the result
    passes ``nbformat.validate``.
    """
    student = add_nbgrader_metadata(copy.deepcopy(notebook), name)
    student = student_notebook_from(student, name)
    nbformat.validate(student)
    return student


def find_lessons(source: str | Path | None = None) -> Path:
    """The folder of lesson notebooks: ``source`` if given, else ``lessons/`` beside the package
    (the repository root of an editable install). Raises :class:`LessonsNotFound` otherwise."""
    folder = Path(source) if source is not None else Path(__file__).resolve().parent.parent / "lessons"
    if not folder.is_dir() or not any(folder.glob("*.ipynb")):
        where = "" if source is not None else " (tinysae is not installed from a checkout; pass --source DIR)"
        raise LessonsNotFound(f"no lesson notebooks in {folder}{where}")
    return folder


def write_student_versions(out: str | Path, source: str | Path | None = None) -> list[Path]:
    """Write the student version of every lesson of :func:`find_lessons` ``(source)`` into ``out``
    (created if needed), under the same file names; return the paths written, in order."""
    folder, out = find_lessons(source), Path(out)
    if out.resolve() == folder.resolve():
        raise ValueError(f"{out} is the lessons' own folder: the student versions would overwrite them")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(folder.glob("*.ipynb")):
        student = student_notebook(nbformat.read(path, as_version=4), path.stem)
        nbformat.write(student, out / path.name)
        written.append(out / path.name)
    return written
