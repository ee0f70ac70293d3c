"""ONNX export of every op, with both of torch's exporters, run in
onnxruntime against eager: standard ONNX operators only, no argument to
torch.onnx.export."""

import io
import warnings

import pytest
import torch

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS, BIASED, GATED_ACTIVATIONS, POINTWISE, SOFTMAX

from helpers import make_input, param_cases

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

EXPORTERS = ["dynamo", "torchscript"]


def _every_call():
    """{label: f(x)} over every op and parameter set, on one (4, 6, 8) input."""
    calls = {}
    for spec in ACTIVATIONS:
        fn = getattr(ta.functional, spec.name, None)  # swish_learnable: ta.functional.swish with a tensor beta
        if spec.kind == POINTWISE:
            for params in param_cases(spec):
                calls[f"{spec.name}{params}"] = lambda x, fn=fn, p=params: fn(x, *p)
                if spec.inplace:
                    calls[f"{spec.name}{params} inplace"] = lambda x, fn=fn, p=params: fn(x.clone(), *p, inplace=True)
        elif spec.kind == SOFTMAX:
            for dim in (1, -1):
                calls[f"{spec.name} dim={dim}"] = lambda x, fn=fn, d=dim: fn(x, d)
        elif spec.name == "prelu":
            for weight in (torch.rand(6) * 0.5, torch.tensor([0.25])):
                calls[f"prelu weight{tuple(weight.shape)}"] = lambda x, w=weight: ta.functional.prelu(x, w)
        else:
            calls[spec.name] = lambda x: ta.functional.swish(x, torch.tensor([1.3]))
    for gated in GATED_ACTIVATIONS:
        fn = getattr(ta.functional, gated.name)
        if gated.split:
            for dim in (1, -1):
                calls[f"{gated.name} dim={dim}"] = lambda x, fn=fn, d=dim: fn(x, d)
        else:
            calls[gated.name] = lambda x, fn=fn: fn(x, torch.tanh(x.flip(0)))  # up bounded: ORT's erf GELU loses digits in the tail
    for spec in BIASED:
        bias = torch.randn(8)
        calls[f"bias_{spec.name}"] = lambda x, n=spec.name, b=bias: ta.functional.bias_activation(x, b, n)
    return calls


CALLS = _every_call()


class EveryOp(torch.nn.Module):
    def forward(self, x):
        return tuple(f(x) for f in CALLS.values())


def _export(model, args, exporter, **kwargs):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        if exporter == "dynamo":
            program = torch.onnx.export(model, args, dynamo=True, **kwargs)
            proto = program.model_proto
        else:
            torch.onnx.export(model, args, buffer, dynamo=False, **kwargs)
            proto = onnx.load_from_string(buffer.getvalue())
    return proto


def _run(proto, *args):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, {n: a.numpy() for n, a in zip(names, args)})


def _foreign_ops(proto):
    """Nodes outside the standard ONNX domain (functions of the model's own excepted)."""
    own = {f.name for f in proto.functions}
    return sorted({f"{n.domain}::{n.op_type}" for n in proto.graph.node
                   if n.domain not in ("", "ai.onnx") and n.op_type not in own})


@pytest.fixture(scope="module", params=EXPORTERS)
def exported(request):
    x = make_input((4, 6, 8), dtype=torch.float32, seed=21)
    model = EveryOp().eval()
    proto = _export(model, (x,), request.param)
    with torch.no_grad():
        eager = model(x)
    return request.param, proto, eager, _run(proto, x)


STANDARD = {"Relu", "LeakyRelu", "PRelu", "Clip", "Elu", "Selu", "Celu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid",
            "Mish", "Gelu", "Softplus", "Softmax", "LogSoftmax"}


def test_standard_operators_only(exported):
    exporter, proto, _, _ = exported
    assert not _foreign_ops(proto), f"{exporter}: {_foreign_ops(proto)}"
    missing = STANDARD - {n.op_type for n in proto.graph.node}
    assert not missing, f"{exporter}: no {sorted(missing)} in the graph"


@pytest.mark.parametrize("opset", [13, 17])
def test_torchscript_exporter_below_opset_20(opset):
    """Gelu (opset 20) and Mish (opset 18) as their compositions below."""
    x = make_input((4, 8), dtype=torch.float32, seed=22, scale=4.0)
    model = torch.nn.Sequential(ta.nn.GELU(), ta.nn.GELU(approximate="tanh"), ta.nn.Mish(), ta.nn.Softmax(dim=0))
    for block in list(model):
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(block, (x,), buffer, dynamo=False, opset_version=opset)
        proto = onnx.load_from_string(buffer.getvalue())
        assert not {"Gelu", "Mish"} & {n.op_type for n in proto.graph.node}
        torch.testing.assert_close(torch.from_numpy(_run(proto, x)[0]), block(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("label", list(CALLS))
def test_every_op_in_onnxruntime(exported, label):
    exporter, _, eager, outputs = exported
    i = list(CALLS).index(label)
    torch.testing.assert_close(torch.from_numpy(outputs[i]), eager[i], rtol=1e-5, atol=1e-5, equal_nan=True)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_saved_modes_export_the_plain_graph(exporter):
    x = torch.randn(4, 8)
    plain = ta.nn.GELU()
    coded = ta.nn.GELU(saved="uint8")
    a, b = _export(plain, (x,), exporter), _export(coded, (x,), exporter)
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
    torch.testing.assert_close(torch.from_numpy(_run(b, x)[0]), plain(x), rtol=1e-5, atol=1e-5)


def _check_model(model, args, exporter, rtol=1e-4, atol=1e-4):
    model.eval()
    proto = _export(model, args, exporter)
    assert not _foreign_ops(proto)
    with torch.no_grad():
        expected = model(*args)
    expected = expected if isinstance(expected, torch.Tensor) else expected[0]
    torch.testing.assert_close(torch.from_numpy(_run(proto, *args)[0]), expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_mlp_from_the_issue(exporter):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 16), torch.nn.Hardswish(),
                                torch.nn.Linear(16, 4), torch.nn.Softmax(dim=-1))
    model = ta.convert(model)
    assert all(type(m).__module__.startswith(("torch_activations", "torch.nn.modules.linear")) for m in model)
    _check_model(model, (torch.randn(3, 8),), exporter)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_torchvision_mobilenet_v3(exporter):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10)
    model = ta.convert(model)
    assert not [m for m in model.modules() if type(m).__module__ == "torch.nn.modules.activation"]
    _check_model(model, (torch.randn(1, 3, 64, 64),), exporter)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_huggingface_bert(exporter):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    model = ta.convert(model)
    assert type(model.encoder.layer[0].intermediate.intermediate_act_fn).__module__.startswith("torch_activations.")

    class Hidden(torch.nn.Module):  # the last hidden state of input ids (no keyword arguments to trace)
        def __init__(self):
            super().__init__()
            self.bert = model

        def forward(self, ids):
            return self.bert(input_ids=ids).last_hidden_state

    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    _check_model(Hidden(), (ids,), exporter)
