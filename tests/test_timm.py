"""convert() on timm models (from config, random weights): every activation
class timm defines with the same math is swapped, and the model computes what
it did, values and gradients, in float64."""

import pytest
import torch

import torch_activations as ta

timm = pytest.importorskip("timm", reason="timm is a test dependency (scripts/setup_env.sh installs it)")
from timm.layers import activations as timm_act  # noqa: E402
from timm.layers import activations_me as timm_act_me  # noqa: E402

MODELS = ["resnet18", "mobilenetv3_small_100", "efficientnet_b0", "convnext_atto", "vit_tiny_patch16_224",
          "levit_128s", "ghostnet_100"]
TIMM_MODULES = ("timm.layers.activations", "timm.layers.activations_me")
KNOWN = {"Swish", "SwishMe", "Mish", "MishMe", "Sigmoid", "Tanh", "HardSwish", "HardSwishMe", "HardSigmoid",
         "HardSigmoidMe", "GELU", "GELUTanh", "QuickGELU", "PReLU"}


def _known_left(model):
    twins = {a.torch_module for a in ta.registry.ACTIVATIONS if a.torch_module is not None}
    return [(path, type(m).__name__) for path, m in model.named_modules()
            if (type(m).__module__ in TIMM_MODULES and type(m).__name__ in KNOWN) or type(m) in twins]


def _value_and_grads(model, x):
    x = x.clone().requires_grad_()
    y = model(x)
    grads = torch.autograd.grad(y.sum(), [x, *model.parameters()], allow_unused=True)
    return y.detach(), grads


@pytest.mark.parametrize("name", MODELS)
def test_convert_swaps_every_known_class_and_keeps_the_math(name):
    torch.manual_seed(0)
    size = 224 if name.startswith(("vit", "levit")) else 64
    model = timm.create_model(name, pretrained=False, num_classes=10).double().eval()
    converted = ta.convert(model)
    assert _known_left(converted) == []
    assert len(_known_left(model)) > 0  # there was something to swap
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    y, grads = _value_and_grads(model, x)
    yc, grads_c = _value_and_grads(converted, x)
    torch.testing.assert_close(yc, y, rtol=1e-10, atol=1e-10)
    for g, gc in zip(grads, grads_c):
        if g is None:
            assert gc is None
        else:
            torch.testing.assert_close(gc, g, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("cls", [timm_act.Swish, timm_act.Mish, timm_act.Sigmoid, timm_act.Tanh, timm_act.HardSwish,
                                 timm_act.HardSigmoid, timm_act.GELU, timm_act.GELUTanh, timm_act.QuickGELU,
                                 timm_act_me.SwishMe, timm_act_me.MishMe, timm_act_me.HardSwishMe,
                                 timm_act_me.HardSigmoidMe])
def test_each_timm_class(cls, inplace):
    module = torch.nn.Sequential(torch.nn.Identity(), cls(inplace=inplace))
    found = ta.find_activations(module)
    assert [f.replacement is not None for f in found] == [True], found
    converted = ta.convert(module)
    assert type(converted[1]).__module__.startswith("torch_activations")
    x = (torch.randn(64, dtype=torch.float64) * 4).clamp(-2.9, 2.9) if "Hard" in cls.__name__ else \
        torch.randn(64, dtype=torch.float64) * 4
    x = torch.cat([x, torch.tensor([0.0, 10.0, -10.0], dtype=torch.float64)])
    expected = module(x.clone())
    got = converted(x.clone())
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    if inplace and getattr(converted[1], "inplace", False):
        xi = x.clone()
        assert converted(xi) is xi  # in place, as timm's


def test_timm_prelu_keeps_its_weight_and_hard_mish_is_kept():
    prelu = timm_act.PReLU(num_parameters=3, init=0.1)
    model = torch.nn.Sequential(prelu, timm_act.HardMish())
    converted = ta.convert(model, inplace=True)
    assert isinstance(converted[0], ta.nn.PReLU) and converted[0].weight is prelu.weight
    kept = [f for f in ta.find_activations(converted) if f.replacement is None and not f.cls.startswith("torch_act")]
    assert [f.cls for f in kept] == ["timm.layers.activations.HardMish"]
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(converted[0](x), torch.nn.functional.prelu(x, prelu.weight))
