"""helpers.torch.deploy: pruning, quantization, export and timing helpers against direct PyTorch references."""

import platform

import numpy as np
import pytest
import torch
from torch import nn

from helpers.seeding import seed_everything
from helpers.torch import deploy


def _small_net():
    seed_everything(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.7])
def test_unstructured_pruning_zeroes_the_smallest_weights(amount):
    net = _small_net()
    before = [m.weight.detach().clone() for m in net if isinstance(m, nn.Conv2d)]
    pruned = deploy.prune_convs(net, amount)
    for w0, m in zip(before, [m for m in pruned if isinstance(m, nn.Conv2d)], strict=True):
        k = int(round(amount * w0.numel()))
        assert int((m.weight == 0).sum()) == k
        if k:   # every zeroed weight is no larger in magnitude than every kept one
            assert w0.abs()[m.weight == 0].max() <= w0.abs()[m.weight != 0].min()
        assert not hasattr(m, "weight_mask")
    assert torch.equal(net[0].weight, before[0])          # the original is untouched
    total = sum(w.numel() for w in before) + net[7].weight.numel()
    expected = sum(int(round(amount * w.numel())) for w in before) / total
    assert deploy.sparsity(pruned) == pytest.approx(expected)


def test_structured_pruning_removes_whole_filters_by_l2_norm():
    net = _small_net()
    norms = net[3].weight.detach().flatten(1).norm(dim=1)
    pruned = deploy.prune_convs(net, 0.25, structured=True)
    zero_filters = (pruned[3].weight.flatten(1) == 0).all(dim=1)
    assert int(zero_filters.sum()) == 4
    assert set(torch.argsort(norms)[:4].tolist()) == set(torch.nonzero(zero_filters).flatten().tolist())
    with pytest.raises(ValueError, match="amount"):
        deploy.prune_convs(net, 1.5)
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        deploy.prune_convs(nn.Linear(3, 2), 0.5)
    with pytest.raises(ValueError, match="nn.Module"):
        deploy.prune_convs("net", 0.5)


def test_quantized_models_stay_close_to_float():
    net = _small_net()
    x = torch.rand(32, 3, 16, 16)
    ref = deploy.predict(net, x)
    dynamic = deploy.quantize_dynamic_linear(net)
    assert "Linear" in type(dynamic[7]).__name__ and type(dynamic[7]) is not nn.Linear
    assert (deploy.predict(dynamic, x) - ref).abs().max() < 0.05 * ref.abs().max()
    static = deploy.quantize_static_fx(net, torch.rand(64, 3, 16, 16))
    assert (deploy.predict(static, x) - ref).abs().max() < 0.1 * ref.abs().max()
    assert deploy.state_dict_bytes(static) < deploy.state_dict_bytes(net)
    with pytest.raises(ValueError, match="calibration"):
        deploy.quantize_static_fx(net, torch.rand(3, 16, 16))


def test_exports_match_eager_and_timing_checks():
    net = _small_net()
    x = torch.rand(5, 3, 16, 16)
    ref = deploy.predict(net, x)
    scripted = deploy.to_torchscript(net, x[:1])
    assert (deploy.predict(scripted, x) - ref).abs().max() < 1e-5
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(deploy.to_onnx_bytes(net, x[:1]), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": x.numpy()})[0]          # batch 5 through a graph traced at batch 1
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-5)
    assert deploy.latency(net, x, repeats=3) > 0
    with pytest.raises(ValueError, match="callable"):
        deploy.latency(3, x)


def test_kd_loss_matches_its_formula():
    rng = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 5, generator=rng), torch.randn(6, 5, generator=rng)
    y = torch.randint(0, 5, (6,), generator=rng)
    T, a = 3.0, 0.6
    q, log_p = torch.softmax(t / T, 1), torch.log_softmax(s / T, 1)
    manual = a * T * T * (q * (q.log() - log_p)).sum(1).mean() + (1 - a) * nn.functional.cross_entropy(s, y)
    assert torch.allclose(deploy.kd_loss(s, t, y, T, a), manual, atol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        deploy.kd_loss(s, t, y, T, -0.1)


def test_bf16_native_reads_the_cpu_flags_and_agrees_with_them_here():
    assert deploy.bf16_native("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n") is True
    assert deploy.bf16_native("flags\t\t: fpu sse2 avx2 amx_bf16\n") is True
    assert deploy.bf16_native("flags\t\t: fpu sse2 avx avx2 fma\n") is False
    assert deploy.bf16_native("no flags line at all") is False
    with pytest.raises(ValueError, match="text of /proc/cpuinfo"):
        deploy.bf16_native(b"flags: avx512_bf16")
    here = deploy.bf16_native()
    assert isinstance(here, bool)
    try:
        cpuinfo = open("/proc/cpuinfo").read()
    except OSError:
        return
    if "flags" in cpuinfo and platform.machine() == "x86_64":
        assert here == deploy.bf16_native(cpuinfo)        # oneDNN and the CPU flags tell the same story on x86


def test_predict_gives_the_models_logits_in_any_slice_size_and_refuses_a_bad_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(300, 3, 8, 8)
    with torch.no_grad():
        whole = net(x)
    for size in (None, 7, 128, 1000):
        out = deploy.predict(net, x, size)
        assert out.dtype == torch.float32 and out.shape == (300, 3) and not out.requires_grad
        torch.testing.assert_close(out, whole, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be an int >= 1; got 0"):
        deploy.predict(net, x, 0)
