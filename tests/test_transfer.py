import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.data import few_shot_indices
from helpers.torch.modes import set_frozen_bn_eval
from helpers.torch.params import count_params
from helpers.torch.resnet import CifarResNet
from helpers.torch.transfer import (
    digits_to_rgb32,
    extract_features,
    fine_tune,
    freeze,
    linear_probe,
    param_groups_with_lr,
    replace_head,
)


def small_net(seed=0):
    torch.manual_seed(seed)
    return CifarResNet(8, width=4)


def test_digits_to_rgb32():
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    t = digits_to_rgb32(x)
    assert t.shape == (5, 3, 32, 32) and t.dtype == torch.float32
    assert torch.equal(t[:, 0], t[:, 2]) and float(t[:, :, :2].abs().max()) == 0.0
    np.testing.assert_allclose(t[:, 1, 2:30, 2:30].numpy(), x / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="28, 28"):
        digits_to_rgb32(np.zeros((2, 32, 32)))


def test_few_shot_indices():
    labels = np.repeat(np.arange(4), 30)
    idx = few_shot_indices(labels, 5, seed=1)
    assert len(idx) == 20 and np.array_equal(np.bincount(labels[idx]), [5] * 4)
    assert np.array_equal(idx, few_shot_indices(labels, 5, seed=1))
    assert not np.array_equal(idx, few_shot_indices(labels, 5, seed=2))
    with pytest.raises(ValueError, match="fewer"):
        few_shot_indices(labels, 31)
    with pytest.raises(ValueError, match="per_class"):
        few_shot_indices(labels, 0)


def test_freeze_replace_head_and_count():
    net = small_net()
    total = sum(p.numel() for p in net.parameters())
    assert (count_params(net, trainable_only=True), count_params(net)) == (total, total)
    freeze(net, except_="head")
    assert count_params(net, trainable_only=True) == 16 * 10 + 10
    new = replace_head(net, 3, seed=0)
    assert net.head[2] is new and new.out_features == 3 and new.in_features == 16
    assert count_params(net, trainable_only=True) == 16 * 3 + 3
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="no parameter"):
        freeze(net, except_="hed")
    with pytest.raises(ValueError, match="classes"):
        replace_head(net, 0)


def test_extract_features_is_the_pooled_penultimate_layer():
    net = small_net().train()
    x = torch.randn(7, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    feats = extract_features(net, x, batch_size=3)
    assert net.training                                   # mode restored
    net.eval()
    with torch.no_grad():
        expected = net.blocks(net.stem(x)).mean(dim=(2, 3))
        torch.testing.assert_close(feats, expected)
        torch.testing.assert_close(net.head[2](feats), net(x))


def test_param_groups_with_lr():
    net = small_net()
    freeze(net, except_=("blocks.2", "head"))
    groups = param_groups_with_lr(net, {"head": 0.1}, default=0.01)
    lrs = {g["lr"]: sum(p.numel() for p in g["params"]) for g in groups}
    assert lrs[0.1] == 16 * 10 + 10
    assert lrs[0.1] + lrs[0.01] == count_params(net, trainable_only=True)
    with pytest.raises(ValueError, match="no parameter"):
        param_groups_with_lr(net, {"tail": 0.1}, default=0.01)
    with pytest.raises(ValueError, match=r"learning rate for 'head' must be a finite number in \[0, inf\)"):
        param_groups_with_lr(net, {"head": -1.0}, default=0.01)
    with pytest.raises(ValueError, match="default learning rate must be a finite number"):
        param_groups_with_lr(net, {"head": 0.1}, default=float("nan"))


def test_frozen_batch_norm_keeps_its_statistics_in_fine_tune():
    net = small_net()
    freeze(net, except_="head")
    before = net.stem[1].running_mean.clone()
    x = torch.randn(20, 3, 32, 32, generator=torch.Generator().manual_seed(1)) + 2.0
    y = torch.arange(20) % 10
    opt = torch.optim.SGD(param_groups_with_lr(net, {}, default=0.1))
    fine_tune(net, x, y, opt, steps=3, batch_size=10, seed=0)
    assert torch.equal(net.stem[1].running_mean, before)
    net.train()
    assert set_frozen_bn_eval(net) == 9                   # stem, 2 per block x 3, 2 projection shortcuts
    net.train()
    net(x)                                                # train mode updates them
    assert not torch.equal(net.stem[1].running_mean, before)


def test_fine_tune_is_seeded_and_learns():
    y = torch.arange(40) % 4
    x = torch.randn(40, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    x[:, 0] += 2.0 * y[:, None, None]                     # a learnable signal: the class shifts one channel
    runs = []
    for _ in range(2):
        net = small_net()
        replace_head(net, 4, seed=0)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        runs.append(fine_tune(net, x, y, opt, steps=30, batch_size=20, seed=0))
    assert runs[0] == runs[1]
    assert np.mean(runs[0][-4:]) < 0.5 * np.mean(runs[0][:2])
    assert net.training and all(m.training for m in net.modules())  # back in the mode it had (train)
    net.eval()
    fine_tune(net, x, y, opt, steps=1, batch_size=20, seed=0)
    assert not any(m.training for m in net.modules())               # ... or eval, if it was in eval
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        fine_tune(net, x, y, opt, steps=0)


def test_linear_probe_separates_clusters():
    gen = torch.Generator().manual_seed(0)
    centers = 3 * torch.randn(3, 5, generator=gen)
    y = torch.arange(90) % 3
    feats = centers[y] + 0.5 * torch.randn(90, 5, generator=gen)
    head = linear_probe(feats, y, 3, steps=100, lr=0.5)
    assert float((head(feats).argmax(1) == y).float().mean()) == 1.0
    assert isinstance(head, nn.Linear)
    with pytest.raises(ValueError, match="labels"):
        linear_probe(feats, y[:5], 3)


def test_linear_probe_lbfgs_reaches_a_lower_loss_than_the_same_budget_of_gradient_descent():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, 20, generator=gen, dtype=torch.float64)
    y = (x[:, :3] @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) > 0).long() + (x[:, 3] > 1).long()
    wd = 1e-2

    def loss_and_grad(head):
        head.zero_grad()
        loss = F.cross_entropy(head(x), y) + 0.5 * wd * (head.weight ** 2).sum()
        loss.backward()
        return float(loss), max(float(p.grad.abs().max()) for p in head.parameters())

    gd_loss, _ = loss_and_grad(linear_probe(x, y, 3, steps=50, weight_decay=wd))
    lb_loss, lb_grad = loss_and_grad(linear_probe(x, y, 3, steps=50, weight_decay=wd, solver="lbfgs"))
    assert lb_loss < gd_loss and lb_grad < 1e-4              # at the minimum of the convex loss: gradient ~ 0
    with pytest.raises(ValueError, match="solver"):
        linear_probe(x, y, 3, solver="adam")
