"""README.md's code is run, and what it shows as output is what the code prints.

* Every ```python block runs, in order, in one namespace (in a temporary directory: the README
  saves ``model.npz``), statement by statement. Full-line comments right after a statement
  (``# gradient check: ...``) are that statement's output: what it prints, or, when it raises,
  ``ExceptionName: message``. A statement with no such comment must print nothing. The README's
  inline claims about values (``# (10000, 25), mean ~ rho``) are checked by :data:`CLAIMS`.
* Every output excerpt (a ``` block whose first line is ``$ tinysae ...``) is compared with what
  that command prints: ``...`` stands for any number of lines; the other lines appear in order,
  consecutive where the excerpt has them consecutive.
* Every ``tinysae <command> ...`` code span of the prose is accepted by the CLI's parser, and
  every flag the README names is an option of a tinysae command under its current (not an
  alias's) name.
* The ```bash set-up blocks are not run (they create virtual environments), but the block after
  ``<!-- test-command -->`` must be there and be exactly the command ``.ci/run`` reads.

Normalisation, the only one: a *measured error* (the number after ``relative error``,
``||a + n|| =`` or ``difference``) is itself computed in floating point, and its last digits
depend on the summation order of the BLAS kernel OpenBLAS picks for the CPU (measured with
``OPENBLAS_CORETYPE``: the gradient check prints 2.266e-09 under Haswell and Zen, 2.246e-09
under Sandybridge, Nehalem and Prescott; explain's 7.5e-17 becomes 7.4e-17). Such a number must
match the README's within 5%, or both must be at rounding level (at most 1e-15, a few ulp).
Everything else, every other number included, must match exactly.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- test-command -->"


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language tag, its text and the README line of its first line."""

    lang: str
    code: str
    line: int


def fenced_blocks(text: str) -> list[Block]:
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        match = re.fullmatch(r"```(\S*)\s*", lines[i])
        if match:
            start = i + 1
            i = start
            while not lines[i].startswith("```"):
                i += 1
            blocks.append(Block(match.group(1), "\n".join(lines[start:i]) + "\n", start + 1))
        i += 1
    return blocks


def prose(text: str) -> str:
    """The README without its fenced blocks."""
    return re.sub(r"^```.*?^```\s*$", "", text, flags=re.M | re.S)


BLOCKS = fenced_blocks(README.read_text())


def test_every_block_has_a_known_kind():
    """python (run), bash (set-up commands, not run), or untagged (equations, output excerpts):
    a block of another kind would escape these tests."""
    assert {block.lang for block in BLOCKS} <= {"python", "bash", ""}
    assert sum(block.lang == "python" for block in BLOCKS) >= 4


# ---- the test command ----------------------------------------------------------------------------
def test_the_test_command_block_is_what_ci_reads():
    text = README.read_text()
    assert text.count(MARKER) == 1, f"README.md must hold one {MARKER} marker"
    rest_of_marker_line, *after = text.split(MARKER, 1)[1].splitlines()
    assert rest_of_marker_line == "" and len(after) >= 3
    assert after[0] == "```bash" and after[2] == "```", "the marker must precede a one-line ```bash block"
    command = after[1]
    assert "pytest" in command
    awk_program = re.search(r"awk '([^']*)' README\.md", (ROOT / ".ci" / "run").read_text())
    assert awk_program, ".ci/run no longer reads the command with awk: update this test"
    read = subprocess.run(["awk", awk_program.group(1), "README.md"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.rstrip("\n")
    assert read == command


# ---- comparing output --------------------------------------------------------------------------------
MEASURED = re.compile(r"(relative error|\|\|a \+ n\|\| =|difference) (\d+(?:\.\d+)?e[-+]\d+)")


def same_line(shown: str, printed: str) -> bool:
    """Equal, but for measured errors (see the module docstring)."""
    if MEASURED.sub(r"\1 <error>", shown) != MEASURED.sub(r"\1 <error>", printed):
        return False
    for a, b in zip(MEASURED.findall(shown), MEASURED.findall(printed)):
        x, y = float(a[1]), float(b[1])
        if not (max(x, y) <= 1e-15 or abs(x - y) <= 0.05 * max(x, y)):
            return False
    return True


def assert_same_lines(shown: list[str], printed: list[str], where: str) -> None:
    assert len(shown) == len(printed) and all(map(same_line, shown, printed)), (
        f"{where}: README.md shows\n" + "\n".join(shown) + "\nbut the code prints\n" + "\n".join(printed)
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


# ---- the python blocks -------------------------------------------------------------------------------
def _claim_patches(ns: dict[str, Any]) -> None:
    X = ns["X"]
    assert X.shape == (10000, 64) and X.min() >= 0.1 and X.max() <= 0.9


def _claim_codes(ns: dict[str, Any]) -> None:
    H, rho = ns["H"], ns["model"].rho
    assert H.shape == (10000, 25)
    assert abs(H.mean() - rho) < 0.5 * rho, H.mean()


def _claim_grads(ns: dict[str, Any]) -> None:
    assert list(ns["grads"]) == ["W1", "b1", "W2", "b2"]


def _claim_objective_options(ns: dict[str, Any]) -> None:
    objective = ns["tinysae"].Objective(penalty="l1", activation="relu")
    assert (objective.penalty, objective.activation) == ("l1", "relu")


def _claim_terms_per_iteration(ns: dict[str, Any]) -> None:
    history = ns["model"].history_
    assert len(history.terms["sparsity"]) == len(history.terms_iteration) > 1


def _claim_engine_grads(ns: dict[str, Any]) -> None:
    assert ns["W"].grad.shape == (2, 2) and ns["x"].grad.shape == (2,)


#: README line (stripped) -> the check of what its comment claims, run right after it.
CLAIMS: dict[str, Callable[[dict[str, Any]], None]] = {
    "X = sample_patches(load_natural_images(), patch_size=8, n=10000, seed=0)   "
    "# (10000, 64) in [0.1, 0.9]": _claim_patches,
    "H = model.transform(X)                                                      "
    "# (10000, 25), mean ~ rho": _claim_codes,
    'objective = tinysae.Objective(rho=0.01, beta=3.0, weight_decay=1e-4)   # or penalty="l1", '
    'activation="relu", ...': _claim_objective_options,
    'loss, grads = tinysae.loss_and_grad(params, X, objective, backend="numpy")  '
    '# grads["W1"], grads["b1"], ...': _claim_grads,
    'model.history_.terms["sparsity"]        # each term, measured at every iteration':
        _claim_terms_per_iteration,
    "y.backward()          # W.grad, x.grad": _claim_engine_grads,
}


@dataclass(frozen=True)
class Statement:
    code: ast.Module
    source: str
    line: int  # README line
    output: list[str] | None  # the comment lines right after it, without their "# "


def statements(block: Block) -> list[Statement]:
    lines = block.code.splitlines()
    tree = ast.parse(block.code)
    out = []
    for stmt in tree.body:
        following = []
        for line in lines[stmt.end_lineno:]:
            if not line.startswith("#"):
                break
            following.append(line[2:] if line.startswith("# ") else line[1:])
        source = "\n".join(lines[stmt.lineno - 1 : stmt.end_lineno])
        line = block.line + stmt.lineno - 1
        module = ast.increment_lineno(ast.Module(body=[stmt], type_ignores=[]), block.line - 1)
        out.append(Statement(module, source, line, following or None))
    return out


def test_claims_are_in_the_readme():
    lines = {line.strip() for block in BLOCKS if block.lang == "python" for line in block.code.splitlines()}
    missing = [claim for claim in CLAIMS if claim not in lines]
    assert not missing, f"README lines changed; update CLAIMS: {missing}"


def test_python_blocks_run_and_print_what_the_readme_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    checked_output = checked_claims = 0
    for block in (b for b in BLOCKS if b.lang == "python"):
        for stmt in statements(block):
            where = f"README.md line {stmt.line}: {stmt.source.splitlines()[0]}"
            printed, raised = io.StringIO(), None
            with contextlib.redirect_stdout(printed):
                try:
                    exec(compile(stmt.code, str(README), "exec"), namespace)
                except Exception as error:  # compared with the README below
                    raised = error
            if stmt.output is None:
                if raised is not None:
                    raise AssertionError(f"{where} raised") from raised
                assert printed.getvalue() == "", f"{where} prints, and README.md shows nothing:\n" + \
                    printed.getvalue()
            elif raised is not None:
                shown = one_line(" ".join(stmt.output))
                assert one_line(f"{type(raised).__name__}: {raised}") == shown, where
                checked_output += 1
            else:
                assert_same_lines(stmt.output, printed.getvalue().splitlines(), where)
                checked_output += 1
            for line in stmt.source.splitlines():
                if line.strip() in CLAIMS:
                    CLAIMS[line.strip()](namespace)
                    checked_claims += 1
    assert checked_output >= 2 and checked_claims == len(CLAIMS)
    assert (tmp_path / "model.npz").exists()


# ---- output excerpts of the CLI ----------------------------------------------------------------------
def run_cli(argv: list[str]) -> list[str]:
    from tinysae import cli

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(argv)
    assert status in (0, None)
    return printed.getvalue().splitlines()


EXCERPTS = [block for block in BLOCKS if block.lang == "" and block.code.startswith("$ ")]


def test_there_is_an_explain_excerpt():
    assert any(block.code.startswith("$ tinysae explain") for block in EXCERPTS)


def matches_excerpt(shown: list[str], printed: list[str]) -> bool:
    """Whether ``printed`` is ``shown`` with each ``...`` line standing for any lines."""
    segments: list[list[str]] = [[]]
    for line in shown:
        if line == "...":
            segments.append([])
        else:
            segments[-1].append(line)
    pos = 0
    for index, segment in enumerate(segments):
        first, last = index == 0, index == len(segments) - 1
        starts = [pos] if first else range(pos, len(printed) - len(segment) + 1)
        for start in starts:
            window = printed[start : start + len(segment)]
            if len(window) == len(segment) and all(map(same_line, segment, window)):
                if last and start + len(segment) != len(printed):
                    continue
                pos = start + len(segment)
                break
        else:
            return False
    return True


@pytest.mark.parametrize("block", EXCERPTS, ids=lambda b: b.code.splitlines()[0])
def test_output_excerpts_are_what_the_command_prints(block: Block):
    command, *shown = block.code.rstrip("\n").splitlines()
    argv = shlex.split(command[2:])
    assert argv[0] == "tinysae"
    printed = run_cli(argv[1:])
    assert matches_excerpt(shown, printed), (
        f"README.md line {block.line}: the excerpt of `{command[2:]}` is not what it prints:\n"
        + "\n".join(printed)
    )


def test_excerpt_matching_rules():
    printed = ["a", "b", "relative error 7.4e-17", "c"]
    assert matches_excerpt(["a", "...", "relative error 7.5e-17", "c"], printed)
    assert matches_excerpt(["...", "b", "...", "c"], printed)
    assert not matches_excerpt(["...", "b", "c"], printed)  # b and c are not consecutive
    assert not matches_excerpt(["b", "..."], printed)  # does not start with b
    assert not matches_excerpt(["...", "b"], printed)  # does not end with b

    # measured errors: within 5%, or both at rounding level; every other number exactly
    assert same_line("||a + n|| = 2.266e-09", "||a + n|| = 2.246e-09")
    assert not same_line("||a + n|| = 2.2e-10", "||a + n|| = 2.266e-09")
    assert same_line("relative error 7.5e-17", "relative error 8.0e-17")
    assert not same_line("relative error 1.0e-12", "relative error 1.1e-12")
    assert same_line("(difference 1.256e-08)", "(difference 1.25e-08)")
    assert not same_line("analytic 1.839786468", "analytic 1.839786469")
    assert not same_line("shape (5, 3)", "shape (5, 4)")


# ---- the CLI as the prose describes it ----------------------------------------------------------
def _parser() -> Any:
    from tinysae import cli

    return cli._build_parser()


def _subcommands() -> dict[str, Any]:
    parser = _parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(sub.choices)


def _options(subparser: Any) -> tuple[set[str], set[str]]:
    """``(current names, aliases)`` of a subcommand's options: an option's first long name is
    its current one, any later long name an alias kept for old command lines."""
    current, aliases = set(), set()
    for action in subparser._actions:
        longs = [name for name in action.option_strings if name.startswith("--")]
        current.update(name for name in action.option_strings if not name.startswith("--"))
        if longs:
            current.add(longs[0])
            aliases.update(longs[1:])
    return current - {"-h", "--help"} | {"--help"}, aliases


#: Flags the README gives to other programs than tinysae, and where each is defined.
OTHER_PROGRAMS = {"--plot": "benchmarks/bench_backends.py"}

SPANS = re.findall(r"`([^`\n]+)`", prose(README.read_text()))


def test_cli_commands_in_the_prose_parse():
    commands = _subcommands()
    spans = [shlex.split(span) for span in SPANS if span.startswith("tinysae ")]
    assert any(argv[1] == "train" and len(argv) > 2 for argv in spans)
    for argv in spans:
        assert argv[1] in commands, f"`{' '.join(argv)}`: no command {argv[1]!r}"
        current, aliases = _options(commands[argv[1]])
        flags = [a.split("=")[0] for a in argv[2:] if a.startswith("-")]
        assert not set(flags) & aliases, f"`{' '.join(argv)}` uses an old flag name"
        assert set(flags) <= current, f"`{' '.join(argv)}`: unknown flags {set(flags) - current}"
        if "--help" not in flags:
            _parser().parse_args(argv[1:])


def test_flags_in_the_prose_are_current_options():
    options: set[str] = set()
    aliases: set[str] = set()
    for subparser in _subcommands().values():
        current, old = _options(subparser)
        options |= current
        aliases |= old
    flags = {span.split()[0] for span in SPANS if span.startswith("--")}
    assert {"--n-hidden", "--max-iter", "--random-state"} <= flags
    for flag in flags:
        if flag in OTHER_PROGRAMS:
            assert flag in (ROOT / OTHER_PROGRAMS[flag]).read_text()
            continue
        assert flag not in aliases, f"README.md names {flag}, an old alias"
        assert flag in options, f"README.md names {flag}, which no tinysae command has"


def test_readme_estimator_calls_use_the_estimator_parameters():
    """Every keyword of a SparseAutoencoder(...) call in the README is one of its parameters."""
    import inspect

    import tinysae

    names = set(inspect.signature(tinysae.SparseAutoencoder).parameters)
    calls = 0
    for block in (b for b in BLOCKS if b.lang == "python"):
        for node in ast.walk(ast.parse(block.code)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == \
                    "SparseAutoencoder":
                calls += 1
                keywords = {k.arg for k in node.keywords}
                assert keywords <= names, f"README.md line {block.line + node.lineno - 1}: {keywords - names}"
    assert calls >= 3
    assert "random_state" in names
