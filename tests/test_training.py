"""The PyTorch training toolkit and its plots, on tiny synthetic images (fast)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from helpers.book import training_plots as tp
from helpers.data import ArrayDataset, split_indices
from helpers.numpy.metrics import confusion_matrix
from helpers.torch import loaders, metrics
from helpers.torch import training as tr


def synthetic(n=120, size=8, seed=0, classes=3):
    """Colour images whose class is the brightest channel: easy to learn and unchanged by crops and flips."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(60, 25, (n, size, size, 3))
    x[np.arange(n), :, :, y] += 120
    x = np.clip(x, 0, 255).astype(np.uint8)
    return ArrayDataset(x, y.astype(np.int64), ("red", "green", "blue")[:classes], "synthetic")


def tiny_model():
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(6, 3))


def run(seed=0, loader_seed=0, epochs=2, **kwargs):
    torch.manual_seed(seed)
    train_loader, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16, seed=loader_seed)
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return tr.fit(model, train_loader, val_loader, epochs, opt, device="cpu", progress=False, **kwargs), model


# ----------------------------------------------------------------------------- data


def test_split_sizes_and_disjoint_indices():
    data, test = synthetic(), synthetic(40, seed=1)
    train_loader, val_loader, test_loader, info = loaders.image_loaders(data, test, batch_size=16, val_fraction=0.25,
                                                                  seed=3)
    assert info["sizes"] == {"train": 90, "val": 30, "test": 40}
    assert len(train_loader.dataset) == 90 and len(val_loader.dataset) == 30 and len(test_loader.dataset) == 40
    t, v = info["train_indices"], info["val_indices"]
    assert not set(t) & set(v) and sorted(set(t) | set(v)) == list(range(120))
    assert info["classes"] == ("red", "green", "blue") and info["source"] == "synthetic"
    np.testing.assert_array_equal(val_loader.dataset.labels.numpy(), data.y[v])
    assert np.array_equal(loaders.image_loaders(data, seed=3)[3]["val_indices"], split_indices(120, 0.1, 3)[1])
    assert not np.array_equal(split_indices(120, 0.25, 3)[1], split_indices(120, 0.25, 4)[1])
    x, y = next(iter(train_loader))
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    _, _, none, info = loaders.image_loaders(data, subset=60, val_fraction=0.25)
    assert none is None and info["sizes"] == {"train": 45, "val": 15, "test": 0}
    both = np.concatenate([info["train_indices"], info["val_indices"]])
    assert len(set(both)) == 60 and both.max() < 120


def test_normalization_uses_the_training_split_only():
    data = synthetic()
    _, val_loader, _, info = loaders.image_loaders(data, val_fraction=0.3, seed=1)
    train_pixels = data.x[info["train_indices"]].reshape(-1, 3) / 255.0
    np.testing.assert_allclose(info["mean"], train_pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(info["std"], train_pixels.std(axis=0), rtol=1e-10)
    all_pixels = data.x.reshape(-1, 3) / 255.0
    assert not np.allclose(info["mean"], all_pixels.mean(axis=0), rtol=1e-6, atol=0)
    # a validation image is (x / 255 - train mean) / train std
    image, label = val_loader.dataset[0]
    i = info["val_indices"][0]
    expected = (data.x[i] / 255.0 - np.array(info["mean"])) / np.array(info["std"])
    np.testing.assert_allclose(image.numpy(), expected.transpose(2, 0, 1), atol=1e-5)
    assert label == data.y[i]
    assert loaders.channel_stats(data.x[:5, :, :, 0])[0] == pytest.approx((data.x[:5, :, :, 0].mean() / 255,))


def test_augmentation_on_the_training_split_only():
    torch.manual_seed(0)
    train_loader, val_loader, test_loader, _ = loaders.image_loaders(synthetic(), synthetic(20, seed=2), batch_size=16)
    for loader in (val_loader, test_loader):
        first, second = list(loader), list(loader)
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    ds = train_loader.dataset
    assert any(not torch.equal(ds[i][0], ds[i][0]) for i in range(10))  # redrawn at every access
    plain = loaders.image_loaders(synthetic(), augment=False)[0].dataset
    assert all(torch.equal(plain[i][0], plain[i][0]) for i in range(10))
    # an augmented image is a shifted (and maybe flipped) copy: its centre pixel is one of the original's pixels
    i = 0
    original = {tuple(p) for p in plain[i][0].permute(1, 2, 0).reshape(-1, 3).tolist()}
    assert tuple(ds[i][0][:, 4, 4].tolist()) in original


def test_loaders_are_reproducible_with_a_seed():
    a, b, c = (loaders.image_loaders(synthetic(), batch_size=16, seed=s)[0] for s in (5, 5, 6))
    ya, yb, yc = (torch.cat([y for _, y in loader]) for loader in (a, b, c))
    assert torch.equal(ya, yb) and not torch.equal(ya, yc)


def test_image_dataset_accepts_grey_images_and_checks_dtypes():
    ds = loaders.ImageDataset(np.zeros((4, 5, 6), np.uint8), np.arange(4))
    assert ds[1][0].shape == (1, 5, 6) and ds[1][0].dtype == torch.uint8 and len(ds) == 4
    with pytest.raises(ValueError, match="uint8 images"):
        loaders.ImageDataset(np.zeros((4, 5, 6, 3), np.float32), np.arange(4))
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        loaders.ImageDataset(np.zeros((4, 5, 6), np.uint8), np.arange(3))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"val_fraction": 0}, r"val_fraction must be a finite number in \(0, 1\)"),
        ({"val_fraction": 1.0}, r"val_fraction must be a finite number in \(0, 1\)"),
        ({"val_fraction": -0.2}, r"val_fraction must be a finite number in \(0, 1\)"),
        ({"val_fraction": "0.1"}, r"val_fraction must be a finite number in \(0, 1\)"),
        ({"val_fraction": 0.001}, "empty training or validation part"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"seed": -1}, "seed must be an int >= 0"),
        ({"num_workers": 1.5}, "num_workers must be an int"),
        ({"augment": "yes"}, "augment must be True or False"),
        ({"subset": 1}, "subset must be None or an int >= 2"),
        ({"subset": 500}, "more than the 120 training images"),
    ],
)
def test_bad_loader_arguments_raise_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        loaders.image_loaders(synthetic(), **kwargs)


def test_cifar10_loaders_check_arguments_before_loading_data():
    with pytest.raises(ValueError, match=r"val_fraction must be a finite number in \(0, 1\)"):
        loaders.cifar10_loaders(val_fraction=1.5)
    with pytest.raises(ValueError, match="uint8 images"):
        loaders.image_loaders(ArrayDataset(np.zeros((10, 4, 4, 3)), np.zeros(10, np.int64)))
    with pytest.raises(ValueError, match="test images have shape"):
        loaders.image_loaders(synthetic(), synthetic(10, size=6))


# ----------------------------------------------------------------------------- training


def test_fit_learns_a_tiny_problem_and_evaluate_predict_agree():
    history, model = run(epochs=4)
    assert len(history) == 4 and len(history.seconds) == 4 and history.lr == [0.1] * 4
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.9
    epoch, best = history.best("val_acc")
    assert best == max(history.val_acc) and history.val_acc[epoch - 1] == best
    assert history.best("val_loss")[1] == min(history.val_loss)
    assert history.as_dict()["train_acc"] == history.train_acc
    torch.manual_seed(0)
    _, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16, seed=0)
    model.train()
    loss, acc = tr.evaluate(model, val_loader, nn.CrossEntropyLoss(), "cpu")
    assert model.training  # the previous mode is restored
    assert (loss, acc) == pytest.approx((history.val_loss[-1], history.val_acc[-1]))
    preds, labels = metrics.predict(model, val_loader, "cpu")
    assert preds.dtype == labels.dtype == np.int64 and len(preds) == 12
    assert np.mean(preds == labels) == pytest.approx(acc)


def test_two_fits_with_the_same_seed_give_identical_losses():
    a, _ = run(seed=1)
    b, _ = run(seed=1)
    c, _ = run(seed=1, loader_seed=2)
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss and a.val_acc == b.val_acc
    assert a.train_loss != c.train_loss


def test_train_epoch_and_schedulers():
    torch.manual_seed(0)
    train_loader, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16)
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, acc = tr.train_epoch(model, train_loader, opt, nn.CrossEntropyLoss(), "cpu", progress=False)
    assert loss > 0 and 0 <= acc <= 1 and model.training
    history = tr.fit(model, train_loader, val_loader, 3, opt, scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, 0.5),
                     device="cpu", progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=2 * len(train_loader))
    history = tr.fit(model, train_loader, None, 2, opt, scheduler=sched, scheduler_step="batch", device="cpu",
                     progress=False)
    assert np.isnan(history.val_loss).all() and history.lr[1] > history.lr[0]
    with pytest.raises(ValueError, match="no finite value"):
        history.best("val_acc")
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    tr.fit(model, train_loader, val_loader, 1, opt, scheduler=plateau, device="cpu", progress=False)


def test_progress_bars_print_only_when_asked(capsys):
    run(epochs=1)
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
    torch.manual_seed(0)
    train_loader, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16)
    model = tiny_model()
    tr.fit(model, train_loader, val_loader, 1, torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    assert "epoch 1/1" in capsys.readouterr().err


def test_fit_arguments_and_device():
    assert tr.device().type in ("cuda", "mps", "cpu")
    train_loader, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16)
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        tr.fit(model, train_loader, val_loader, 0, opt)
    with pytest.raises(ValueError, match="scheduler_step must be"):
        tr.fit(model, train_loader, val_loader, 1, opt, scheduler_step="step")
    with pytest.raises(ValueError, match="optimizer must be"):
        tr.fit(model, train_loader, val_loader, 1, "sgd")
    with pytest.raises(ValueError, match="metric must be one of"):
        tr.History().best("accuracy")
    with pytest.raises(ValueError, match="no val_acc recorded"):
        tr.History().best()


# ----------------------------------------------------------------------------- plots


def test_confusion_matrix_against_a_hand_example():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    preds = [0, 1, 0, 1, 1, 2, 0, 2, 1]
    cm = confusion_matrix(preds, labels, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 2, 0], [1, 1, 2]])
    assert cm.dtype == np.int64 and cm.sum() == 9
    np.testing.assert_array_equal(confusion_matrix([], [], 2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="same length"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ValueError, match="n_classes must be"):
        confusion_matrix([0], [0], 0)


def test_plots_return_figures():
    history, _ = run(epochs=2)
    fig = tp.plot_history(history, title="tiny")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    cm = np.array([[5, 1], [2, 7]])
    fig = tp.plot_confusion(cm, ["a", "b"], normalize=True)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b"]
    assert "0.83" in [t.get_text() for t in fig.axes[0].texts]
    data = synthetic(10)
    fig = tp.show_predictions(data.x, data.y, (data.y + np.arange(10) % 2) % 3, data.classes, ncols=5)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 10 and sum("true:" in t for t in titles) == 5
    batch = torch.randn(4, 3, 8, 8)
    fig = tp.show_predictions(batch, [0, 1, 2, 0], [0, 1, 2, 0], data.classes, mean=(0.5,) * 3, std=(0.2,) * 3)
    assert fig.axes[0].images[0].get_array().shape == (8, 8, 3)
    plt.close("all")
    with pytest.raises(ValueError, match="class names"):
        tp.plot_confusion(cm, ["a"])
    with pytest.raises(ValueError, match="as many labels"):
        tp.show_predictions(data.x, data.y[:3], data.y, data.classes)
    with pytest.raises(ValueError, match="at least one epoch"):
        tp.plot_history(tr.History())


# ----------------------------------------------------------------------------- the real data (when present)


def _have_cifar10():
    import os

    from helpers import data

    if not os.environ.get(data.DATA_ENV):
        return False
    folder = data.data_dir()
    return (folder / "cifar10.npz").is_file() or (folder / "cifar-10-batches-py").is_dir()


@pytest.mark.skipif(not _have_cifar10(), reason="set CNN_BOOK_DATA to the offline data folder")
def test_cifar10_loaders_on_the_real_data():
    train_loader, val_loader, test_loader, info = loaders.cifar10_loaders(batch_size=64, subset=1000, seed=0)
    assert info["sizes"] == {"train": 900, "val": 100, "test": 10000}
    assert info["classes"][0] == "airplane" and len(info["classes"]) == 10 and info["source"]
    assert np.allclose(info["mean"], (0.49, 0.48, 0.45), atol=0.03) and np.allclose(info["std"], 0.25, atol=0.03)
    x, y = next(iter(train_loader))
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(test_loader) == 157 and len(val_loader) == 2


def test_random_shift_moves_each_image_by_its_own_offset_within_bounds():
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0                                   # one bright pixel in the centre of every image
    out = loaders.random_shift(x, max_shift=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    rows, cols = (out[:, 0] == 1).nonzero()[:, 1], (out[:, 0] == 1).nonzero()[:, 2]
    assert len(rows) == 64                                 # the pixel is never lost
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len({(int(r), int(c)) for r, c in zip(rows, cols, strict=True)}) > 10   # offsets differ between images
    again = loaders.random_shift(x, max_shift=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)                          # reproducible with a seeded generator
    border = torch.full((2, 1, 5, 5), -0.42)
    assert torch.equal(loaders.random_shift(border, 2), border)   # background stays background (replicate)
    assert torch.equal(loaders.random_shift(x, 0), x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        loaders.random_shift(torch.zeros(3, 9, 9))
    with pytest.raises(ValueError, match="max_shift"):
        loaders.random_shift(x, -1)


def test_progress_bar_shows_validation_numbers_only_when_there_is_a_validation_set(capsys):
    torch.manual_seed(0)
    train_loader, val_loader, _, _ = loaders.image_loaders(synthetic(), batch_size=16)
    model = tiny_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tr.fit(model, train_loader, None, 1, opt, device="cpu", progress=True)
    without = capsys.readouterr().err
    tr.fit(model, train_loader, val_loader, 1, opt, device="cpu", progress=True)
    with_val = capsys.readouterr().err
    assert "loss=" in without and "val_acc" not in without and "nan" not in without
    assert "val_acc=" in with_val


def test_inference_in_slices_equals_one_pass(monkeypatch):
    # predict_labels, accuracy, predict and evaluate feed the model INFERENCE_SLICE images at a time; in eval
    # mode (batch norm on its running statistics) that gives what one pass over the whole batch gives.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    model.train()
    model(torch.randn(32, 3, 8, 8))                          # running statistics that are not the defaults
    data = synthetic(n=50)
    x = torch.from_numpy(data.x).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data.y)
    model.eval()
    with torch.no_grad():
        whole = model(x)
    monkeypatch.setattr(metrics, "INFERENCE_SLICE", 16)      # 50 images: slices of 16, 16, 16, 2
    with torch.no_grad():
        torch.testing.assert_close(metrics.logits_in_slices(model, x), whole)
    assert torch.equal(metrics.predict_labels(model, x), whole.argmax(dim=1))
    assert metrics.accuracy(model, x, y) == pytest.approx(float((whole.argmax(dim=1) == y).float().mean()))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=50)
    loss, acc = tr.evaluate(model, loader, device="cpu")
    assert loss == pytest.approx(float(nn.functional.cross_entropy(whole, y)), rel=1e-6)
    assert np.array_equal(metrics.predict(model, loader, "cpu")[0], whole.argmax(dim=1).numpy())
    with pytest.raises(ValueError, match="size"):
        metrics.logits_in_slices(model, x, size=0)


def test_channels_last_inference_gives_the_same_answers_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 5))
    model.train()
    model(torch.randn(32, 3, 32, 32))                        # running statistics that are not the defaults
    x = torch.randn(40, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    y = torch.arange(40) % 5
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        whole = model(x)
        fast = metrics.logits_in_slices(model, x, size=16, channels_last=True)
    torch.testing.assert_close(fast, whole, rtol=1e-5, atol=1e-5)
    assert torch.equal(metrics.predict_labels(model, x, channels_last=True), whole.argmax(dim=1))
    assert metrics.accuracy(model, x, y, channels_last=True) == metrics.accuracy(model, x, y)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=25)
    loss, acc = tr.evaluate(model, loader, device="cpu", channels_last=True)
    assert (loss, acc) == pytest.approx(tr.evaluate(model, loader, device="cpu"), rel=1e-5)
    assert np.array_equal(metrics.predict(model, loader, "cpu", channels_last=True)[0], whole.argmax(dim=1).numpy())
    weight = model[0].weight                                  # the caller's model: same layout, same values
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert metrics.channels_last_copy(len) is len             # not a module: passed through
    assert metrics.channels_last_batch(x).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(metrics.channels_last_batch(x), x)
    flat = torch.randn(3, 5)
    assert metrics.channels_last_batch(flat) is flat         # not a batch of images: unchanged
