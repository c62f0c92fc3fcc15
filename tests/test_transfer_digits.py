"""helpers.torch.transfer.pretrained_cifar_resnet / transfer_run / train_small_cnn(model=...), and the committed
log of scripts/transfer_digits.py (the transfer lesson's digit experiment over 3 seeds)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers.machine import same_build
from helpers.seeding import torch_threads
from helpers.torch.checkpoints import load_log
from helpers.torch.resnet import CifarResNet, load_cifar_resnet
from helpers.torch.transfer import pretrained_cifar_resnet, train_small_cnn, transfer_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import transfer_digits as script  # noqa: E402

METHODS = ("(a) from scratch", "(c) full fine-tuning", "small CNN from scratch")


def test_pretrained_cifar_resnet_loads_the_checkpoint_or_builds_random_weights_from_the_current_seed():
    reference = load_cifar_resnet(pixel_input=True)[0]
    pretrained = pretrained_cifar_resnet()
    pairs = zip(reference.state_dict().values(), pretrained.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    torch.manual_seed(3)
    random = pretrained_cifar_resnet("random")
    torch.manual_seed(3)
    plain = CifarResNet(20, width=16)          # reading the checkpoint's mean and std used no random numbers
    assert torch.equal(random.net.stem[0].weight, plain.stem[0].weight)
    assert not torch.equal(random.net.stem[0].weight, pretrained.net.stem[0].weight)
    with pytest.raises(ValueError, match="'pretrained' or 'random'"):
        pretrained_cifar_resnet("imagenet")


def _toy_digits(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.2 * torch.rand(n, 3, 32, 32, generator=g) + 0.6 * y[:, None, None, None].float()
    return x, y


def test_transfer_run_is_seeded_and_freezes_what_it_is_told():
    x, y = _toy_digits()
    a = transfer_run(x, y, x, y, steps=2, batch_size=10, seed=0, classes=2)
    b = transfer_run(x, y, x, y, steps=2, batch_size=10, seed=0, classes=2)
    c = transfer_run(x, y, x, y, steps=2, batch_size=10, seed=1, classes=2)
    assert (a["acc"], a["loss"]) == (b["acc"], b["loss"]) and a["loss"] != c["loss"]
    head_only = transfer_run(x, y, x, y, steps=2, batch_size=10, trainable="net.head", classes=2)
    assert head_only["trainable"] == 64 * 2 + 2 and a["trainable"] > 270_000
    scratch = transfer_run(x, y, x, y, init="random", steps=2, batch_size=10, classes=2)
    assert scratch["loss"] != a["loss"] and np.isfinite(scratch["loss"])


def test_train_small_cnn_takes_another_network_without_flips():
    from helpers.torch.models import mnist_classifier, mnist_normalizer

    def net():
        return torch.nn.Sequential(mnist_normalizer(), mnist_classifier(width=4, hidden=8))

    x, y = _toy_digits(40)
    grey = x[:, :1, 2:30, 2:30]
    first = train_small_cnn(grey, y, grey, y, seed=0, steps=30, batch_size=10, model=net, flip=False)
    again = train_small_cnn(grey, y, grey, y, seed=0, steps=30, batch_size=10, model=net, flip=False)
    assert first == again and first > 0.9
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        train_small_cnn(grey[:, 0], y, grey, y, seed=0, model=net)


def test_log_holds_every_method_shot_and_seed():
    log = load_log("transfer_digits")
    seeds, shots = log["args"]["seeds"], log["args"]["shots"]
    assert len(seeds) >= 3 and shots == [10, 50]
    keys = {(r["method"], r["n_per_class"], r["seed"]) for r in log["runs"]}
    assert keys == {(m, n, s) for m in METHODS for n in shots for s in seeds} | \
        {("last stage + head", 50, s) for s in seeds}
    assert all(0.05 < r["test_acc"] < 1.0 for r in log["runs"])
    mean = {(m, n): np.mean([r["test_acc"] for r in log["runs"] if (r["method"], r["n_per_class"]) == (m, n)])
            for m in METHODS for n in shots}
    assert all(mean[m, 50] > mean[m, 10] for m in METHODS)    # more labels help every method on average
    assert log["data"]["test_images"] == 2000 and {"torch", "threads"} <= set(log["machine"])


@needs("mnist", "train", "test")
def test_one_logged_run_reruns(tmp_path):
    # full fine-tuning, N = 10, seed 1 (the lesson reruns seed 0 live)
    log = load_log("transfer_digits")
    with torch_threads(log["machine"]["threads"]):
        script.main(["--shots", "10", "--seeds", "1", "--methods", "(c) full fine-tuning",
                     "--steps", str(log["args"]["steps"]), "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    (rerun,) = load_log("transfer_digits", tmp_path)["runs"]
    logged = next(r for r in log["runs"] if (r["method"], r["n_per_class"], r["seed"]) == (rerun["method"], 10, 1))
    assert rerun["method"] == "(c) full fine-tuning"
    tol = 0.0 if same_build(log["machine"]) else 0.03
    assert rerun["test_acc"] == pytest.approx(logged["test_acc"], abs=tol)


def test_unknown_methods_are_refused(capsys):
    with pytest.raises(SystemExit):
        script.main(["--methods", "magic"])
    assert "unknown methods ['magic']" in capsys.readouterr().err
