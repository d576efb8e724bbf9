"""The lessons: every notebook runs top to bottom, its exercise checks pass, and it is committed
without outputs and with nbgrader's cell metadata. Each notebook's execution time is printed.

The student version of every lesson (``tinysae lessons --student``) is executed too: each
exercise's check reports "not done yet" (never a traceback from inside tinysae), and the notebook
runs **to its end** (no cell stops it: code after an exercise does not use the student's function).

The notebooks run in a fresh ``python3`` kernel with the working directory ``lessons/`` and
``MPLBACKEND=Agg`` (figures are drawn but not embedded). ``OPENBLAS_NUM_THREADS`` defaults to 1
in the kernel: lesson 3's training is dominated by small matrix products, which run several
times slower when OpenBLAS's threads compete for a busy machine's cores.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbclient
import nbformat
import pytest

from tinysae.exercises import FAIL_MARK, SOLUTION_BEGIN, SOLUTION_END, strip_solutions
from tinysae.lessons import add_nbgrader_metadata, student_notebook

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
#: Seconds one cell may take before the run fails (a hang, not a speed requirement).
CELL_TIMEOUT = 300


def _execute(notebook: nbformat.NotebookNode, monkeypatch) -> float:
    """Run ``notebook`` in place in a fresh kernel from ``lessons/``; return the seconds it took."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(LESSONS)}})
    began = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    return time.perf_counter() - began


def test_the_lessons_are_there() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert names == [
        "00_the_engine.ipynb",
        "01_backprop_and_the_sparsity_gradient.ipynb",
        "02_gradient_checking.ipynb",
        "03_learning_edge_filters.ipynb",
        "04_denoising_and_contractive.ipynb",
        "05_deep_networks_and_self_taught_learning.ipynb",
        "06_convolutional_autoencoders.ipynb",
        "07_variational_autoencoders.ipynb",
        "08_applications.ipynb",
        "09_from_numpy_to_numba.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch, capsys) -> None:
    notebook = nbformat.read(path, as_version=4)
    elapsed = _execute(notebook, monkeypatch)
    with capsys.disabled():
        print(f"\n{path.name}: executed in {elapsed:.1f} s")

    printed = [output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs if output.output_type == "stream"]
    failed = [text for text in printed if FAIL_MARK in text]
    assert not failed, f"an exercise check failed in {path.name}:\n" + "\n".join(failed)
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}, cell {number} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name}, cell {number} has an execution count"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_student_version_replaces_every_solution(path: Path, tmp_path: Path) -> None:
    source = json.loads(path.read_text(encoding="utf-8"))
    code = ["".join(cell["source"]) for cell in source["cells"] if cell["cell_type"] == "code"]
    expected = sum(text.count(SOLUTION_BEGIN) for text in code)
    assert expected == sum(text.count(SOLUTION_END) for text in code)

    blocks = strip_solutions(path, tmp_path / path.name)
    student = nbformat.read(tmp_path / path.name, as_version=4)
    nbformat.validate(student)
    student_code = "\n".join(cell.source for cell in student.cells if cell.cell_type == "code")
    assert blocks == expected
    assert SOLUTION_BEGIN not in student_code and SOLUTION_END not in student_code
    assert student_code.count("raise NotImplementedError()") == blocks
    for cell in student.cells:  # every student cell is still valid Python
        if cell.cell_type == "code":
            compile(cell.source, path.name, "exec")


def test_every_lesson_but_3_and_8_has_exercises() -> None:
    for path in NOTEBOOKS:
        has_exercises = SOLUTION_BEGIN in path.read_text(encoding="utf-8")
        assert has_exercises == (not path.name.startswith(("03_", "08_"))), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_lessons_carry_the_nbgrader_metadata(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    before = json.dumps(notebook, sort_keys=True)
    assert json.dumps(add_nbgrader_metadata(notebook, path.stem), sort_keys=True) == before, (
        f"{path.name}: run tinysae.lessons.add_nbgrader_metadata on it (its nbgrader metadata is "
        "missing or out of date)")


def _assert_checks_say_not_done(name: str, checks: list) -> None:
    for cell in checks:
        printed = "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")
        assert "not done yet" in printed, f"{name}: the check {cell.source!r} printed {printed!r}"
        assert "Traceback" not in printed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_student_version_runs_to_its_end_with_every_check_not_done(path: Path, monkeypatch, capsys) -> None:
    """Every exercise still ``raise NotImplementedError()``: each check cell says "not done yet"
    and the notebook runs to its last cell (``_execute`` raises on any error)."""
    student = student_notebook(nbformat.read(path, as_version=4), path.stem)
    nbformat.validate(student)
    assert not any("solution-discussion" in cell.metadata.get("tags", []) for cell in student.cells)
    elapsed = _execute(student, monkeypatch)
    with capsys.disabled():
        print(f"\nstudent {path.name}: executed in {elapsed:.1f} s")
    checks = [cell for cell in student.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    source = nbformat.read(path, as_version=4)
    assert len(checks) == sum(SOLUTION_BEGIN in cell.source for cell in source.cells
                              if cell.cell_type == "code")
    _assert_checks_say_not_done(path.name, checks)


def _exercise_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Write f."),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("check_f(f)"),
        nbformat.v4.new_code_cell("def f(x, y):\n    ### BEGIN SOLUTION\n    return y\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("check_f(f)"),
    ]
    return notebook


def test_nbgrader_metadata_follows_schema_3_and_is_idempotent() -> None:
    """nbgrader's v3 rules (nbgrader/nbgraderformat/v3.json): the four required keys, a grade_id
    of [A-Za-z0-9_-] whenever grade, solution or locked is set, points whenever grade is, ids unique."""
    notebook = add_nbgrader_metadata(_exercise_notebook(), "04_x")
    once = json.dumps(notebook, sort_keys=True)
    assert json.dumps(add_nbgrader_metadata(notebook, "04_x"), sort_keys=True) == once
    metadata = [cell.metadata.get("nbgrader") for cell in notebook.cells]
    assert metadata[0] is None
    assert metadata[1] == {"grade": False, "grade_id": "04-f", "locked": False, "schema_version": 3,
                           "solution": True}
    assert metadata[2] == {"grade": True, "grade_id": "04-f-check", "locked": True, "points": 1,
                           "schema_version": 3, "solution": False}
    ids = [meta["grade_id"] for meta in metadata if meta]
    assert ids == ["04-f", "04-f-check", "04-f-2", "04-f-2-check"]
    nbformat.validate(notebook)


def test_an_exercise_without_a_check_cell_is_refused() -> None:
    notebook = _exercise_notebook()
    del notebook.cells[4]
    with pytest.raises(ValueError, match="without a check cell"):
        add_nbgrader_metadata(notebook, "04_x")
