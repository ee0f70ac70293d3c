"""Accuracy of every op against float64: the maximum error in ulps over a
dense sweep of inputs, forward and backward, for ours and for torch's own op
(the composite a user writes where torch has none).

    python scripts/accuracy.py                  # print the table (the CPU build in use)
    python scripts/accuracy.py --dtypes float32 --ops gelu,silu --where
    python scripts/accuracy.py --write          # also store the float32 forward maxima in
                                                # (with --ops, only those ops' entries)
                                                # scripts/accuracy.json, which the README
                                                # table (scripts/readme_table.py) reads

The error of a value y against the float64 reference r, in ulps of the dtype:

    |y - r| / ulp(max(|r|, floor))

with an absolute floor near zero, below which errors count by their absolute
size: forward, the smallest normal number of the dtype (so these are plain
IEEE ulps, subnormal results counted in subnormal steps): every op's outputs
near 0 are exact multiples of small inputs (or exponentially small tails),
and relative accuracy there is both possible and kept. Backward, 1: every
derivative here is of order 1 and vanishes somewhere inside the range
(silu' at -1.28, gelu' at -0.75, ...) or saturates (tanh' from a saved
y = 1), where any formula evaluated in the dtype, torch's included, keeps
only an absolute accuracy of about one ulp of 1. log_softmax forward, 1 as
well: its outputs are logarithms, whose absolute error is the relative error
of the probability; next to 0 (the largest element of a row), any
(x - max) - log(sum) keeps one ulp of 1. A non-finite y where r is finite
(or the reverse) counts as infinitely wrong.

The sweep: float32, 2^21 evenly spaced points on [-20, 20] plus 2^15
magnitudes from 1e-30 to 20 on a log scale, both signs; bfloat16 and
float16, every representable value in [-20, 20]. Backward uses an incoming
gradient of 1 (so it is the derivative itself) and leaves out the op's
kinks (where the derivative is a convention); softmax kinds take rows of 16
sweep values in a fixed random order, and a fixed random incoming gradient.
"""

import argparse
import json
import math
import pathlib
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn.functional as F

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, CHANNELWISE, POINTWISE, SOFTMAX

STORE = pathlib.Path(__file__).resolve().parent / "accuracy.json"
RANGE = 20.0
BACKWARD_FLOOR = LOG_FLOOR = 1.0
SOFTMAX_ROW = 16
MANTISSA_BITS = {torch.float32: 23, torch.bfloat16: 7, torch.float16: 10}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}



def _label(spec, params):
    return spec.name + ("" if params == spec.defaults else
                        "(" + ", ".join(f"{n}={v}" for n, v in zip(spec.param_names, params)) + ")")


# Our float32 maxima (forward, backward) may not exceed these in any CPU
# build (tests/test_numerics.py): the registry's budgets, about a quarter
# above what is measured.
BUDGETS = {}
# Parameter sets measured besides the defaults (each selects other code).
EXTRA_PARAMS = {}
for _spec in ACTIVATIONS:
    BUDGETS[_spec.name] = _spec.ulps
    for _params, _ulps in _spec.ulps_with:
        BUDGETS[_label(_spec, _params)] = _ulps
        EXTRA_PARAMS.setdefault(_spec.name, []).append(_params)
# bfloat16 and float16 backward where more than 1 ulp: a row sum feeds every
# element of a softmax gradient
BUDGETS_16BIT = {"softmax": 1.5, "log_softmax": 2.0}
CHANNELWISE_WEIGHT = {"prelu": 0.25, "swish_learnable": 1.5}


@dataclass(frozen=True)
class Case:
    label: str
    kind: str
    ours: Callable
    theirs: Callable
    reference: Callable  # evaluated in float64
    kinks: tuple = ()
    forward_floor: Optional[float] = None  # None: the smallest normal number of the dtype


def cases():
    out = []
    for spec in ACTIVATIONS:
        if spec.kind == POINTWISE:
            for params in [spec.defaults] + EXTRA_PARAMS.get(spec.name, []):
                label = _label(spec, params)
                ours = getattr(ta.functional, spec.name)
                if spec.torch_functional is not None:
                    kwargs = dict(zip(spec.param_names, params))
                    theirs = (lambda f, kw: lambda x: f(x, **kw))(spec.torch_functional, kwargs)
                else:
                    theirs = (lambda f, p: lambda x: f(x, *p))(spec.composite, params)
                out.append(Case(label, POINTWISE, (lambda f, p: lambda x: f(x, *p))(ours, params), theirs,
                                (lambda f, p: lambda x: f(x, *p))(spec.reference, params), spec.kinks))
        elif spec.kind == CHANNELWISE:
            w = CHANNELWISE_WEIGHT[spec.name]
            weight = lambda x, w=w: torch.full((1,), w, dtype=x.dtype)  # noqa: E731
            ours = ta.functional.prelu if spec.name == "prelu" else ta.functional.swish
            theirs = F.prelu if spec.name == "prelu" else spec.composite
            out.append(Case(spec.name, CHANNELWISE, lambda x, f=ours, wt=weight: f(x, wt(x)),
                            lambda x, f=theirs, wt=weight: f(x, wt(x)),
                            lambda x, f=spec.reference, wt=weight: f(x, wt(x)), spec.kinks))
        elif spec.kind == SOFTMAX:
            out.append(Case(spec.name, SOFTMAX, lambda x, f=getattr(ta.functional, spec.name): f(x, -1),
                            lambda x, f=spec.torch_functional: f(x, -1),
                            lambda x, f=spec.reference: f(x, -1),
                            forward_floor=LOG_FLOOR if spec.name == "log_softmax" else None))
    return out


def sweep(dtype, points=2**21):
    """The inputs, in dtype, distinct and sorted."""
    if dtype == torch.float32:
        grid = torch.linspace(-RANGE, RANGE, points, dtype=torch.float64)
        mags = torch.logspace(-30, math.log10(RANGE), points // 64, dtype=torch.float64)
        x = torch.cat([grid, mags, -mags, torch.zeros(1, dtype=torch.float64)]).to(dtype)
    else:
        bits = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
        x = bits.view(dtype)
        x = x[x.isfinite() & (x.abs() <= RANGE)]
    return torch.unique(x)


def ulps(y, ref, dtype, floor=None):
    """|y - ref| in ulps of dtype at max(|ref|, floor) (floor: the smallest
    normal number of dtype unless given); y in dtype, ref in float64."""
    info = torch.finfo(dtype)
    floor = info.tiny if floor is None else floor
    y = y.double()
    scale = ref.abs().clamp(min=floor)
    _, exponent = torch.frexp(scale)  # scale = m 2^e, m in [0.5, 1)
    exponent = exponent.clamp(min=int(math.log2(info.tiny)) + 1)
    ulp = torch.ldexp(torch.ones_like(scale), exponent - 1 - MANTISSA_BITS[dtype])
    err = (y - ref).abs() / ulp
    # equal, both NaN, or an overflow of the dtype both ways
    same = (y == ref) | (y.isnan() & ref.isnan()) | (y.isinf() & (ref.to(dtype).double() == y))
    err = torch.where(same, torch.zeros_like(err), err)
    return torch.where(err.isnan(), torch.full_like(err, math.inf), err)


def _value_and_grad(fn, x, grad):
    x = x.detach().requires_grad_()
    y = fn(x)
    (g,) = torch.autograd.grad(y, x, grad)
    return y.detach(), g


def measure(case, dtype, points=2**21):
    """{'ours': ..., 'torch': ...}: max ulps forward and backward, and where."""
    x = sweep(dtype, points)
    if case.kind == SOFTMAX:
        n = x.numel() // SOFTMAX_ROW * SOFTMAX_ROW
        gen = torch.Generator().manual_seed(0)
        x = x[torch.randperm(x.numel(), generator=gen)[:n]].reshape(-1, SOFTMAX_ROW)
        grad = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(dtype)
    elif case.kind == CHANNELWISE:
        x = x.reshape(-1, 1)  # one channel, the weight broadcast over it
        grad = torch.ones_like(x)
    else:
        grad = torch.ones_like(x)
    smooth = torch.ones_like(x, dtype=torch.bool)
    for k in case.kinks:
        smooth &= x != k
    y_ref, g_ref = _value_and_grad(case.reference, x.double(), grad.double())
    result = {}
    for who, fn in (("ours", case.ours), ("torch", case.theirs)):
        y, g = _value_and_grad(fn, x, grad)
        ef = ulps(y, y_ref, dtype, case.forward_floor).reshape(-1)
        eb = torch.where(smooth, ulps(g, g_ref, dtype, BACKWARD_FLOOR), torch.zeros_like(g_ref)).reshape(-1)
        result[who] = {
            "fwd": ef.max().item(), "fwd_at": x.reshape(-1)[ef.argmax()].item(),
            "bwd": eb.max().item(), "bwd_at": x.reshape(-1)[eb.argmax()].item(),
        }
    return result


def table(dtypes, labels=None, points=2**21):
    rows = []
    for case in cases():
        if labels and case.label not in labels:
            continue
        for dtype in dtypes:
            rows.append((case.label, dtype, measure(case, dtype, points)))
    return rows


def _fmt(v):
    return "inf" if v == math.inf else (f"{v:.2f}" if v < 100 else f"{v:.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtypes", default="float32,bfloat16,float16")
    parser.add_argument("--ops", default="")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--where", action="store_true", help="also print where each maximum is")
    args = parser.parse_args()
    dtypes = [DTYPES[d] for d in args.dtypes.split(",")]
    rows = table(dtypes, set(filter(None, args.ops.split(","))))
    print(f"max error in ulps (floor: forward the smallest normal number, log_softmax and backward {BACKWARD_FLOOR:g}), "
          f"CPU build {ta.CPU_ISA}, torch {torch.__version__}")
    print(f"{'op':24} {'dtype':9} {'fwd ours':>9} {'fwd torch':>9} {'bwd ours':>9} {'bwd torch':>9}")
    for label, dtype, r in rows:
        line = (f"{label:24} {str(dtype)[6:]:9} {_fmt(r['ours']['fwd']):>9} {_fmt(r['torch']['fwd']):>9} "
                f"{_fmt(r['ours']['bwd']):>9} {_fmt(r['torch']['bwd']):>9}")
        if args.where:
            line += (f"   at {r['ours']['fwd_at']:.6g} {r['torch']['fwd_at']:.6g} "
                     f"{r['ours']['bwd_at']:.6g} {r['torch']['bwd_at']:.6g}")
        print(line)
    if args.write:
        data = json.loads(STORE.read_text())["float32_forward_max_ulps"] if args.ops and STORE.exists() else {}
        data.update({label: {"ours": round(r["ours"]["fwd"], 2), "torch": round(r["torch"]["fwd"], 2)}
                     for label, dtype, r in rows if dtype == torch.float32})  # with --ops: only theirs replaced
        isa = json.loads(STORE.read_text())["cpu_isa"] if args.ops and STORE.exists() else ta.CPU_ISA
        STORE.write_text(json.dumps({"cpu_isa": isa, "torch": torch.__version__,
                                     "float32_forward_max_ulps": data}, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
