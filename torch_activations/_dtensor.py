"""DTensor sharding rules for every op of the library, from the op table
(registry.TABLE, csrc/op_table.h's for_each_op): a DTensor in gives a DTensor
out with the placement torch's twin gives.

- Pointwise ops keep any Shard or Replicate placement; in-place ops too.
- softmax and log_softmax, and the split gated ops, take any Shard but on
  their own dim (DTensor redistributes one there first).
- bias_<op> pairs a Shard on the input's last dim with the same shard of the
  bias; sharded on another dim, the bias is replicated and its gradient is
  Partial (a sum over the rows each rank holds).
- PReLU follows its weight: a Shard on the channel dim (1) with the same shard
  of a per-channel weight; elsewhere the weight is replicated and its
  gradient Partial. The learnable Swish's beta likewise.
- The saved="mask"/"uint8" ops' packed codes (flat, in the elements' order)
  shard only on dim 0, evenly, where every shard's codes end on a whole byte.

No rule takes a Partial input: DTensor reduces it first, as it must (an
activation is not linear). Imported only once DTensor itself is
(torch_activations._lazy), so a user who never uses it never pays for it.
"""

import math

import torch
from torch.distributed.tensor import Partial, Replicate, Shard
from torch.distributed.tensor.experimental import register_sharding

from .registry import TABLE

ops = torch.ops.torch_activations
R = Replicate()


def _offered(first, *others, skip=(), also=()):
    """(placement, dim) pairs a rule offers on one mesh dim: each Shard that
    the first input, or an input shaped like it, holds (but on a dim in
    `skip`), and Replicate. So an op follows its inputs, as torch's pointwise
    ops do, and an input sharded on a dim the op cannot split (or Partial) is
    replicated, as torch's softmax replicates one sharded on its dim."""
    held = set()
    for spec in (first, *others):
        if getattr(spec, "ndim", None) == first.ndim:
            held |= {p.dim for p in spec.placements if isinstance(p, Shard)}
    return [(Shard(d), d) for d in sorted((held | set(also)) - set(skip))] + [(R, None)]


def _same(n_in, n_params, n_out=1, skip=lambda *args: ()):
    """Every tensor (n_in inputs, n_out outputs) on one placement."""
    def rule(*args):
        return [([p] * n_out, [p] * n_in + [None] * n_params) for p, _ in _offered(*args[:n_in], skip=skip(*args))]
    return rule


def _split_dim(x, dim, *rest):
    return (dim % x.ndim,) if x.ndim else ()


def _bias_rule(n_params, gated, backward):
    """bias_<op>(x, bias, ...) -> y, and bias_<op>_backward(grad, saved, bias, ...) -> (grad_x, grad_bias)."""
    def rule(*args):
        first = args[0]
        last = first.ndim - 1

        def build(p, d):
            if d is None:  # replicated
                outs, ins = ([R, R], [R, R, R]) if backward else ([R], [R, R])
            elif d == last:  # the bias's own shard
                outs, ins = ([p, Shard(0)], [p, p, Shard(0)]) if backward else ([p], [p, Shard(0)])
            else:  # each rank's rows: the bias whole, its gradient a partial sum
                outs, ins = ([p, Partial()], [p, p, R]) if backward else ([p], [p, R])
            return outs, ins + [None] * n_params

        n_like = 2 if backward else 1  # grad and saved are shaped like x
        bias = args[n_like]
        sharded_bias = (last,) if any(isinstance(p, Shard) for p in bias.placements) else ()  # as torch's x + bias
        return [build(p, d) for p, d in _offered(*args[:n_like], skip=(last,) if gated else (), also=sharded_bias)]
    return rule


def _weight_rule(per_channel, backward):
    """prelu / swish_learnable (x, weight) and their backward (grad, x, weight) -> (grad_x, grad_weight)."""
    def rule(*args):
        weight = args[-1]
        follows = per_channel and args[0].ndim >= 2 and weight.shape[0] > 1  # a weight per channel (dim 1)

        def build(p, d):
            if d is None:
                return ([R, R], [R, R, R]) if backward else ([R], [R, R])
            w = Shard(0) if follows and d == 1 else R
            if backward:
                return [p, w if w != R else Partial()], [p, p, w]
            return [p], [p, w]

        return [build(p, d) for p, d in _offered(*args[:-1])]
    return rule


def _coded_rule(bits, n_params, backward):
    """<op>_coded(x) -> (y, codes), <op>_coded_backward(grad, codes) -> grad_x.
    The codes are packed flat, in the elements' order: only an even Shard(0)
    whose every shard's codes end on a whole byte splits them as it splits x."""
    def rule(first, *args):
        shards = first.mesh.size()
        numel = math.prod(first.shape)
        even = first.ndim > 0 and first.shape[0] % shards == 0 and (numel // shards * bits) % 8 == 0
        strategies = [([R], [R, R]) if backward else ([R, R], [R])]
        if even and any(p == Shard(0) for p in first.placements):
            strategies.insert(0, ([Shard(0)], [Shard(0), Shard(0)]) if backward else ([Shard(0), Shard(0)], [Shard(0)]))
        return [(outs, ins + [None] * n_params) for outs, ins in strategies]
    return rule


def _rules(entry):
    """{op name: sharding rule} of one table entry."""
    name, n = entry["name"], len(entry["params"])
    kind = entry["kind"]
    if kind == "pointwise":
        rules = {name: _same(1, n), f"{name}_": _same(1, n, n_out=0), f"{name}_backward": _same(2, n),
                 f"{name}_backward_": _same(2, n, n_out=0),
                 entry["bias"]: _bias_rule(n, False, False), f"{entry['bias']}_backward": _bias_rule(n, False, True)}
        if entry["code_bits"]:
            rules[f"{name}_coded"] = _coded_rule(entry["code_bits"], n, False)
            rules[f"{name}_coded_backward"] = _coded_rule(entry["code_bits"], n, True)
        return rules
    if kind == "channelwise":
        return {name: _weight_rule(entry["per_channel"], False), f"{name}_backward": _weight_rule(entry["per_channel"], True)}
    if kind == "gated" and entry["split"]:  # (x, dim, params...)
        return {name: _same(1, n + 1, skip=_split_dim),
                f"{name}_backward": _same(2, n + 1, skip=lambda g, x, dim, *r: _split_dim(x, dim)),
                entry["bias"]: _bias_rule(n, True, False), f"{entry['bias']}_backward": _bias_rule(n, True, True)}
    if kind == "gated":  # (gate, up, params...)
        return {name: _same(2, n), f"{name}_backward": _same(3, n, n_out=2)}
    # softmax kinds: (x, dim), (grad, out, dim)
    backward_skip = lambda g, out, dim: _split_dim(out, dim)  # noqa: E731
    return {name: _same(1, 1, skip=_split_dim), f"{name}_backward": _same(2, 1, skip=backward_skip),
            f"{name}_backward_": _same(2, 1, n_out=0, skip=backward_skip)}


def register():
    for entry in TABLE.values():
        rules = _rules(entry)
        missing = set(entry["ops"]) - set(rules)
        if missing:  # a new family of ops: its rules belong here
            raise RuntimeError(f"torch_activations: no DTensor sharding rule for {', '.join(sorted(missing))}")
        for op_name, rule in rules.items():
            register_sharding(getattr(ops, op_name).default)(rule)
