"""Importing tinysae changes no process-wide setting of numba or matplotlib.

Each check runs in a fresh interpreter with no display (``DISPLAY`` and ``WAYLAND_DISPLAY``
unset: where viz used to switch matplotlib to Agg), with ``MPLBACKEND`` and
``NUMBA_THREADING_LAYER`` unset or set. It reads the settings, imports a tinysae module, and
reads them again:

* ``numba.config.THREADING_LAYER``, and whether numba's threads have started (the layer is fixed
  for the process once they have);
* matplotlib's backend setting as stored (``rcParams``' raw ``"backend"`` entry, read without
  resolving it, which ``matplotlib.get_backend()`` would do by importing pyplot), whether
  pyplot was imported, and ``matplotlib.get_backend()`` against a fresh interpreter that never
  imported tinysae.

The numba backend still gets its threading layer: after a fit at the UFLDL-like thin shape
(m = 10000, n = 64, k = 25, the parallel thin-layer route), ``numba_cpu.threading_layer()``
reports ``"workqueue"``, while ``numba.config.THREADING_LAYER`` holds the user's value again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import cache
from typing import Any

import pytest

MODULES = ["tinysae", "tinysae.viz", "tinysae.backends.numba_cpu"]

#: (MPLBACKEND, NUMBA_THREADING_LAYER); None: unset.
ENVIRONMENTS = [(None, None), ("svg", "omp")]

STATE = """
    import json, sys
    import matplotlib
    import numba

    def state():
        try:
            numba.threading_layer()
            threads = True
        except ValueError:  # numba's threads have not started
            threads = False
        return {
            "numba_layer": numba.config.THREADING_LAYER,
            "numba_threads_started": threads,
            "mpl_backend_setting": str(dict.__getitem__(matplotlib.rcParams, "backend")),
            "pyplot_imported": "matplotlib.pyplot" in sys.modules,
        }
"""


def run(code: str, mplbackend: str | None, layer: str | None) -> Any:
    """Run ``STATE + code`` in a fresh interpreter; return the JSON of its last line."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND", "NUMBA_THREADING_LAYER")}
    if mplbackend is not None:
        env["MPLBACKEND"] = mplbackend
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(STATE) + textwrap.dedent(code)],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@cache
def reference_backend(mplbackend: str | None, layer: str | None) -> str:
    """``matplotlib.get_backend()`` in a fresh interpreter that never imports tinysae."""
    return run("print(json.dumps(matplotlib.get_backend()))", mplbackend, layer)


def ids(environment: tuple[str | None, str | None]) -> str:
    mpl, layer = environment
    return f"MPLBACKEND={mpl or 'unset'},NUMBA_THREADING_LAYER={layer or 'unset'}"


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=ids)
@pytest.mark.parametrize("module", MODULES)
def test_import_changes_no_numba_or_matplotlib_setting(module, environment):
    out = run(f"""
        before = state()
        import {module}
        after = state()
        print(json.dumps({{"before": before, "after": after, "get_backend": matplotlib.get_backend()}}))
    """, *environment)
    assert out["after"] == out["before"], module
    assert not out["after"]["numba_threads_started"] and not out["after"]["pyplot_imported"]
    assert out["get_backend"] == reference_backend(*environment)
    mpl, layer = environment
    assert out["after"]["numba_layer"] == (layer or "default")
    if mpl is not None:
        assert out["get_backend"].lower() == mpl


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=ids)
def test_drawing_and_saving_figures_leaves_the_backend_alone(environment, tmp_path):
    """viz draws on a Figure with its own Agg canvas: a PNG is written whatever the backend,
    and neither pyplot nor matplotlib's backend setting is touched."""
    out = run(f"""
        import numpy as np
        before = state()
        from tinysae import viz
        W1 = np.random.default_rng(0).normal(size=(16, 64))
        viz.show_filters(W1, title="filters", path={str(tmp_path / "filters.png")!r})
        viz.plot_rho_hat(np.full(16, 0.02), rho=0.01, path={str(tmp_path / "rho_hat.svg")!r})
        after = state()
        print(json.dumps({{"before": before, "after": after}}))
    """, *environment)
    assert out["after"] == out["before"]
    assert not out["after"]["pyplot_imported"]
    assert (tmp_path / "filters.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "rho_hat.svg").read_bytes()[:1000]


@pytest.mark.parametrize("layer", [None, "omp"])
def test_a_numba_fit_runs_on_workqueue_and_restores_the_users_setting(layer):
    """The layer is chosen just before the backend's first parallel kernel, and it holds: numba
    reports workqueue after the fit (the thin route at UFLDL's shape runs in parallel), and
    numba.config.THREADING_LAYER is the user's again."""
    out = run("""
        import numpy as np
        from tinysae import SparseAutoencoder
        from tinysae.backends import numba_cpu

        before = state()
        X = np.random.default_rng(0).uniform(0.1, 0.9, size=(10000, 64))
        after_import = state()
        SparseAutoencoder(n_hidden=25, max_iter=3, backend="numba", verbose=False).fit(X)
        print(json.dumps({"before": before, "after_import": after_import, "after_fit": state(),
                          "route": numba_cpu.choose_route(10000, 64, 25),
                          "layer": numba_cpu.threading_layer()}))
    """, None, layer)
    assert out["route"] == "thin"
    assert out["after_import"] == out["before"]
    assert out["layer"] == "workqueue"
    assert out["after_fit"]["numba_threads_started"]
    assert out["after_fit"]["numba_layer"] == out["before"]["numba_layer"] == (layer or "default")
