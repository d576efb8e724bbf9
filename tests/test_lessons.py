"""The lessons: every notebook runs top to bottom, its exercise checks pass, and it is committed
without outputs. Each notebook's execution time is printed.

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

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
#: Seconds one cell may take before the run fails (a hang, not a speed requirement).
CELL_TIMEOUT = 300


def test_the_lessons_are_there() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert names == [
        "01_backprop_and_the_sparsity_gradient.ipynb",
        "02_gradient_checking.ipynb",
        "03_learning_edge_filters.ipynb",
        "04_denoising_and_contractive.ipynb",
        "05_deep_networks_and_self_taught_learning.ipynb",
        "06_convolutional_autoencoders.ipynb",
        "07_variational_autoencoders.ipynb",
        "08_applications.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(LESSONS)}})
    began = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - began
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
