"""Shared test set-up: float64 on (importing pbhno_bayes does it), fixed seeds, headless plots."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Test-run compile/thread settings for XLA on CPU, appended to any XLA_FLAGS the caller set (read when
# JAX starts its backend, i.e. after this; example subprocesses inherit them). pytest-xdist runs one
# worker per core, so XLA's own intra-op thread pool only oversubscribes the cores, and the default
# suite is mostly compilation, for which LLVM's expensive optimisation passes cost more than they
# save. Results are unchanged in every test's tolerance; on the 2-core VM the suite ran 512 s
# without these flags and 444 s with them, back to back (2026-12-01).
# XLA aborts the process on a flag it does not know, so the flags are first tried in a child process
# (once per run: the xdist workers and example subprocesses inherit the verdict) and left out if this
# jaxlib refuses them.
_TEST_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false --xla_llvm_disable_expensive_passes=true"


def _xla_accepts(flags: str) -> bool:
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " " + flags).strip(), JAX_PLATFORMS="cpu")
    try:
        r = subprocess.run([sys.executable, "-c", "import jax.numpy as jnp; jnp.zeros(1).block_until_ready()"],
                           env=env, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


if _TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
    if "PBHNO_TEST_XLA_FLAGS_OK" not in os.environ:
        os.environ["PBHNO_TEST_XLA_FLAGS_OK"] = "1" if _xla_accepts(_TEST_XLA_FLAGS) else "0"
    if os.environ["PBHNO_TEST_XLA_FLAGS_OK"] == "1":
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _TEST_XLA_FLAGS).strip()

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pbhno_bayes  # noqa: E402,F401  (enables float64 before any test builds arrays)


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)
    yield


# The longest test files first (per-file sums of `pytest --durations=0` on 2 cores, 2026-12-01:
# test_examples 80 s + mapk_control ~65 s, test_hybrid 119 s, test_example_notch ~110 s, test_pretrained
# 95 s, test_fit 82 s, test_boehm ~80 s, ...): the default run gives each pytest-xdist worker whole
# files (`--dist loadfile --no-loadscope-reorder`) in collection order, so starting with the long ones
# keeps one worker from running a long file alone at the end (longest-first scheduling). Order within
# a file is unchanged; files not listed follow in the usual order.
_LONG_FIRST = (
    "examples/test_examples.py", "surrogate/test_hybrid.py", "examples/test_example_notch.py",
    "surrogate/test_pretrained.py", "infer/test_fit.py", "examples/test_boehm.py",
    "simulate/test_reference_solver.py", "examples/test_example_wnt.py", "infer/test_lotka_volterra.py",
    "cli/test_cli_simulate.py", "control/test_warm_start.py", "control/test_mpc.py", "surrogate/test_train.py",
    "infer/test_infer_cli.py", "identify/test_identify.py", "infer/test_laplace.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        for i, name in enumerate(_LONG_FIRST):
            if path.endswith(name):
                return i
        return len(_LONG_FIRST)

    items[:] = sorted(items, key=rank)  # stable: keeps the order inside each file
