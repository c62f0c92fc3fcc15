"""helpers.torch.robustness: the seeded adversarial-training run, the attack checklist and the survival log format.

train_adversarial is checked against the same recipe written out by hand with torch.optim and
adversarial_train_epoch; survival against worst_case_accuracy; everything on small random data.
"""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.torch.attacks import adversarial_train_epoch, pgd, worst_case_accuracy
from helpers.torch.models import mnist_classifier
from helpers.torch.robustness import attack_checklist, from_survivors, survival, survivors, train_adversarial


def _digits(n=96, seed=0):
    """Random 'digits': class k has a brighter k-th horizontal band, plus noise, pixels in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=gen)
    x = 0.4 * torch.rand(n, 1, 28, 28, generator=gen)
    for i, k in enumerate(y.tolist()):
        x[i, 0, 2 * k + 4:2 * k + 7] += 0.5
    return x.clamp(0, 1), y


def _by_hand(x, y, eps, epochs, seed, attack):
    torch.manual_seed(seed)
    model = mnist_classifier(width=4, hidden=16)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, epochs=epochs, steps_per_epoch=len(loader))
    losses = [adversarial_train_epoch(model, loader, opt, eps, attack=attack, scheduler=sched, seed=seed + e)["loss"]
              for e in range(epochs)]
    return model.eval(), losses


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_train_adversarial_equals_the_recipe_written_out(attack):
    torch.set_num_threads(1)
    x, y = _digits()
    model, history = train_adversarial(x, y, 0.1, 2, seed=3, attack=attack, width=4, hidden=16, batch_size=32)
    reference, losses = _by_hand(x, y, 0.1, 2, 3, attack)
    assert not model.training
    assert history["loss"] == pytest.approx(losses, abs=1e-6)
    assert len(history["adv_acc"]) == 2 and history["seconds"] > 0
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_train_adversarial_is_seeded():
    torch.set_num_threads(1)
    x, y = _digits()
    a, _ = train_adversarial(x, y, 0.2, 1, seed=0, width=4, hidden=16, batch_size=32)
    b, _ = train_adversarial(x, y, 0.2, 1, seed=0, width=4, hidden=16, batch_size=32)
    c, _ = train_adversarial(x, y, 0.2, 1, seed=1, width=4, hidden=16, batch_size=32)
    wa, wb, wc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(wa, wb)
    assert not torch.allclose(wa, wc)


@pytest.mark.parametrize("kwargs, message", [
    ({"x": torch.rand(4, 28, 28)}, r"\(N, 1, 28, 28\)"),
    ({"x": torch.rand(4, 1, 28, 28) * 2}, r"\[0, 1\]"),
    ({"y": torch.zeros(3, dtype=torch.long)}, "4 labels"),
    ({"eps": -0.1}, "eps"),
    ({"epochs": 0}, "epochs"),
    ({"attack": "cw"}, "'fgsm' or 'pgd'"),
])
def test_train_adversarial_rejects_bad_input(kwargs, message):
    args = {"x": torch.rand(4, 1, 28, 28), "y": torch.zeros(4, dtype=torch.long), "eps": 0.1, "epochs": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        train_adversarial(**args)


def test_checklist_and_survival_agree_with_worst_case_accuracy():
    torch.set_num_threads(1)
    x, y = _digits(64, seed=1)
    model, _ = train_adversarial(x, y, 0.0, 2, seed=0, width=4, hidden=16, batch_size=32)
    other, _ = train_adversarial(x, y, 0.0, 1, seed=1, width=4, hidden=16, batch_size=32)
    attacks = attack_checklist(model, other, 0.1, steps=3, restarts=2, long_steps=6, long_alpha=0.02)
    assert list(attacks) == ["PGD-3, cross-entropy", "PGD-3, restart 2", "PGD-6, steps of 0.02",
                             "PGD-3, margin (CW) loss", "transfer from the reference model"]
    # the first entry is exactly pgd(model, ..., seed=0) and the transfer attack is made on the other model
    assert torch.equal(attacks["PGD-3, cross-entropy"](x, y), pgd(model, x, y, 0.1, steps=3, seed=0))
    assert torch.equal(attacks["transfer from the reference model"](x, y), pgd(other, x, y, 0.1, steps=3, seed=0))
    survived = survival(model, x, y, attacks, batch_size=32)
    expected = worst_case_accuracy(model, x, y, attacks, batch_size=32)
    for name, ok in survived.items():
        assert ok.dtype == torch.bool and ok.shape == (64,)
        assert float(ok.float().mean()) == pytest.approx(expected[name])
    assert float(torch.stack(list(survived.values())).all(0).float().mean()) == pytest.approx(expected["all attacks"])


def test_survivors_round_trip_and_errors():
    flags = torch.tensor([True, False, False, True])
    assert survivors(flags) == "1001"
    assert torch.equal(from_survivors(survivors(flags)), flags)
    with pytest.raises(ValueError, match="1-D boolean"):
        survivors(torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="'0' and '1'"):
        from_survivors("10x1")
    with pytest.raises(ValueError, match="attacks is empty"):
        survival(mnist_classifier(width=4, hidden=16), *_digits(4), {})
    with pytest.raises(ValueError, match="eps"):
        attack_checklist(mnist_classifier(width=4, hidden=16), mnist_classifier(width=4, hidden=16), 0.0)
