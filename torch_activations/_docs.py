"""Docstrings of torch_activations.functional and torch_activations.nn,
generated from the registry as the README's table is: the formula, the
parameters with their defaults, what backward saves, the torch twin and the
policy for non-finite input.

Each of those modules ends with ``_docs.attach(globals())``.
"""

import inspect

import torch

from .registry import ACTIVATIONS, CHANNELWISE, GATED_ACTIVATIONS, SOFTMAX, Activation, GatedActivation

NONFINITE_POLICY = (
    "Non-finite input: NaN in gives NaN out and a NaN gradient; "
    "+-inf gives the mathematical limit (of the value and of the gradient)."
)

# (type, meaning) of each parameter, by name; (op name, parameter) overrides.
_PARAMETERS = {
    "input": ("Tensor", "any shape; float16, bfloat16, float32 or float64"),
    "inplace": ("bool", "write the result into the input, as torch's inplace=True does"),
    "negative_slope": ("float", "slope for x < 0"),
    "alpha": ("float", "alpha in the formula"),
    "beta": ("float", "beta in the formula"),
    "threshold": ("float", "where beta * x > threshold the result is x itself"),
    "approximate": ("str", "'none' for the erf form, 'tanh' for the tanh approximation"),
    "dim": ("int", "the dimension along which the entries sum to one; None picks one as torch's "
                   "deprecated implicit choice does, with its warning"),
    "dtype": ("torch.dtype", "if given, the input is cast to it first"),
    "weight": ("Tensor", "the slope for x < 0: one element, or one per channel (dim 1 of the input)"),
    "num_parameters": ("int", "number of slopes: 1, or the number of channels (dim 1 of the input)"),
    "init": ("float", "initial value of every slope"),
    "learnable": ("bool", "make beta a one-element Parameter that trains with the model"),
    "device": ("torch.device", "where the parameter is created"),
    "gate": ("Tensor", "the activated operand; float16, bfloat16, float32 or float64"),
    "up": ("Tensor", "the other operand, of the gate's shape and dtype"),
    "saved": ("str", "what backward keeps: 'auto' (exact, least memory), 'input', 'output', and where the op "
                     "has one, 'mask' (exact codes, 1 or 2 bits per element) or 'uint8' (the derivative in "
                     "one byte; each gradient element off by at most |grad| / 252)"),
}
_OVERRIDES = {
    ("elu", "alpha"): ("float", "the value approached as x -> -inf is -alpha"),
    ("celu", "alpha"): ("float", "alpha in the formula; must not be 0"),
    ("swish", "beta"): ("float or Tensor", "beta in the formula; a one-element tensor gets a gradient"),
    ("Swish", "beta"): ("float", "beta in the formula (the initial value when learnable)"),
    ("Swish", "dtype"): ("torch.dtype", "dtype of the learnable beta"),
    ("PReLU", "dtype"): ("torch.dtype", "dtype of the weight"),
    **{(g.name if functional else g.module, "dim"): ("int", "the dimension whose halves are a and b (of even size)")
       for g in GATED_ACTIVATIONS for functional in (True, False) if functional or g.module},
    **{(g.name, "input"): ("Tensor", "any shape with dim of even size; float16, bfloat16, float32 or float64")
       for g in GATED_ACTIVATIONS if g.split},
}


def _parameter_lines(owner, signature):
    lines = []
    for name, parameter in signature.parameters.items():
        if name == "self" or name.startswith("_") or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # private (softmax's _stacklevel), or torch.nn.Module's *args, **kwargs
        kind, meaning = _OVERRIDES.get((owner, name)) or _PARAMETERS.get(name, ("", ""))
        default = "" if parameter.default is inspect.Parameter.empty else f", default {parameter.default!r}"
        kind = f"{kind}{default}" if kind else default.lstrip(", ")
        lines.append(f"    {name} ({kind}): {meaning}" if kind else f"    {name}: {meaning}")
    return lines or ["    none"]


def _saves(specs) -> str:
    main = specs[0]
    if main.kind == CHANNELWISE:
        return "the input and the weight (one tensor the size of the input, plus the weight; no intermediate)"
    saved = f"the {main.saves} (one tensor the size of the input; no intermediate)"
    if main.saves_otherwise:
        saved += f"; the {main.saves_otherwise}"
    if main.coded == "mask":
        saved += f"; with saved='mask', {main.code_bits} bit{'s' if main.code_bits > 1 else ''} per element (exact)"
    elif main.coded == "uint8":
        saved += "; with saved='uint8', 1 byte per element (gradient off by at most |grad| / 252)"
    if any(spec.name == "swish_learnable" for spec in specs):
        saved += "; with a tensor beta, the input and beta"
    return saved


def _twin_functional(spec: Activation) -> str:
    fn = spec.torch_functional
    if fn is None:
        return ""
    if getattr(torch.nn.functional, spec.name, None) is fn:
        return f"torch.nn.functional.{spec.name}"
    return f"torch.{fn.__name__}"


def _twin_line(spec: Activation, functional: bool) -> str:
    if spec.torch_functional is None:
        return ("Torch twin: none; torch has no fused op for this (the formula above in plain "
                "PyTorch ops is the reference the tests compare against).")
    if functional:
        return (f"Torch twin: {_twin_functional(spec)}, with the same arguments and defaults "
                f"(module: torch_activations.nn.{spec.module}).")
    return (f"Torch twin: torch.nn.{spec.torch_module.__name__}; this class subclasses it, so the "
            "constructor, attributes, extra_repr and state_dict keys are torch's and only forward differs.")


def _shape_line(spec: Activation) -> str:
    if spec.kind == SOFTMAX:
        return "Shape: any; the output has the input's shape, each slice along dim sums to one."
    if spec.name == "prelu":
        return "Shape: any, channels in dim 1 when the weight has more than one element; output as the input."
    return "Shape: any; the output has the input's shape."


def _body(specs, owner, signature, functional):
    formula = specs[0].formula.split("; ")  # one line per case
    lines = [""] + [f"    {line}" for line in formula] + [""]
    lines += ["Args:" if functional else "Args (constructor):"] + _parameter_lines(owner, signature) + [""]
    lines.append(_shape_line(specs[0]))
    lines.append(f"Backward saves: {_saves(specs)}.")
    lines.append(_twin_line(specs[0], functional))
    lines.append(NONFINITE_POLICY)
    return lines


def _function_name(spec: Activation) -> str:
    """The functional entry point: swish serves the learnable beta too."""
    return "swish" if spec.name == "swish_learnable" else spec.name


def _group(key):
    groups = {}
    for spec in ACTIVATIONS:
        groups.setdefault(key(spec), []).append(spec)
    return groups


def functional_doc(name: str, fn) -> str:
    specs = _group(_function_name)[name]
    where = "along dim" if specs[0].kind == SOFTMAX else "elementwise"
    title = f"{specs[0].module} {where}, with fused forward and backward kernels (CPU and CUDA)."
    return "\n".join([title] + _body(specs, name, inspect.signature(fn), functional=True))


def module_doc(name: str, cls) -> str:
    specs = _group(lambda spec: spec.module)[name]
    function = _function_name(specs[0])
    title = f"{name}: torch_activations.functional.{function} as a module, with fused forward and backward kernels."
    return "\n".join([title] + _body(specs, name, inspect.signature(cls.__init__), functional=False))


def gated_doc(gated: GatedActivation, obj, functional: bool) -> str:
    """The docstring of a gated function or module, generated as the others are."""
    owner = gated.name if functional else gated.module
    signature = inspect.signature(obj if functional else obj.__init__)
    where = "halves along dim" if gated.split else "two tensors"
    what = f"torch_activations.functional.{gated.name} as a module" if not functional else gated.name
    lines = [f"{what}: a gated activation ({where}), with fused forward and backward kernels (CPU and CUDA).", "",
             f"    {gated.formula}", "", "Args:" if functional else "Args (constructor):"]
    lines += _parameter_lines(owner, signature) + [""]
    lines.append("Shape: the input's, with dim halved (dim of even size)." if gated.split
                 else "Shape: gate and up of one shape; the output has it.")
    lines.append("Backward saves: the input (" + ("one tensor" if gated.split else "gate and up") +
                 "; no intermediate).")
    if gated.torch_functional is not None:
        lines.append("Torch twin: torch.nn.functional.glu, with the same arguments and defaults." if functional else
                     "Torch twin: torch.nn.GLU; this class subclasses it, so the constructor, attributes, "
                     "extra_repr and state_dict keys are torch's and only forward differs.")
    else:
        lines.append("Torch twin: none; the reference is the composite act(a) * b in plain PyTorch.")
    lines.append(NONFINITE_POLICY)
    return "\n".join(lines)


def attach(namespace: dict) -> None:
    """Set the docstring of every activation defined in `namespace` (the
    globals of torch_activations.functional or torch_activations.nn)."""
    module = namespace["__name__"].rsplit(".", 1)[-1]
    if module == "functional":
        for name in _group(_function_name):
            if name in namespace:  # absent only while scripts/generate_api.py has yet to run
                namespace[name].__doc__ = functional_doc(name, namespace[name])
        for gated in GATED_ACTIVATIONS:
            namespace[gated.name].__doc__ = gated_doc(gated, namespace[gated.name], functional=True)
    elif module == "nn":
        for name in _group(lambda spec: spec.module):
            if name in namespace:  # absent only while scripts/generate_api.py has yet to run
                namespace[name].__doc__ = module_doc(name, namespace[name])
        for gated in GATED_ACTIVATIONS:
            if gated.module:
                namespace[gated.module].__doc__ = gated_doc(gated, namespace[gated.module], functional=False)
    else:
        raise ValueError(f"no generated docstrings for module {namespace['__name__']}")
