"""FGSM, PGD, robust accuracy, adversarial training and the bit-depth defence (helpers.torch.attacks).

A tiny classifier is trained in a second on a synthetic two-class image problem, so the
attacks have a real decision boundary to push images across.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import helpers.torch.attacks as attacks_module
from helpers.torch.attacks import (
    BitDepth,
    adversarial_train_epoch,
    bit_depth,
    fgsm,
    margin_loss,
    pgd,
    robust_accuracy,
    worst_case_accuracy,
)
from helpers.torch.metrics import accuracy, predict_labels
from helpers.torch.models import Normalize, mnist_classifier


def _toy_data(n=256, seed=0):
    """A faint blob on the left half (class 0) or the right half (class 1), plus noise, in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    x = 0.3 + 0.2 * torch.rand(n, 1, 8, 8, generator=gen)
    x[y == 0, :, 2:6, 1:4] += 0.15
    x[y == 1, :, 2:6, 4:7] += 0.15
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2))
    x, y = _toy_data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    xt, yt = _toy_data(128, seed=1)
    assert accuracy(model, xt, yt) == 1.0  # the toy problem is learnt
    return model, xt, yt


def _loss(model, x, y):
    with torch.no_grad():
        return float(F.cross_entropy(model(x), y))


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_attacks_raise_the_loss_and_stay_in_the_ball_and_pixel_range(trained, attack):
    model, x, y = trained
    eps = 0.1
    x_adv = attack(model, x, y, eps)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert float((x_adv - x).abs().max()) <= eps + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert _loss(model, x_adv, y) > _loss(model, x, y) + 1.0


def test_pixel_range_is_respected_at_the_boundary(trained):
    model, x, y = trained
    x = x.clone()
    x[:, :, 0, :] = 0.0
    x[:, :, -1, :] = 1.0
    for x_adv in (fgsm(model, x, y, 0.3), pgd(model, x, y, 0.3, steps=5)):
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
        assert float((x_adv - x).abs().max()) <= 0.3 + 1e-6
    lo, hi = -1.0, 2.0
    x2 = x * 3 - 1
    x_adv = pgd(model, x2, y, 0.5, steps=3, clamp=(lo, hi))
    assert float(x_adv.min()) >= lo and float(x_adv.max()) <= hi


def test_fgsm_is_the_sign_of_the_input_gradient(trained):
    model, x, y = trained
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model(xr), y, reduction="sum").backward()
    expected = (x + 0.05 * xr.grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, 0.05), expected)


def test_gradients_in_slices_equal_one_whole_batch_pass(trained, monkeypatch):
    # The attacks compute input gradients GRADIENT_SLICE images at a time; each image's gradient is its own,
    # so a batch longer than a slice (and not a multiple of it) gets what one pass over all of it gives.
    model, x, y = trained
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(model(xr), y, reduction="sum").backward()
    monkeypatch.setattr(attacks_module, "GRADIENT_SLICE", 48)            # 128 images: slices of 48, 48, 32
    torch.testing.assert_close(fgsm(model, x, y, 0.05), (x + 0.05 * xr.grad.sign()).clamp(0, 1))
    sliced = pgd(model, x, y, 0.1, steps=3, seed=0)
    monkeypatch.setattr(attacks_module, "GRADIENT_SLICE", len(x))
    assert torch.equal(sliced, pgd(model, x, y, 0.1, steps=3, seed=0))


def test_pgd_is_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    eps = 0.07
    x_fgsm = fgsm(model, x, y, eps)
    x_pgd = pgd(model, x, y, eps, alpha=0.02, steps=20, seed=0)
    assert _loss(model, x_pgd, y) >= _loss(model, x_fgsm, y)
    acc_fgsm = accuracy(model, x_fgsm, y)
    acc_pgd = accuracy(model, x_pgd, y)
    assert acc_pgd <= acc_fgsm
    assert acc_pgd < 0.5  # and it really breaks the model


def test_targeted_attacks_raise_the_target_probability(trained):
    model, x, y = trained
    target = 1 - y
    with torch.no_grad():
        before = F.softmax(model(x), dim=1).gather(1, target[:, None]).mean()
    for x_adv in (fgsm(model, x, target, 0.1, targeted=True), pgd(model, x, target, 0.1, targeted=True, steps=10)):
        with torch.no_grad():
            after = F.softmax(model(x_adv), dim=1).gather(1, target[:, None]).mean()
        assert float(after) > float(before) + 0.3
    x_adv = pgd(model, x, target, 0.2, targeted=True, steps=20)
    assert float((predict_labels(model, x_adv) == target).float().mean()) > 0.9


def test_eps_zero_gives_the_input_back(trained):
    model, x, y = trained
    for x_adv in (fgsm(model, x, y, 0.0), pgd(model, x, y, 0.0), pgd(model, x, y, 0, random_start=False)):
        assert torch.equal(x_adv, x)
        assert x_adv is not x


def test_pgd_is_seeded_and_leaves_the_global_generator_alone(trained):
    model, x, y = trained
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = pgd(model, x, y, 0.1, steps=3, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    b = pgd(model, x, y, 0.1, steps=3, seed=7)
    c = pgd(model, x, y, 0.1, steps=3, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_attacks_restore_the_model_mode_and_leave_no_gradients(trained):
    model, x, y = trained
    model.zero_grad(set_to_none=True)
    model.train()
    pgd(model, x, y, 0.1, steps=2)
    fgsm(model, x, y, 0.1)
    assert model.training
    assert all(p.grad is None for p in model.parameters())   # attacks do not touch the weights' gradients
    assert all(p.requires_grad for p in model.parameters())
    model.eval()


def test_robust_accuracy_is_clean_accuracy_at_zero_and_falls_with_eps(trained):
    model, x, y = trained
    result = robust_accuracy(model, x, y, pgd, [0.0, 0.03, 0.1, 0.3], batch_size=50, steps=10)
    assert list(result) == [0.0, 0.03, 0.1, 0.3]
    assert result[0.0] == accuracy(model, x, y) == 1.0
    values = list(result.values())
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert result[0.3] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eps": -0.1}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": 0.1, "clamp": (1.0, 0.0)}, "clamp"),
    ],
)
def test_bad_numbers_are_rejected(trained, kwargs, message):
    model, x, y = trained
    for attack in (fgsm, pgd):
        with pytest.raises(ValueError, match=message):
            attack(model, x, y, **kwargs)


def test_bad_inputs_are_rejected(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="pixel range"):
        fgsm(model, x * 2 + 0.5, y, 0.1)              # outside [0, 1]: e.g. already normalized
    with pytest.raises(ValueError, match="one integer label per image"):
        fgsm(model, x, y[:-1], 0.1)                    # shape mismatch
    with pytest.raises(ValueError, match="one integer label per image"):
        pgd(model, x, y.float(), 0.1)
    with pytest.raises(ValueError, match="floating-point"):
        pgd(model, (x * 255).to(torch.uint8), y, 0.1)
    with pytest.raises(ValueError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="alpha"):
        pgd(model, x, y, 0.1, alpha=-1.0)
    with pytest.raises(ValueError, match="epsilons"):
        robust_accuracy(model, x, y, fgsm, [])
    with pytest.raises(ValueError, match="attack"):
        adversarial_train_epoch(model, [(x, y)], torch.optim.SGD(model.parameters(), lr=0.0), 0.1, attack="cw")


def test_normalize_wrapper_lets_attacks_work_in_pixel_space():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    model = nn.Sequential(Normalize(mean, std), net)
    x = torch.rand(6, 3, 4, 4)
    expected = net((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    torch.testing.assert_close(model(x), expected)
    x_adv = pgd(model, x, torch.arange(6) % 5, 4 / 255, steps=3)
    assert float((x_adv - x).abs().max()) <= 4 / 255 + 1e-6
    with pytest.raises(ValueError, match="std"):
        Normalize([0.5], [0.0])


def test_bit_depth_and_its_straight_through_gradient():
    x = torch.tensor([0.0, 0.1, 0.2, 0.49, 0.51, 0.9, 1.0])
    torch.testing.assert_close(bit_depth(x, 1), torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]))
    scaled = bit_depth(torch.rand(1000), 2) * 3          # four levels: 0, 1/3, 2/3, 1
    torch.testing.assert_close(scaled, scaled.round())
    assert len(scaled.round().unique()) == 4
    for straight, expected in ((False, 0.0), (True, 1.0)):
        xr = x.clone().requires_grad_(True)
        out = BitDepth(2, straight_through=straight)(xr)
        torch.testing.assert_close(out.detach(), bit_depth(x, 2))
        out.sum().backward()
        assert torch.all(xr.grad == expected)
    with pytest.raises(ValueError, match="bits"):
        BitDepth(0)


def test_adversarial_training_raises_robust_accuracy():
    torch.manual_seed(0)
    x, y = _toy_data(256)
    xt, yt = _toy_data(128, seed=1)
    loader = [(x[i:i + 64], y[i:i + 64]) for i in range(0, 256, 64)]
    results = {}
    eps = 0.06
    for eps_train in (0.0, eps):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
        opt = torch.optim.Adam(model.parameters(), lr=2e-2)
        for epoch in range(15):
            stats = adversarial_train_epoch(model, loader, opt, eps_train, steps=3, seed=epoch)
        assert set(stats) == {"loss", "adv_acc", "seconds"} and stats["seconds"] > 0
        results[eps_train] = robust_accuracy(model, xt, yt, pgd, [0.0, eps], steps=10)
    assert results[0.0][0.0] == results[eps][0.0] == 1.0
    assert results[eps][eps] > results[0.0][eps] + 0.1


def test_fgsm_training_with_random_start_runs():
    torch.manual_seed(0)
    x, y = _toy_data(64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = adversarial_train_epoch(model, [(x, y)], opt, 0.1, attack="fgsm")
    assert stats["loss"] > 0 and 0.0 <= stats["adv_acc"] <= 1.0


def test_mnist_classifier_shape():
    model = mnist_classifier(width=4, hidden=8)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError):
        mnist_classifier(width=0)


def test_margin_loss_is_positive_exactly_when_misclassified():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.5, 2.0, 1.0]])
    y = torch.tensor([0, 2])
    torch.testing.assert_close(margin_loss(logits, y), torch.tensor([1.0 - 3.0, 2.0 - 1.0]))
    with pytest.raises(ValueError, match="logits must be"):
        margin_loss(logits[0], y)


def test_pgd_with_the_margin_loss_attacks_and_rejects_unknown_losses(trained):
    model, x, y = trained
    clean = accuracy(model, x, y)
    x_adv = pgd(model, x, y, 0.15, steps=10, loss="margin", seed=0)
    assert (x_adv - x).abs().max() <= 0.15 + 1e-6
    assert accuracy(model, x_adv, y) < clean
    with torch.no_grad():
        assert float(margin_loss(model(x_adv), y).mean()) > float(margin_loss(model(x), y).mean())
    with pytest.raises(ValueError, match="loss must be one of"):
        pgd(model, x, y, 0.1, loss="hinge")


def test_worst_case_accuracy_is_the_per_image_minimum(trained):
    model, x, y = trained
    attacks = {"FGSM": lambda xb, yb: fgsm(model, xb, yb, 0.08),
               "PGD": lambda xb, yb: pgd(model, xb, yb, 0.08, steps=10, seed=0),
               "none": lambda xb, yb: xb}
    result = worst_case_accuracy(model, x, y, attacks, batch_size=50)
    singles = {name: accuracy(model, attack(x, y), y) for name, attack in attacks.items()}
    for name, acc in singles.items():
        assert result[name] == pytest.approx(acc, abs=1e-9)   # batches of 50 give the same as one batch
    survive = torch.ones(len(x), dtype=torch.bool)
    for attack in attacks.values():
        survive &= predict_labels(model, attack(x, y)) == y
    assert result["all attacks"] == pytest.approx(float(survive.float().mean()))
    assert result["all attacks"] <= min(singles.values())
    with pytest.raises(ValueError, match="attacks is empty"):
        worst_case_accuracy(model, x, y, {})
