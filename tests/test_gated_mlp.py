"""convert(model, fuse=True): the gated MLPs of Hugging Face and timm models
become GatedMLP on their very own Parameters; outputs, gradients and AdamW
losses equal torch.nn's; backward keeps gate and up, not the product."""

import copy

import pytest
import torch

import torch_activations as ta
from torch_activations.gated_mlp import GatedMLP

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=64)


def _hf(name):
    if name == "t5":
        config = transformers.T5Config(vocab_size=64, d_model=32, d_ff=48, d_kv=8, num_layers=2, num_heads=4,
                                       feed_forward_proj="gated-gelu", dropout_rate=0.0)
        return transformers.T5ForConditionalGeneration(config)
    configs = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM, {}),
        "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM, {}),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM, {}),
        "qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM, {"head_dim": 8}),
        "gemma": (transformers.GemmaConfig, transformers.GemmaForCausalLM, {"head_dim": 8}),
        "gemma2": (transformers.Gemma2Config, transformers.Gemma2ForCausalLM, {"head_dim": 8}),
        "phi3": (transformers.Phi3Config, transformers.Phi3ForCausalLM, {"pad_token_id": 0}),
    }
    config_cls, model_cls, extra = configs[name]
    return model_cls(config_cls(**SMALL, **extra))


HF_MODELS = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "t5"]
MLP_CLASSES = ("MLP", "DenseGatedActDense")


def _inputs(name):
    ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(1))
    return {"input_ids": ids, "decoder_input_ids": ids[:, :6]} if name == "t5" else {"input_ids": ids}


def _known_mlps(model):
    return [p for p, m in model.named_modules() if type(m).__name__.endswith(MLP_CLASSES) and not isinstance(m, GatedMLP)]


def _loss(model, kwargs):
    logits = model(**kwargs).logits
    return logits.double().square().mean()


@pytest.mark.parametrize("name", HF_MODELS)
def test_hugging_face_models(name):
    torch.manual_seed(0)
    model = _hf(name).double()
    assert _known_mlps(model)
    fused = ta.convert(model, fuse=True)
    assert _known_mlps(fused) == [] and any(isinstance(m, GatedMLP) for m in fused.modules())
    assert list(fused.state_dict()) == list(model.state_dict())
    for (k, a), b in zip(model.state_dict().items(), fused.state_dict().values()):
        assert torch.equal(a, b), k
    kwargs = _inputs(name)
    for m in (model, fused):
        m.train()
    la, lb = _loss(model, kwargs), _loss(fused, kwargs)
    torch.testing.assert_close(lb, la, rtol=1e-12, atol=1e-12)
    ga = torch.autograd.grad(la, list(model.parameters()))
    gb = torch.autograd.grad(lb, list(fused.parameters()))
    for a, b in zip(ga, gb):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    # five AdamW steps: the same losses
    losses = []
    for m in (model, fused):
        opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
        run = []
        for _ in range(5):
            opt.zero_grad()
            loss = _loss(m, kwargs)
            loss.backward()
            opt.step()
            run.append(loss.item())
        losses.append(run)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-9, atol=1e-12)


def test_same_parameters_and_an_optimizer_built_before():
    torch.manual_seed(0)
    model = _hf("llama")
    mlp = model.model.layers[0].mlp
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ta.convert(model, inplace=True, fuse=True)
    fused = model.model.layers[0].mlp
    assert isinstance(fused, GatedMLP) and fused.gate_proj is mlp.gate_proj and fused.down_proj.weight is mlp.down_proj.weight
    before = fused.down_proj.weight.detach().clone()
    _loss(model, _inputs("llama")).backward()
    opt.step()
    assert not torch.equal(before, fused.down_proj.weight)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_float32_and_bfloat16_within_tolerance(dtype):
    torch.manual_seed(0)
    model = _hf("llama").to(dtype)
    fused = ta.convert(model, fuse=True)
    kwargs = _inputs("llama")
    tol = {torch.float32: 1e-5, torch.bfloat16: 2e-2}[dtype]
    torch.testing.assert_close(fused(**kwargs).logits, model(**kwargs).logits, rtol=tol, atol=tol)


def _mlp(activation="silu", **kwargs):
    torch.manual_seed(0)
    return GatedMLP(16, 24, activation, **kwargs).double()


def _saved_bytes(fn):
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def _composite(mlp, x):
    gate, up = mlp.gate_proj(x), mlp.up_proj(x)
    act = {"silu": torch.nn.functional.silu, "relu": torch.relu,
           "gelu": lambda v: torch.nn.functional.gelu(v, approximate=mlp.gating.params[0])}[mlp.gating.activation]
    return mlp.down_proj(act(gate) * up)


@pytest.mark.parametrize("recompute", [True, False])
@pytest.mark.parametrize("activation, approximate", [("silu", "none"), ("gelu", "none"), ("gelu", "tanh"), ("relu", "none")])
def test_module_against_the_composite(activation, approximate, recompute):
    mlp = _mlp(activation, approximate=approximate, recompute=recompute, bias=True)
    x = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    y, yc = mlp(x), _composite(mlp, x)
    torch.testing.assert_close(y, yc, rtol=1e-12, atol=1e-12)
    params = [x, *mlp.parameters()]
    g = torch.randn_like(y)
    for a, b in zip(torch.autograd.grad(y, params, g), torch.autograd.grad(yc, params, g)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda v: mlp(v), (x[:1, :2].detach().requires_grad_(),))


def test_saved_bytes_half_of_torch_nn():
    """Of what backward keeps beyond the input and the weights: gate and up
    (recompute) against torch.nn's gate, act(gate), up and the product."""
    mlp = _mlp().float()
    x = torch.randn(64, 16, requires_grad=True)
    weights = sum(p.numel() * 4 for p in mlp.parameters()) + x.numel() * 4
    intermediate = 64 * 24 * 4
    torch_nn = _saved_bytes(lambda: _composite(mlp, x)) - weights
    assert torch_nn == 4 * intermediate, torch_nn
    assert _saved_bytes(lambda: mlp(x)) - weights == 2 * intermediate
    mlp.recompute = False
    assert _saved_bytes(lambda: mlp(x)) - weights == 3 * intermediate


def test_compile_fullgraph_and_export():
    mlp = _mlp()
    x = torch.randn(4, 16, dtype=torch.float64, requires_grad=True)
    torch._dynamo.reset()
    compiled = torch.compile(mlp, fullgraph=True, backend="aot_eager")
    y, yc = mlp(x), compiled(x)
    torch.testing.assert_close(yc, y)
    torch.testing.assert_close(torch.autograd.grad(yc.sum(), x)[0], torch.autograd.grad(y.sum(), x)[0])
    program = torch.export.export(mlp.eval(), (x.detach(),))
    torch.testing.assert_close(program.module()(x.detach()), mlp(x.detach()))


def test_activation_checkpointing():
    mlp = _mlp()
    x = torch.randn(4, 16, dtype=torch.float64, requires_grad=True)
    y = torch.utils.checkpoint.checkpoint(mlp, x, use_reentrant=False)
    (g,) = torch.autograd.grad(y.sum(), x)
    (g_plain,) = torch.autograd.grad(mlp(x).sum(), x)
    torch.testing.assert_close(g, g_plain)


def test_timm_glu_mlp_and_swiglu():
    timm = pytest.importorskip("timm")
    from timm.layers import GluMlp, SwiGLU

    torch.manual_seed(0)
    model = torch.nn.Sequential(GluMlp(16, 48, act_layer=torch.nn.SiLU, gate_last=False),
                                GluMlp(16, 48, act_layer=torch.nn.Sigmoid),  # GLU: the second half gates
                                GluMlp(16, 48, act_layer=torch.nn.SiLU, gate_last=True),
                                SwiGLU(16, 24),
                                SwiGLU(16, 24, norm_layer=torch.nn.LayerNorm)).double()
    fused = ta.convert(model, fuse=True)
    assert [type(m).__name__ for m in fused] == ["GatedMLP"] * 4 + ["SwiGLU"]
    kept = [f for f in ta.find_activations(model, fuse=True) if f.path == "4"]
    assert kept and kept[0].replacement is None and "norm" in kept[0].reason
    x = torch.randn(3, 16, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fused(x), model(x), rtol=1e-12, atol=1e-12)
    (ga,), (gb,) = torch.autograd.grad(model(x).sum(), x), torch.autograd.grad(fused(x).sum(), x)
    torch.testing.assert_close(gb, ga, rtol=1e-10, atol=1e-12)
    # a timm model built on GluMlp
    eva = timm.create_model("eva02_tiny_patch14_224", pretrained=False, img_size=28, depth=2, num_classes=5,
                            ref_feat_shape=(2, 2)).double().eval()
    converted = ta.convert(eva, fuse=True)
    assert not [m for m in converted.modules() if type(m) in (GluMlp, SwiGLU)]
    image = torch.randn(1, 3, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(converted(image), eva(image), rtol=1e-10, atol=1e-10)


def test_find_activations_lists_what_it_fuses_and_keeps():
    model = _hf("llama")
    found = ta.find_activations(model, fuse=True)
    mlps = [f for f in found if f.cls.endswith("LlamaMLP")]
    assert len(mlps) == 2 and all(f.replacement == "torch_activations.nn.GatedMLP" for f in mlps)
    assert not [f for f in found if ".mlp.act_fn" in f.path]  # fused with its MLP
    hooked = copy.deepcopy(model)
    hooked.model.layers[0].mlp.up_proj.register_forward_hook(lambda *a: None)
    why = {f.path: f for f in ta.find_activations(hooked, fuse=True)}["model.layers.0.mlp"]
    assert why.replacement is None and "hooks" in why.reason
    assert isinstance(ta.convert(hooked, fuse=True).model.layers[1].mlp, GatedMLP)
    assert not isinstance(ta.convert(hooked, fuse=True).model.layers[0].mlp, GatedMLP)


def test_dropout_between_runs_as_torch():
    """T5's dropout between the gate and wo: in training, the composition (the same
    random stream as torch.nn's)."""
    config = transformers.T5Config(vocab_size=64, d_model=32, d_ff=48, d_kv=8, num_layers=1, num_heads=4,
                                   feed_forward_proj="gated-gelu", dropout_rate=0.3)
    torch.manual_seed(0)
    model = transformers.T5ForConditionalGeneration(config).train()
    fused = ta.convert(model, fuse=True)
    kwargs = _inputs("t5")
    torch.manual_seed(5)
    a = model(**kwargs).logits
    torch.manual_seed(5)
    b = fused(**kwargs).logits
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_bad_activation():
    with pytest.raises(ValueError, match="torch_activations.GatedMLP: no fused gated op for activation 'tanh'"):
        GatedMLP(4, 8, "tanh")
