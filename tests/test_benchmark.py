"""Smoke test of benchmarks/run.py on a tiny configuration, and a unit test of
its saved-for-backward byte counter."""

import importlib.util
import json
import math
import pathlib
import subprocess
import sys

import pytest
import torch

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
OPS = ("relu", "softmax", "prelu")
MODES = ("fwd", "fwdbwd")


def _load_timing():
    spec = importlib.util.spec_from_file_location("_benchmark_timing", BENCHMARKS / "_timing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def timing():
    return _load_timing()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, str(BENCHMARKS / "run.py"), "--ops", ",".join(OPS), "--sizes", "12",
               "--dtypes", "float32", "--modes", ",".join(MODES), "--no-compile", "--no-sweep",
               "--cpu-malloc", "default", "--device", "cpu", "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out, completed


def test_every_requested_case_has_positive_finite_times(tiny_run):
    out, _ = tiny_run
    data = json.loads((out / "results.json").read_text())
    (run,) = data["runs"]
    assert run["allocation"] == "default"
    measured = {(r["op"], r["mode"]): r for r in run["results"]}
    assert set(measured) == {(op, mode) for op in OPS for mode in MODES}
    for (op, mode), record in measured.items():
        for competitor in ("ours", "torch"):
            seconds = record[competitor]["median_s"]
            assert math.isfinite(seconds) and seconds > 0, (op, mode, competitor, seconds)
        assert record["compile"] is None  # --no-compile
        assert record["ratio_eager"] > 0 and record["floor_ratio"] > 0
        assert record["max_rel_diff"] < 1e-3, (op, mode)
        assert record["saved"]["ours"] > 0 and record["saved"]["torch"] > 0
    assert run["copy"] and all(c["gbps"] > 0 for c in run["copy"])


def test_reports_are_written(tiny_run):
    out, completed = tiny_run
    markdown = (out / "results.md").read_text()
    assert "--ops relu,softmax,prelu" in markdown  # the exact command line
    assert "| relu | float32 | 2^12 | fwd |" in markdown
    assert "PASS" in completed.stdout or "FAIL" in completed.stdout  # the target summary


def test_saved_bytes_counts_the_saved_output_once(timing):
    x = torch.randn(1000, requires_grad=True)
    assert timing.saved_tensor_bytes(torch.sigmoid, x) == 1000 * 4  # sigmoid saves its output only


def test_saved_bytes_counts_saved_leaf_inputs(timing):
    x = torch.randn(1000, requires_grad=True)
    w = torch.randn(1000, requires_grad=True)
    assert timing.saved_tensor_bytes(torch.mul, x, w) == 2 * 1000 * 4  # both inputs, leaves included


def test_saved_bytes_counts_a_shared_storage_once(timing):
    x = torch.randn(1000, requires_grad=True)
    assert timing.saved_tensor_bytes(lambda t: t * t, x) == 1000 * 4  # x saved twice, one storage
    assert timing.saved_tensor_bytes(lambda t: t.detach() * 2, x) == 0  # nothing needs a gradient
