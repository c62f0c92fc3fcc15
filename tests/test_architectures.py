import numpy as np
import pytest
import torch
from torch import nn

from helpers.numpy.separable import (
    conv_flops,
    conv_params,
    depthwise_conv_numpy,
    pointwise_conv_numpy,
    separable_conv_numpy,
    separable_cost_ratio,
)
from helpers.torch.architectures import (
    Inception,
    SqueezeExcite,
    count_macs,
    fc_param_share,
    lenet5,
    separable_conv,
    summarize,
)
from helpers.torch.params import count_params


@pytest.mark.parametrize("c_in, c_out, k, groups, bias", [(3, 8, 3, 1, True), (8, 16, 5, 4, False),
                                                          (12, 12, 3, 12, True), (6, 10, 1, 2, True)])
def test_conv_params_and_flops_match_pytorch(c_in, c_out, k, groups, bias):
    torch.manual_seed(0)
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=bias)
    assert conv_params(c_in, c_out, k, groups, bias) == count_params(conv)
    assert conv_flops(c_in, c_out, k, 9, 7, groups) == count_macs(conv, (1, c_in, 9, 7))


def test_lenet5_and_fc_share():
    net = lenet5()
    assert count_params(net) == 61706
    assert net(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert fc_param_share(net) == pytest.approx((48120 + 10164 + 850) / 61706)
    info = summarize(net, (1, 1, 32, 32), repeats=1)
    assert info["params"] == 61706 and info["seconds"] > 0
    assert info["gmacs"] * 1e9 == pytest.approx(conv_flops(1, 6, 5, 28, 28) + conv_flops(6, 16, 5, 10, 10)
                                                 + 400 * 120 + 120 * 84 + 84 * 10)


def test_numpy_pointwise_depthwise_separable_match_pytorch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8, 8))
    torch.manual_seed(0)
    sep = separable_conv(5, 7, 3).double()
    dw, pw = sep[0], sep[1]
    ref = sep(torch.from_numpy(x)).detach().numpy()
    got = separable_conv_numpy(x, dw.weight.detach().numpy(), pw.weight.detach().numpy(),
                               dw.bias.detach().numpy(), pw.bias.detach().numpy(), padding=1)
    np.testing.assert_allclose(got, ref, atol=1e-10)
    w = rng.standard_normal((3, 5))
    np.testing.assert_allclose(pointwise_conv_numpy(x, w), np.einsum("fc,nchw->nfhw", w, x))
    assert depthwise_conv_numpy(x, rng.standard_normal((5, 1, 3, 3))).shape == (2, 5, 6, 6)


def test_separable_ratio_formula():
    c_in, c_out, k = 32, 64, 3
    sep = conv_params(c_in, c_in, k, groups=c_in, bias=False) + conv_params(c_in, c_out, 1, bias=False)
    assert sep / conv_params(c_in, c_out, k, bias=False) == pytest.approx(separable_cost_ratio(c_out, k))
    sep_f = conv_flops(c_in, c_in, k, 10, 10, groups=c_in) + conv_flops(c_in, c_out, 1, 10, 10)
    assert sep_f / conv_flops(c_in, c_out, k, 10, 10) == pytest.approx(separable_cost_ratio(c_out, k))


def test_inception_shapes_and_bottleneck_saves():
    x = torch.zeros(1, 192, 14, 14)
    cheap = Inception(192, 64, 96, 128, 16, 32, 32, bottleneck=True)
    naive = Inception(192, 64, 96, 128, 16, 32, 32, bottleneck=False)
    assert cheap(x).shape == naive(x).shape == (1, 256, 14, 14)
    assert count_params(cheap) < count_params(naive) / 2
    assert count_macs(cheap, x.shape) < count_macs(naive, x.shape) / 2


def test_squeeze_excite_gates():
    torch.manual_seed(0)
    se = SqueezeExcite(8, reduction=2)
    x = torch.randn(3, 8, 5, 5)
    y = se(x)
    g = se.last_gates
    assert g.shape == (3, 8) and bool(((g > 0) & (g < 1)).all())
    torch.testing.assert_close(y, x * g[:, :, None, None])


@pytest.mark.parametrize("call, match", [
    (lambda: conv_params(3, 8, 0), "k"),
    (lambda: conv_params(6, 8, 3, groups=4), "groups"),
    (lambda: conv_flops(3, 8, 3, 0, 4), "out_h"),
    (lambda: pointwise_conv_numpy(np.zeros((1, 3, 4, 4)), np.zeros((2, 4))), "channels"),
    (lambda: depthwise_conv_numpy(np.zeros((1, 3, 4, 4)), np.zeros((2, 1, 3, 3))), "depthwise"),
    (lambda: SqueezeExcite(4, reduction=8), "reduction"),
    (lambda: count_macs(nn.Identity(), (0, 3)), "input_shape"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_small_cifar_net_designs_differ_only_in_their_convolutions():
    from helpers.torch.architectures import SMALL_NET_DESIGNS, small_cifar_net

    nets = {d: small_cifar_net(d, widths=(8, 16), blocks_per_stage=1) for d in SMALL_NET_DESIGNS}
    x = torch.randn(2, 3, 32, 32)
    for net in nets.values():
        assert net(x).shape == (2, 10)
    macs = {d: count_macs(net, (1, 3, 32, 32)) for d, net in nets.items()}
    params = {d: count_params(net) for d, net in nets.items()}
    assert macs["separable"] < macs["standard"] / 2 and params["separable"] < params["standard"]
    assert params["separable+se"] > params["separable"]                  # SE adds its two small linear layers
    assert sum(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in nets["separable"].modules()) == 2
    assert sum(isinstance(m, SqueezeExcite) for m in nets["separable+se"].modules()) == 2
    with pytest.raises(ValueError, match="design must be one of"):
        small_cifar_net("mobile")


@pytest.mark.parametrize("design", ["standard", "separable", "separable+se"])
def test_committed_efficient_cnn_matches_its_log(design):
    from helpers import data
    from helpers.torch.architectures import load_small_cifar_net

    model, log = load_small_cifar_net(design)      # strict: every name and shape must match today's builder
    assert log["model"]["design"] == design and count_params(model[1]) == log["model"]["parameters"]
    assert count_macs(model[1], (1, 3, 32, 32)) == log["model"]["macs_per_image"]
    assert len(log["runs"]) == 3 and log["runs"][0]["seed"] == log["stored_seed"]
    try:
        test = data.load_cifar10("test", download=False)
    except data.DataUnavailableError:
        pytest.skip("set CNN_BOOK_DATA to the offline data folder")
    pick = data.few_shot_indices(test.y, 200, seed=0)
    x = torch.from_numpy(test.x[pick]).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        acc = (model(x).argmax(1) == torch.from_numpy(test.y[pick])).float().mean().item()
    assert acc == pytest.approx(log["runs"][0]["test_acc"], abs=0.002)
