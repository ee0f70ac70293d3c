"""Every functional function and every module documents, in help() and
__doc__: its formula, its parameters with their defaults, what backward
saves, its torch twin and the non-finite policy (generated from the registry)."""

import inspect
import pydoc

import pytest

import torch_activations as ta
from torch_activations import _docs
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, GATED_ACTIVATIONS

FUNCTIONS = sorted({"swish" if s.name == "swish_learnable" else s.name for s in ACTIVATIONS})
MODULES = sorted({s.module for s in ACTIVATIONS})


def _specs(attribute, value):
    return [s for s in ACTIVATIONS if ("swish" if s.name == "swish_learnable" else s.name) == value] \
        if attribute == "function" else [s for s in ACTIVATIONS if s.module == value]


def _help(obj):
    return pydoc.render_doc(obj, renderer=pydoc.plaintext)


def _check(text, specs, signature):
    spec = specs[0]
    assert spec.formula, f"{spec.name}: the registry entry has no formula"
    for line in spec.formula.split("; "):
        assert line in text, (spec.name, line)
    for name, parameter in signature.parameters.items():
        if name == "self" or name.startswith("_") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is inspect.Parameter.empty:
            assert f"    {name} (" in text, (spec.name, name)
        else:
            assert f"{name} (" in text and f"default {parameter.default!r})" in text, (spec.name, name)
    saved = "the input and the weight" if spec.kind == CHANNELWISE else f"the {spec.saves} "
    assert f"Backward saves: {saved}" in text, spec.name
    assert _docs.NONFINITE_POLICY in text, spec.name
    if spec.torch_functional is None:
        assert "Torch twin: none" in text, spec.name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_docstring(name):
    fn = getattr(ta.functional, name)
    specs = _specs("function", name)
    signature = inspect.signature(fn)
    for text in (fn.__doc__, _help(fn)):
        _check(text, specs, signature)
    for spec in specs:  # the registry's parameters are the function's, with the same defaults
        for param, default in spec.params:
            assert signature.parameters[param].default == default, (name, param)
    if specs[0].torch_functional is not None:
        assert f"Torch twin: {_docs._twin_functional(specs[0])}," in fn.__doc__
        assert _docs._twin_functional(specs[0]) in ("torch.nn.functional." + name, "torch." + name)


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring(name):
    cls = getattr(ta.nn, name)
    specs = _specs("module", name)
    for text in (cls.__doc__, _help(cls)):
        _check(text, specs, inspect.signature(cls.__init__))
    if specs[0].torch_module is not None:
        assert f"Torch twin: torch.nn.{name};" in cls.__doc__


def test_every_public_activation_is_covered():
    public_functions = {n for n in dir(ta.functional) if not n.startswith("_") and inspect.isfunction(getattr(ta.functional, n))
                        and getattr(ta.functional, n).__module__ == ta.functional.__name__}
    gated = {g.name for g in GATED_ACTIVATIONS}  # documented from their own table (tests/test_gated.py)
    fused = {"bias_activation"}  # its docstring is written by hand (tested below)
    assert public_functions == set(FUNCTIONS) | gated | fused
    assert set(ta.nn.__all__) == set(MODULES) | {g.module for g in GATED_ACTIVATIONS if g.module} | {"BiasActivation", "GatedMLP"}
    # GatedMLP's docstring is written by hand: what it computes, keeps and takes
    assert all(word in ta.nn.GatedMLP.__doc__ for word in ("recompute", "from_module", "activation:"))


def test_bias_activation_documents_its_arguments():
    for owner in (ta.functional.bias_activation, ta.nn.BiasActivation):
        signature = inspect.signature(owner if inspect.isfunction(owner) else owner.__init__)
        for name, parameter in signature.parameters.items():
            if name == "self" or parameter.kind == parameter.VAR_KEYWORD:
                assert name == "self" or f"**{name}:" in owner.__doc__
                continue
            assert f"{name} (" in owner.__doc__ or f"{name}," in owner.__doc__, (owner, name)
