"""DTensor, tensor parallelism, DDP and FSDP2 on 2 gloo ranks (127.0.0.1):
every op on DTensors sharded on each dim and replicated gives the values and
gradients of the op on the full tensor, and the placement torch's twin gives;
converted models train with torch.nn's losses."""

import pytest
import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, BIASED, CHANNELWISE, GATED_ACTIVATIONS, POINTWISE, SOFTMAX

import distributed
from helpers import make_input, param_cases

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")

SHAPE = (4, 6, 8)  # dim 0 splits evenly in two; the codes of every mask op end on a whole byte per shard


def _cases():
    """(label, ours(*tensors), torch's(*tensors), [full tensors], [how each but the first is placed])."""
    x = make_input(SHAPE, seed=11)
    cases = []
    for spec in ACTIVATIONS:
        if spec.kind == POINTWISE:
            for params in param_cases(spec):
                fn = getattr(ta.functional, spec.name)
                cases.append((f"{spec.name}{params}", lambda v, fn=fn, p=params: fn(v, *p),
                              lambda v, s=spec, p=params: s.in_torch(v, *p), [x], []))
                if spec.coded:
                    cases.append((f"{spec.name}{params} saved={spec.coded}",
                                  lambda v, fn=fn, p=params, mode=spec.coded: fn(v, *p, saved=mode),
                                  lambda v, s=spec, p=params: s.in_torch(v, *p), [x], []))
        elif spec.kind == SOFTMAX:
            for dim in (0, 2, -1):
                fn = getattr(ta.functional, spec.name)
                cases.append((f"{spec.name} dim={dim}", lambda v, fn=fn, d=dim: fn(v, d),
                              lambda v, s=spec, d=dim: s.in_torch(v, d), [x], []))
        else:
            gen = torch.Generator().manual_seed(14)  # every rank the same values
            weights = [torch.rand(SHAPE[1], dtype=torch.float64, generator=gen), torch.rand(1, dtype=torch.float64, generator=gen)]
            if spec.name != "prelu":
                weights = [torch.tensor([1.3], dtype=torch.float64)]
            op = ta.functional.prelu if spec.name == "prelu" else ta.functional.swish
            for w in weights:
                cases.append((f"{spec.name} weight{tuple(w.shape)}", op, spec.in_torch, [x, w], ["replicate"]))
    for gated in GATED_ACTIVATIONS:
        fn = getattr(ta.functional, gated.name)
        if gated.split:
            for dim in (0, -1):
                cases.append((f"{gated.name} dim={dim}", lambda v, fn=fn, d=dim: fn(v, d),
                              lambda v, g=gated, d=dim: g.in_torch(v, d), [x], []))
        else:
            cases.append((gated.name, fn, gated.in_torch, [x, make_input(SHAPE, seed=12)], ["like"]))
    for spec in BIASED:
        bias = torch.randn(SHAPE[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(15))
        composite = (lambda v, b, s=spec: s.in_torch(v + b, -1)) if spec.kind == "gated" else (
            lambda v, b, s=spec: s.in_torch(v + b))
        for placed in ("replicate", "shard"):
            cases.append((f"bias_{spec.name} bias {placed}", lambda v, b, n=spec.name: ta.functional.bias_activation(v, b, n),
                          composite, [x, bias], [placed]))
    return cases


def _every_op(rank):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor

    mesh = init_device_mesh("cpu", (distributed.WORLD,))
    failures, checked = [], 0
    for label, ours, theirs, tensors, placed in _cases():
        for first in [Shard(d) for d in range(len(SHAPE))] + [Replicate()]:
            where = f"{label} on {first}"
            try:
                full = [t.clone().requires_grad_() for t in tensors]
                y = ours(*full)
                g = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(checked))
                grads = torch.autograd.grad(y, full, g)
                places = [[first]] + [[first] if p == "like" else [Shard(0)] if p == "shard" else [Replicate()]
                                      for p in placed]
                dts = [distribute_tensor(t.detach(), mesh, p).requires_grad_() for t, p in zip(tensors, places)]
                y_dt = ours(*dts)
                twin = theirs(*[distribute_tensor(t.detach(), mesh, p) for t, p in zip(tensors, places)])
                assert isinstance(y_dt, DTensor), "a plain tensor out"
                # a mask's packed codes split only on an even dim 0 (see torch_activations._dtensor)
                if "saved=" not in label or first in (Shard(0), Replicate()):
                    assert y_dt.placements == twin.placements, f"placements {y_dt.placements}, torch's {twin.placements}"
                torch.testing.assert_close(y_dt.full_tensor(), y, rtol=0, atol=0, equal_nan=True)
                grads_dt = torch.autograd.grad(y_dt, dts, distribute_tensor(g, mesh, y_dt.placements))
                for a, b in zip(grads_dt, grads):
                    torch.testing.assert_close(a.full_tensor(), b, rtol=1e-12, atol=1e-12, equal_nan=True)
                checked += 1
            except Exception as error:  # gathered: one report of every op that fails
                failures.append(f"{where}: {type(error).__name__}: {str(error)[:300]}")
    # in place: a DTensor keeps its placement, and its values are the op's
    for spec in [s for s in ACTIVATIONS if s.inplace]:
        x = make_input(SHAPE, seed=13)
        for p in (Shard(1), Replicate()):
            try:
                dt = distribute_tensor(x.clone(), mesh, [p])  # replicated, it may share x's memory
                out = getattr(ta.functional, spec.name)(dt, inplace=True)
                assert out is dt and dt.placements == (p,), "not the same DTensor, or another placement"
                assert torch.equal(dt.full_tensor(), getattr(ta.functional, spec.name)(x)), "other values"
                checked += 1
            except Exception as error:
                failures.append(f"{spec.name} in place on {p}: {type(error).__name__}: {str(error)[:300]}")
    return {"failures": failures, "checked": checked}


def test_every_op_on_dtensors():
    results = distributed.run(_every_op)
    for result in results:
        assert not result["failures"], "\n".join(result["failures"])
    assert results[0]["checked"] > 300


def _mlp(act, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), act, torch.nn.Linear(16, 8))


def _converted(model):
    model = ta.convert(model)
    assert type(model[1]).__module__.startswith("torch_activations."), model
    return model


def _losses(model, steps, batch, loss_of=lambda out: out.square().mean()):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = loss_of(model(batch(step)))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _batch(rank=0):
    return lambda step: torch.randn(16, 8, generator=torch.Generator().manual_seed(100 * step + rank))


ACTS = [("GELU", lambda: torch.nn.GELU()), ("SiLU", lambda: torch.nn.SiLU()), ("Hardswish", lambda: torch.nn.Hardswish()),
        ("PReLU", lambda: torch.nn.PReLU(16))]


def _tensor_parallel(rank):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, distribute_module
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (distributed.WORLD,))
    out = {}
    for name, act in ACTS:
        # torch.nn's losses on one process (every rank sees the whole batch); torch's
        # own Hardswish has no sharding rule for its backward, so torch.nn under
        # tensor parallelism is no baseline for all of them
        theirs = _losses(_mlp(act()), 4, _batch())
        model = _converted(_mlp(act()))
        parallelize_module(model, mesh, {"0": ColwiseParallel(use_local_output=False), "2": RowwiseParallel()})
        distribute_module(model[1], mesh)  # a PReLU's weight replicated (DTensor mixes with no plain tensor)
        assert isinstance(model[0].weight, DTensor)
        out[name] = [theirs, _losses(model, 4, _batch())]
    return out


def _torch_nn_and_ours(rank, wrap):
    """{activation: [torch.nn's losses, the converted model's]}, each model wrapped by wrap(model)."""
    return {name: [_losses(wrap(model), 4, _batch(rank)) for model in (_mlp(act()), _converted(_mlp(act())))]
            for name, act in ACTS}


def _fsdp2(rank):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (distributed.WORLD,))

    def wrap(model):
        for layer in (model[0], model[2]):
            fully_shard(layer, mesh=mesh)
        return fully_shard(model, mesh=mesh)

    return _torch_nn_and_ours(rank, wrap)


def _ddp(rank):
    from torch.nn.parallel import DistributedDataParallel

    return _torch_nn_and_ours(rank, DistributedDataParallel)


def _llama_mlps():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    config = LlamaConfig(hidden_size=8, intermediate_size=24, hidden_act="silu", num_attention_heads=2, num_key_value_heads=2)
    torch.manual_seed(0)
    return torch.nn.Sequential(LlamaMLP(config), LlamaMLP(config))


def _fused_mlp(rank):
    """convert(fuse=True)'s GatedMLP under FSDP2 (each MLP and the root sharded) and DDP."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.nn.parallel import DistributedDataParallel

    mesh = init_device_mesh("cpu", (distributed.WORLD,))

    def sharded(model):
        for mlp in model:
            fully_shard(mlp, mesh=mesh)
        return fully_shard(model, mesh=mesh)

    out = {}
    for name, wrap in (("fsdp2", sharded), ("ddp", DistributedDataParallel)):
        theirs = _losses(wrap(_llama_mlps()), 4, _batch(rank))
        fused = ta.convert(_llama_mlps(), fuse=True)
        assert all(type(m).__name__ == "GatedMLP" for m in fused)
        out[name] = [theirs, _losses(wrap(fused), 4, _batch(rank))]
    return out


@pytest.mark.parametrize("worker", [_tensor_parallel, _fsdp2, _ddp, _fused_mlp],
                         ids=["tensor_parallel", "fsdp2", "ddp", "fused_gated_mlp"])
def test_converted_mlp_trains_as_torch_nn(worker):
    for result in distributed.run(worker):
        for name, (theirs, ours) in result.items():
            assert len(ours) == 4 and theirs[0] != theirs[-1], name  # it trained
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
