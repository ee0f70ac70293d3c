"""Where a converted model goes besides eager: torch.compile (our ops in the
graph, no graph break), torch.export and AOTInductor (a package loaded in a
fresh process), torchvision's models through convert(), and an import of the
library that brings in none of the optional parts of torch."""

import os
import subprocess
import sys

import pytest
import torch

import torch_activations as ta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 16), torch.nn.Hardswish(),
                               torch.nn.Linear(16, 4), torch.nn.Softmax(dim=-1))


def test_compiled_graph_holds_our_ops():
    """fullgraph=True raises on a graph break; the graph Inductor gets calls our ops."""
    torch._dynamo.reset()
    model = ta.convert(_mlp())
    seen = []

    def backend(gm, example_inputs):
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd

        def record(graph, _):
            seen.extend(str(n.target) for n in graph.graph.nodes if n.op == "call_function")
            return make_boxed_func(graph.forward)

        return aot_autograd(fw_compiler=record, bw_compiler=record)(gm, example_inputs)

    x = torch.randn(3, 8, requires_grad=True)
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    compiled(x).sum().backward()
    for op in ("gelu", "gelu_backward", "hardswish", "hardswish_backward", "softmax", "softmax_backward"):
        assert f"torch_activations.{op}.default" in seen, (op, seen)
    assert not any(name.startswith("aten.gelu") or name.startswith("aten.hardswish") for name in seen)


def test_import_brings_no_optional_part_of_torch():
    """The DTensor and ONNX integrations wait for their import; nor is the compiler loaded."""
    code = ("import sys, torch_activations; "
            "print(sorted(m for m in ('torch._dynamo', 'torch.distributed.tensor', 'torch.onnx', 'onnx', 'onnxruntime', "
            "'timm', 'torchvision', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_integrations_register_once_their_part_is_imported():
    code = ("import torch, torch_activations, torch.distributed.tensor, torch.onnx; "
            "from torch.distributed.tensor import DTensor; from torch._decomp import decomposition_table; "
            "prop = DTensor._op_dispatcher.sharding_propagator; "
            "from torch.onnx._internal.exporter import _decomp; "
            "op = torch.ops.torch_activations.gelu.default; "
            "print(op in prop.op_strategy_funcs, op in _decomp.create_onnx_friendly_decomposition_table(set()), "
            "op in decomposition_table)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    # the exporter's table has the op; torch._decomp's (Inductor reads it) has not
    assert out.stdout.strip() == "True True False", out.stdout + out.stderr


def test_export_and_aoti_in_a_fresh_process(tmp_path):
    import torch.onnx  # noqa: F401  (its integration registered: Inductor still compiles our ops as they are)

    model = ta.convert(_mlp()).eval()
    x = torch.randn(5, 8)
    program = torch.export.export(model, (x,))
    assert any("torch_activations.gelu" in str(n.target) for n in program.graph.nodes)
    torch.testing.assert_close(program.module()(x), model(x))
    package = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "mlp.pt2"))
    torch.save({"x": x, "y": model(x).detach()}, tmp_path / "io.pt")
    code = (f"import torch, torch_activations; io = torch.load({str(tmp_path / 'io.pt')!r}); "
            f"m = torch._inductor.aoti_load_package({package!r}); "
            "torch.testing.assert_close(m(io['x']), io['y']); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.stdout.strip().endswith("ok"), out.stdout + out.stderr


TORCHVISION = ["mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf", "convnext_tiny", "vit_b_16", "swin_t"]


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_models_convert_whole(name):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    kwargs = {"image_size": 32} if name.startswith("vit") else {}
    model = torchvision.models.get_model(name, weights=None, num_classes=10, **kwargs).double().eval()
    converted = ta.convert(model)
    twins = {a.torch_module for a in ta.registry.ACTIVATIONS if a.torch_module is not None}
    assert not [p for p, m in converted.named_modules() if type(m) in twins]
    assert any(type(m).__module__.startswith("torch_activations.") for m in converted.modules())
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    y, y_ours = model(x), converted(x)
    torch.testing.assert_close(y_ours, y, rtol=1e-10, atol=1e-10)
    (g,), (g_ours,) = torch.autograd.grad(y.sum(), x), torch.autograd.grad(y_ours.sum(), x)
    torch.testing.assert_close(g_ours, g, rtol=1e-10, atol=1e-10)
