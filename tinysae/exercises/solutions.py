"""Student versions of the lesson notebooks, and the command line that writes them.

:func:`strip_solutions` replaces every block between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` with ``raise NotImplementedError()`` (nbgrader's convention, so nbgrader can
be used instead); :func:`main` is ``python -m tinysae.exercises SOURCE DESTINATION``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

__all__ = ["SOLUTION_BEGIN", "SOLUTION_END", "main", "strip_solutions"]

SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"


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


def strip_solutions(source: str | Path, destination: str | Path) -> int:
    """Write the student version of the lesson notebook ``source`` to ``destination``.

    In every code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
    ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the same indentation (nbgrader's
    convention); outputs are cleared. Returns the number of solution blocks replaced; unbalanced
    markers raise ``ValueError`` naming the cell.
    """
    notebook = json.loads(Path(source).read_text(encoding="utf-8"))
    total = 0
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        text = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        text, blocks = _strip_source(text, f"{source}, cell {number}")
        cell["source"] = text.splitlines(keepends=True)
        cell["outputs"] = []
        cell["execution_count"] = None
        total += blocks
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    Path(destination).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return total


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
