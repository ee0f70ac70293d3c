"""The op table's two halves agree, and what is generated from them is current."""

import pathlib
import subprocess
import sys

import torch

import torch_activations as ta
from torch_activations import _C
from torch_activations.registry import ACTIVATIONS, GATED_ACTIVATIONS, POINTWISE, TABLE

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_generated_api_is_current():
    run = subprocess.run([sys.executable, "scripts/generate_api.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_every_table_entry_has_one_registry_row_and_back():
    rows = [s.name for s in ACTIVATIONS + GATED_ACTIVATIONS]
    assert sorted(rows) == sorted(TABLE) and len(set(rows)) == len(rows)


def test_every_op_the_table_lists_is_registered_and_nothing_else():
    listed = {op for entry in _C.op_table() for op in entry["ops"]}
    registered = {name.split("::")[1].split(".")[0] for name in torch._C._dispatch_get_all_op_names()
                  if name.startswith("torch_activations::")}
    assert listed == registered


def test_parameters_and_defaults_are_the_schemas_and_torch_twins():
    import inspect

    compared = 0
    for spec in ACTIVATIONS:
        if spec.kind != POINTWISE:
            continue
        schema = getattr(torch.ops.torch_activations, spec.name).default._schema
        assert [a.name for a in schema.arguments] == ["x", *spec.param_names], spec.name
        if spec.torch_functional is None or not spec.params:
            continue
        try:  # torch's defaults, by name, where its Python signature shows them (F.gelu is a builtin)
            twin = inspect.signature(spec.torch_functional).parameters
        except ValueError:
            continue
        for name, default in spec.params:
            assert twin[name].default == default, (spec.name, name)
            compared += 1
    assert compared >= 3  # leaky_relu, elu, celu at least


def test_generated_modules_and_functions_are_the_ones_exported():
    for spec in ACTIVATIONS:
        assert callable(getattr(ta.functional, spec.name if spec.name != "swish_learnable" else "swish"))
        assert issubclass(getattr(ta.nn, spec.module), torch.nn.Module)
