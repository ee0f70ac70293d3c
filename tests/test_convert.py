"""convert() and find_activations(): every known activation module swapped for
its drop-in with its state, outputs and gradients unchanged, nothing known
left behind; Hugging Face models built from config with random weights."""

import copy
import importlib.util

import pytest
import torch
import torch.nn.functional as F

import torch_activations as ta
from torch_activations.registry import ACTIVATIONS

TWINS = [a for a in ACTIVATIONS if a.torch_module is not None]


def _twin_instance(act):
    params = {"dim": -1} if act.kind == "softmax" else {}
    if act.name == "prelu":
        params = {"num_parameters": 6}
    return act.torch_module(**params)


def _outputs_and_grads(model, x):
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    out.backward(torch.randn_like(out, generator=torch.Generator().manual_seed(1)))
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    return out.detach(), x.grad, grads


@pytest.mark.parametrize("act", TWINS, ids=[a.name for a in TWINS])
def test_every_torch_twin_is_replaced_with_equal_results(act):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 6), _twin_instance(act), torch.nn.Linear(6, 3))
    converted = ta.convert(model)
    assert type(converted[1]).__module__ == "torch_activations.nn"
    assert isinstance(converted[1], act.torch_module)
    assert type(model[1]) is act.torch_module, "inplace=False must leave the model as it was"
    x = torch.randn(5, 6) * 3
    for a, b in zip(_outputs_and_grads(model, x), _outputs_and_grads(converted, x)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not [f for f in ta.find_activations(converted) if f.replacement]


def test_state_is_kept():
    prelu = torch.nn.PReLU(4, init=0.3)
    relu = torch.nn.ReLU(inplace=True)
    calls = []
    relu.register_forward_hook(lambda *args: calls.append(1))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), prelu, relu, torch.nn.Softplus(beta=2.0, threshold=5.0))
    model.eval()
    out = ta.convert(model, inplace=True)
    assert out is model
    assert isinstance(model[1], ta.nn.PReLU) and model[1].weight is prelu.weight  # an optimizer keeps it
    assert isinstance(model[2], ta.nn.ReLU) and model[2].inplace
    assert (model[3].beta, model[3].threshold) == (2.0, 5.0)
    assert not any(m.training for m in model.modules())
    model(torch.randn(2, 3, 5, 5))
    assert calls == [1]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight"]


def test_copy_converts_a_copy():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.PReLU())
    converted = ta.convert(model)
    assert converted is not model and type(model[1]) is torch.nn.PReLU
    assert converted[1].weight is not model[1].weight
    torch.testing.assert_close(converted[1].weight, model[1].weight)


def test_a_shared_module_stays_shared():
    act = torch.nn.GELU()
    model = torch.nn.ModuleDict({"a": torch.nn.Sequential(act), "b": torch.nn.Sequential(act)})
    converted = ta.convert(model)
    assert isinstance(converted["a"][0], ta.nn.GELU) and converted["a"][0] is converted["b"][0]


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)
        self.act = torch.nn.SiLU()
        self.gate = torch.nn.Sigmoid()

    def forward(self, x):
        return F.gelu(self.fc(x)) * self.gate(self.act(x))  # a call convert() cannot reach


class MyReLU(torch.nn.ReLU):
    def forward(self, x):
        return super().forward(x) * 2


def test_include_exclude_and_what_is_kept():
    model = torch.nn.Sequential(Block(), Block(), torch.nn.Hardtanh(-2, 2), MyReLU(), torch.nn.ReLU())
    only_first = ta.convert(model, include=["0"])
    assert isinstance(only_first[0].act, ta.nn.SiLU) and type(only_first[1].act) is torch.nn.SiLU
    no_silu = ta.convert(model, exclude=[torch.nn.SiLU])
    assert type(no_silu[0].act) is torch.nn.SiLU and isinstance(no_silu[0].gate, ta.nn.Sigmoid)
    by_glob = ta.convert(model, include=["*.gate"], exclude=["1.gate"])
    assert isinstance(by_glob[0].gate, ta.nn.Sigmoid) and type(by_glob[1].gate) is torch.nn.Sigmoid
    by_class_name = ta.convert(model, include=["ReLU"])
    assert isinstance(by_class_name[4], ta.nn.ReLU) and type(by_class_name[0].act) is torch.nn.SiLU

    found = {(f.path, f.cls): f for f in ta.find_activations(model)}
    assert found["0.act", "torch.nn.SiLU"].replacement == "torch_activations.nn.SiLU"
    assert found["2", "torch.nn.Hardtanh"].replacement is None
    assert "no exact twin" in found["2", "torch.nn.Hardtanh"].reason
    kept = [f for f in found.values() if f.path == "3"]
    assert kept and kept[0].replacement is None and "subclass" in kept[0].reason
    calls = [f for f in found.values() if f.cls == "F.gelu"]
    assert calls and "Block.forward" in calls[0].reason and "test_convert.py:" in calls[0].reason
    converted = ta.convert(model)
    assert type(converted[3]) is MyReLU  # its own forward is kept
    x = torch.randn(3, 4)
    torch.testing.assert_close(converted(x), model(x))


def test_bad_selector_and_model():
    with pytest.raises(TypeError, match="convert"):
        ta.convert(torch.nn.Sequential(torch.nn.ReLU()), include=[3])
    with pytest.raises(TypeError, match="nn.Module"):
        ta.convert(lambda x: x)


def test_compiles_after_conversion():
    model = ta.convert(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 2)))
    x = torch.randn(4, 8)
    torch.testing.assert_close(torch.compile(model, fullgraph=True)(x), model(x))


# ---------------------------------------------------------------- transformers

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
needs_transformers = pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed "
                                        "(scripts/setup_env.sh installs it)")


def _hf_models():
    import transformers as tf

    small = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2)
    yield "bert", tf.BertModel(tf.BertConfig(vocab_size=50, hidden_act="gelu", **small)), "ids"
    yield "bert-gelu-new", tf.BertModel(tf.BertConfig(vocab_size=50, hidden_act="gelu_new", **small)), "ids"
    yield "gpt2", tf.GPT2Model(tf.GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=4)), "ids"
    yield "llama", tf.LlamaModel(tf.LlamaConfig(vocab_size=50, num_key_value_heads=2, **small)), "ids"
    yield "t5", tf.T5EncoderModel(tf.T5Config(vocab_size=50, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                               num_heads=4, feed_forward_proj="gated-gelu")), "ids"
    yield "clip-quickgelu", tf.CLIPVisionModel(tf.CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
        image_size=16, patch_size=8, hidden_act="quick_gelu")), "pixels"
    yield "vit", tf.ViTModel(tf.ViTConfig(image_size=16, patch_size=8, **small)), "pixels"


def _known_hf(module):
    from torch_activations.convert import _HF_MODULE, _HF_TWINS

    return type(module).__module__ == _HF_MODULE and type(module).__name__ in _HF_TWINS


@needs_transformers
def test_hugging_face_models_convert_exactly():
    torch.manual_seed(0)
    for name, model, kind in _hf_models():
        model.eval()
        inputs = (torch.randint(0, 50, (2, 7)),) if kind == "ids" else (torch.randn(2, 3, 16, 16),)
        converted = ta.convert(model)
        leftover = [f"{p}: {type(m).__name__}" for p, m in converted.named_modules()
                    if _known_hf(m) or type(m) in {a.torch_module for a in TWINS}]
        assert not leftover, f"{name}: {leftover}"
        assert any(type(m).__module__ == "torch_activations.nn" for m in converted.modules()), name

        def run(m):
            out = m(*inputs).last_hidden_state
            params = [p for p in m.parameters() if p.requires_grad]
            grads = torch.autograd.grad(out.square().sum(), params, allow_unused=True)  # the pooler is unused
            return out, [g for g in grads if g is not None]

        (out_a, grads_a), (out_b, grads_b) = run(model), run(converted)
        torch.testing.assert_close(out_b, out_a, rtol=1e-4, atol=1e-5, msg=name)
        assert len(grads_a) == len(grads_b) > 0, name
        # float rounding of an equal formula, against the scale of the model's
        # gradients (some, such as attention key biases, are zero but for rounding)
        scale = max(g.abs().max().item() for g in grads_a)
        for ga, gb in zip(grads_a, grads_b):
            torch.testing.assert_close(gb, ga, rtol=1e-4, atol=1e-5 * scale, msg=name)
