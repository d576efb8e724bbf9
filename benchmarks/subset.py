"""The ``--shapes`` / ``--problems`` option the benchmarks share: a comma-separated subset of
named cases, checked against the names the script knows."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def add_subset_option(parser: argparse.ArgumentParser, flag: str, names: Sequence[str]) -> None:
    """``flag`` (e.g. ``"--shapes"``): a comma-separated subset of ``names``, all by default."""
    parser.add_argument(flag, default=",".join(names), help="comma-separated subset of " + ", ".join(names))


def chosen(parser: argparse.ArgumentParser, flag: str, value: str, names: Sequence[str]) -> list[str]:
    """The names ``value`` lists, in its order; ``parser.error`` when it lists none or an unknown one."""
    wanted = [name.strip() for name in value.split(",") if name.strip()]
    if not wanted or any(name not in names for name in wanted):
        parser.error(f"{flag}={value!r}: expected names from {', '.join(names)}")
    return wanted
