"""Swap the activation modules of an existing model for this package's
drop-ins in one call, and list what a model holds.

    model = torch_activations.convert(model)          # a converted copy
    for found in torch_activations.find_activations(model):
        print(found)

A module is replaced only where this package has an exact twin: the torch.nn
classes of the registry (matched by exact type, so a user's subclass with code
of its own is kept) and the activation classes of Hugging Face transformers
and timm with the same math (neither is imported here: a class is known by
its module and name). The replacement takes over the
module's state as it is (parameters, buffers, hooks, ``inplace``, training
mode): a PReLU's weight is the very same Parameter, so an optimizer built
before the call still updates it.
"""

import copy
import fnmatch
import functools
import inspect
import re
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Union

import torch

from . import _saved
from . import nn as ta_nn
from .registry import ACTIVATIONS, BY_NAME

__all__ = ["convert", "find_activations", "Found"]

Selector = Union[type, str]


@dataclass(frozen=True)
class Found:
    """One activation in a model: where, what, and what convert() does with it."""

    path: str  # the module's name in model.named_modules() ("" for the model itself; for a functional call, the owner's)
    cls: str  # the class found, qualified ("torch.nn.GELU"), or the function called
    replacement: Optional[str]  # the class convert() puts there, or None where it keeps it
    reason: str = ""  # why it is kept, or what the replacement keeps

    def __str__(self):
        where = self.path or "<model>"
        if self.replacement:
            return f"{where}: {self.cls} -> {self.replacement}" + (f" ({self.reason})" if self.reason else "")
        return f"{where}: {self.cls} kept: {self.reason}"


def _qualname(cls: type) -> str:
    module = cls.__module__
    if module.startswith("torch.nn.modules"):
        module = "torch.nn"
    return f"{module}.{cls.__qualname__}"


def _adopt(new_cls: type) -> Callable:
    """A replacement that is a subclass of the module's own class: the same
    state under the drop-in's forward."""

    def replace(module):
        new = new_cls.__new__(new_cls)
        new.__dict__ = module.__dict__.copy()
        if getattr(new_cls, "_saved_op", None):
            new.saved = "auto"  # the drop-in's own attribute (torch's class has none)
        return new

    return replace


def _fresh(factory: Callable[[], torch.nn.Module]) -> Callable:
    """A replacement built anew (a Hugging Face class, which holds no
    parameters), in the module's training mode, on its hooks."""

    def replace(module):
        new = factory()
        new.train(module.training)
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
            getattr(new, name).update(getattr(module, name))
        return new

    return replace


@functools.lru_cache(maxsize=None)
def _torch_twins():
    """{torch.nn class: (our class, replace function)}, from the registry once."""
    twins = {}
    for act in ACTIVATIONS:
        if act.torch_module is not None and hasattr(ta_nn, act.module):
            twins[act.torch_module] = (getattr(ta_nn, act.module), _adopt(getattr(ta_nn, act.module)))
    return twins


# transformers.activations classes with an exact twin here, by class name:
# (the replacement's name, a factory). GELUActivation is erf GELU; the three
# tanh forms are the tanh approximation written out; QuickGELU is
# x * sigmoid(1.702 x).
_HF_MODULE = "transformers.activations"
_HF_TWINS = {
    "GELUActivation": ("torch_activations.nn.GELU", lambda m: ta_nn.GELU()),
    "NewGELUActivation": ("torch_activations.nn.GELU(approximate='tanh')", lambda m: ta_nn.GELU(approximate="tanh")),
    "FastGELUActivation": ("torch_activations.nn.GELU(approximate='tanh')", lambda m: ta_nn.GELU(approximate="tanh")),
    "PytorchGELUTanh": ("torch_activations.nn.GELU(approximate='tanh')", lambda m: ta_nn.GELU(approximate="tanh")),
    "GELUTanh": ("torch_activations.nn.GELU(approximate='tanh')", lambda m: ta_nn.GELU(approximate="tanh")),
    "QuickGELUActivation": ("torch_activations.nn.Swish(beta=1.702)", lambda m: ta_nn.Swish(beta=1.702)),
    "SiLUActivation": ("torch_activations.nn.SiLU", lambda m: ta_nn.SiLU()),
    "MishActivation": ("torch_activations.nn.Mish", lambda m: ta_nn.Mish()),
}

# timm's own activation classes (timm.layers.activations and its memory-lean
# activations_me), by class name: (the replacement's name, a factory). Swish
# is SiLU and QuickGELU x * sigmoid(1.702 x); timm's inplace= is kept where
# timm honours it (Mish, GELU and the *Me forms compute out of place, and so
# do their replacements; Sigmoid and Tanh here have no in-place module, so an
# in-place timm Sigmoid or Tanh runs out of place: the same values). The
# hard forms equal torch's everywhere but at their kinks +-3, where timm's
# composites pick other one-sided derivatives.
_TIMM_MODULES = ("timm.layers.activations", "timm.layers.activations_me")


def _inplace(m):
    return bool(getattr(m, "inplace", False))


_TIMM_TWINS = {
    "Swish": ("torch_activations.nn.SiLU", lambda m: ta_nn.SiLU(inplace=_inplace(m))),
    "SwishMe": ("torch_activations.nn.SiLU", lambda m: ta_nn.SiLU()),
    "Mish": ("torch_activations.nn.Mish", lambda m: ta_nn.Mish()),
    "MishMe": ("torch_activations.nn.Mish", lambda m: ta_nn.Mish()),
    "Sigmoid": ("torch_activations.nn.Sigmoid", lambda m: ta_nn.Sigmoid()),
    "Tanh": ("torch_activations.nn.Tanh", lambda m: ta_nn.Tanh()),
    "HardSwish": ("torch_activations.nn.Hardswish", lambda m: ta_nn.Hardswish(inplace=_inplace(m))),
    "HardSwishMe": ("torch_activations.nn.Hardswish", lambda m: ta_nn.Hardswish()),
    "HardSigmoid": ("torch_activations.nn.Hardsigmoid", lambda m: ta_nn.Hardsigmoid(inplace=_inplace(m))),
    "HardSigmoidMe": ("torch_activations.nn.Hardsigmoid", lambda m: ta_nn.Hardsigmoid()),
    "GELU": ("torch_activations.nn.GELU", lambda m: ta_nn.GELU()),
    "GELUTanh": ("torch_activations.nn.GELU(approximate='tanh')", lambda m: ta_nn.GELU(approximate="tanh")),
    "QuickGELU": ("torch_activations.nn.Swish(beta=1.702)", lambda m: ta_nn.Swish(beta=1.702)),
}
# timm.layers.activations.PReLU subclasses torch.nn.PReLU with torch's math:
# adopted as torch's is, keeping its very weight Parameter
_TIMM_ADOPTED = {"PReLU": "PReLU"}

# torch.nn activation classes with no exact twin here (listed, kept)
_NOT_ACTIVATIONS = {"MultiheadAttention"}

# a functional activation called inside forward: convert() cannot reach it
_FUNCTION_NAMES = sorted({act.torch_functional.__name__ for act in ACTIVATIONS if act.torch_functional}
                         | {"relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax"})
_FUNCTIONAL_CALL = re.compile(
    r"\b(?:F|functional|torch\.nn\.functional|nn\.functional|torch)\.(" + "|".join(_FUNCTION_NAMES) + r")_?\(")


def _plan(module: torch.nn.Module):
    """(replacement name, replace function) for a module convert() swaps, or
    (None, reason) for one it keeps; None for a module that is no activation."""
    cls = type(module)
    twins = _torch_twins()
    if cls in twins:
        ours, replace = twins[cls]
        return _qualname(ours), replace
    if cls.__module__.startswith("torch_activations."):
        return None, "already this package's"
    if cls.__module__ in _TIMM_MODULES:
        if cls.__name__ in _TIMM_ADOPTED:
            ours = getattr(ta_nn, _TIMM_ADOPTED[cls.__name__])
            return _qualname(ours), _adopt(ours)
        if cls.__name__ in _TIMM_TWINS:
            name, factory = _TIMM_TWINS[cls.__name__]
            return name, _fresh(lambda: factory(module))
        return None, "no exact twin in torch_activations"
    for torch_cls in twins:
        if isinstance(module, torch_cls) and cls.__module__ != "torch.nn.modules.activation":
            return None, f"a subclass of {_qualname(torch_cls)} with code of its own"
    if cls.__module__ == "torch.nn.modules.activation" and cls.__name__ not in _NOT_ACTIVATIONS:
        return None, "no exact twin in torch_activations"
    if cls.__module__ == _HF_MODULE:
        if cls.__name__ in _HF_TWINS:
            name, factory = _HF_TWINS[cls.__name__]
            if cls.__name__ == "GELUActivation" and getattr(module, "act", None) is not None \
                    and getattr(module.act, "__name__", "") not in ("gelu", "_gelu_python"):
                return None, "its function is not erf GELU"
            return name, _fresh(lambda: factory(module))
        return None, "no exact twin in torch_activations"
    return None


def _selected(path: str, module: torch.nn.Module, selectors: Optional[Iterable[Selector]]) -> bool:
    for s in selectors or ():
        if isinstance(s, type):
            if isinstance(module, s):
                return True
        elif isinstance(s, str):
            name = type(module).__name__
            if s in (path, name, _qualname(type(module))) or fnmatch.fnmatchcase(path, s) \
                    or path.startswith(s + "."):
                return True
        else:
            raise TypeError(f"torch_activations.convert: include/exclude take module classes or names, got {s!r}")
    return False


def _functional_calls(model: torch.nn.Module) -> List[Found]:
    """Activations called as functions in the forward of the model's own
    classes (torch's and this package's are not read): where the source can
    be read, each call with its file and line."""
    found, seen = [], set()
    for path, module in model.named_modules():
        cls = type(module)
        if cls in seen or cls.__module__.startswith(("torch.", "torch_activations.")):
            continue
        seen.add(cls)
        plan = _plan(module)
        if plan is not None and plan[0] is not None:  # the class itself is swapped, its calls with it
            continue
        try:
            lines, first = inspect.getsourcelines(cls.forward)
            filename = inspect.getsourcefile(cls.forward) or "?"
        except (OSError, TypeError):
            continue
        for offset, line in enumerate(lines):
            code = line.split("#", 1)[0]
            for match in _FUNCTIONAL_CALL.finditer(code):
                if code[:match.start()].endswith(("ta.", "torch_activations.")):
                    continue  # this package's own functional
                found.append(Found(path, match.group(0)[:-1], None,
                                   f"called as a function in {cls.__qualname__}.forward "
                                   f"({filename}:{first + offset}): convert() cannot swap a call"))
    return found


def _mlp_plans(model: torch.nn.Module):
    """(path, module, plan) of each known gated MLP (torch_activations.gated_mlp)."""
    from . import gated_mlp

    for path, module in model.named_modules():
        plan = gated_mlp.plan_for(module)
        if plan is not None:
            yield path, module, plan


def _inside(path: str, prefixes) -> bool:
    return any(path.startswith(p + ".") for p in prefixes)


def find_activations(model: torch.nn.Module, *, fuse: bool = False) -> List[Found]:
    """Every activation in ``model``: each activation module (path, class, and
    the drop-in convert() would put there, or why it keeps it) and, after
    them, the activations called as functions in a forward of the model's
    own classes, where the source can be read. fuse=True lists first the
    gated MLPs convert(model, fuse=True) fuses (or why it keeps one); their
    own activations are then not listed apart."""
    found, fused = [], []
    if fuse:
        for path, module, plan in _mlp_plans(model):
            if isinstance(plan, str):
                found.append(Found(path, _qualname(type(module)), None, plan))
            else:
                found.append(Found(path, _qualname(type(module)), "torch_activations.nn.GatedMLP",
                                   f"{plan[1].activation}, {'merged' if plan[1].merged else 'two'} projection(s)"))
                fused.append(path)
    for path, module in model.named_modules():
        if _inside(path, fused):
            continue
        plan = _plan(module)
        if plan is None:
            continue
        replacement, detail = plan
        if replacement is None:
            found.append(Found(path, _qualname(type(module)), None, detail))
        else:
            found.append(Found(path, _qualname(type(module)), replacement))
    return found + [f for f in _functional_calls(model) if f.path not in fused]


def convert(model: torch.nn.Module, *, inplace: bool = False,
            include: Optional[Iterable[Selector]] = None,
            exclude: Optional[Iterable[Selector]] = None, saved: str = "auto", fuse: bool = False,
            recompute: bool = True) -> torch.nn.Module:
    """``model`` with every activation module that has an exact twin here
    replaced by it (see find_activations for what is found and kept).

    inplace: False (default) converts a deep copy and leaves ``model`` as it
    was; True swaps the modules in ``model`` itself and returns it.
    include / exclude: module classes (matched with isinstance) or names (a
    module path in ``named_modules()``, a glob over paths such as
    ``"encoder.*"``, a path prefix, or a class name such as ``"GELU"``). With
    include, only the matching activations are converted; exclude wins over
    include. The model itself is never replaced, only its submodules (an
    activation passed alone comes back as it was).
    saved: what backward keeps (see torch_activations.functional), set on
    every replacement whose op takes that mode; the others keep "auto". So
    saved="uint8" makes the GELUs and SiLUs of a model lean and leaves its
    ReLUs exact, and saved="mask" the reverse.
    fuse: also replace each known gated MLP (Hugging Face Llama, Mistral, Qwen2,
    Qwen3, Gemma 1-3, Phi-3, T5's gated form; timm's GluMlp and SwiGLU) with
    torch_activations.nn.GatedMLP, on the very same projection modules and
    Parameters (include / exclude select them as they do activations).
    recompute: with fuse, GatedMLP's choice (True: backward keeps the gate and
    up projections only and computes the product again).
    """
    if saved not in _saved.MODES:
        raise ValueError(f"torch_activations.convert: saved must be one of {', '.join(map(repr, _saved.MODES))}, "
                         f"got {saved!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"torch_activations.convert: expected an nn.Module, got {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    include, exclude = (list(include) if include is not None else None), list(exclude or ())
    if fuse:
        from .gated_mlp import GatedMLP

        for path, module, plan in list(_mlp_plans(model)):
            if isinstance(plan, str) or not path or _selected(path, module, exclude) \
                    or (include is not None and not _selected(path, module, include)):
                continue
            parent_path, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent_path), name, GatedMLP.from_module(module, recompute=recompute))
    replaced = {}  # id of a module -> its replacement: a module held at two paths stays one module
    for path, module in list(model.named_modules(remove_duplicate=False)):
        if not path:
            continue
        parent_path, _, name = path.rpartition(".")
        if id(module) in replaced:
            setattr(model.get_submodule(parent_path), name, replaced[id(module)])
            continue
        plan = _plan(module)
        if plan is None or plan[0] is None:
            continue
        if include is not None and not _selected(path, module, include):
            continue
        if _selected(path, module, exclude):
            continue
        replaced[id(module)] = plan[1](module)
        op = getattr(type(replaced[id(module)]), "_saved_op", None)
        if saved != "auto" and op and saved in _saved.modes(BY_NAME[op]):
            replaced[id(module)].saved = saved
        setattr(model.get_submodule(parent_path), name, replaced[id(module)])
    return model
