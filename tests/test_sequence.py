"""CTC decoding and error rates (NumPy) against PyTorch / torchmetrics; digit strips; the digit readers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.text import char_error_rate

from helpers.data.strips import make_digit_strips
from helpers.numpy.ctc import character_error_rate, ctc_collapse, ctc_greedy_decode, edit_distance
from helpers.torch.sequence import DigitReader, read_digits, reader_loss, strip_tensor, train_reader

RNG = np.random.default_rng(0)


def _torch_greedy(scores, blank):
    out = []
    for path in torch.as_tensor(scores).argmax(2).T:
        merged = torch.unique_consecutive(path)
        out.append(merged[merged != blank].tolist())
    return out


def test_collapse_rule_examples():
    assert ctc_collapse([1, 1, 0, 1, 7, 7, 0]) == [1, 1, 7]
    assert ctc_collapse([0, 0, 0]) == []
    assert ctc_collapse([3, 3, 3]) == [3]
    assert ctc_collapse([2, 0, 2, 2, 0, 0, 5], blank=0) == [2, 2, 5]
    assert ctc_collapse([4, 4, 10, 4], blank=10) == [4, 4]


@pytest.mark.parametrize("shape,blank", [((28, 8, 11), 0), ((5, 3, 4), 3), ((1, 1, 2), 0), ((50, 2, 3), 1)])
def test_greedy_decode_matches_torch_reference(shape, blank):
    scores = RNG.standard_normal(shape)
    scores[:, :, blank] += 0.8                        # blanks common, as in a trained model
    assert ctc_greedy_decode(scores, blank) == _torch_greedy(scores, blank)


def _text(seqs):
    return ["".join(chr(97 + s) for s in seq) for seq in seqs]


def test_edit_distance_and_cer_match_torchmetrics():
    for _ in range(30):
        a = RNG.integers(0, 4, RNG.integers(0, 7)).tolist()
        b = RNG.integers(0, 4, RNG.integers(1, 7)).tolist()
        assert edit_distance(a, b) == round(char_error_rate(_text([a]), _text([b])).item() * len(b))
    preds = [RNG.integers(0, 10, RNG.integers(0, 6)).tolist() for _ in range(40)]
    targets = [RNG.integers(0, 10, 4).tolist() for _ in range(40)]
    assert character_error_rate(preds, targets) == pytest.approx(char_error_rate(_text(preds), _text(targets)).item(),
                                                                   rel=1e-6)
    assert edit_distance([], [1, 2]) == 2 and edit_distance("kitten", "sitting") == 3


@pytest.mark.parametrize("call,match", [
    (lambda: ctc_collapse(np.zeros((2, 2), int)), "1-D"),
    (lambda: ctc_collapse(np.zeros(3)), "integer"),
    (lambda: ctc_greedy_decode(np.zeros((3, 4))), r"\(T, N, C\)"),
    (lambda: ctc_greedy_decode(np.zeros((3, 1, 4)), blank=4), "blank"),
    (lambda: character_error_rate([[1]], [[1], [2]]), "as many"),
    (lambda: character_error_rate([[1]], [[]]), "empty"),
])
def test_ctc_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_strips_hold_the_labelled_digits():
    images = RNG.integers(1, 256, (20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 10
    x, y = make_digit_strips(images, labels, 6, k=3, jitter=0, seed=1)
    assert x.shape == (6, 28, 84) and x.dtype == np.uint8 and y.shape == (6, 3)
    for i in range(6):
        for j in range(3):
            match = [n for n in range(20) if np.array_equal(x[i, :, 28 * j:28 * j + 28], images[n])]
            assert match and labels[match[0]] == y[i, j]
    x2, y2 = make_digit_strips(images, labels, 6, k=3, jitter=4, seed=1)
    assert np.array_equal(y, y2) and not np.array_equal(x, x2)
    assert np.array_equal(make_digit_strips(images, labels, 6, k=3, seed=5)[0],
                          make_digit_strips(images, labels, 6, k=3, seed=5)[0])
    with pytest.raises(ValueError, match=r"\(M, 28, 28\)"):
        make_digit_strips(np.zeros((3, 28, 27)), np.zeros(3), 2)
    with pytest.raises(ValueError, match="labels"):
        make_digit_strips(images, labels[:5], 2)
    with pytest.raises(ValueError, match="jitter"):
        make_digit_strips(images, labels, 2, jitter=20)


def test_reader_shapes_and_losses():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 28, 112)
    y = torch.randint(0, 10, (3, 4))
    for kind in ("crnn", "cnn_ctc"):
        m = DigitReader(kind, width=4, hidden=5)
        out = m(x)
        assert out.shape == (28, 3, 11)
        assert torch.allclose(out.exp().sum(2), torch.ones(28, 3), atol=1e-5)
        ref = torch.nn.CTCLoss(blank=0, zero_infinity=True)(out, y + 1, torch.full((3,), 28), torch.full((3,), 4))
        assert reader_loss(m, out, y).item() == pytest.approx(ref.item(), rel=1e-6)
        assert m(torch.rand(2, 1, 28, 84)).shape == (21, 2, 11)     # any width
    h = DigitReader("heads", k=4, width=4)
    out = h(x)
    assert out.shape == (3, 4, 10)
    assert reader_loss(h, out, y).item() == pytest.approx(F.cross_entropy(out.reshape(-1, 10), y.reshape(-1)).item())
    with pytest.raises(ValueError, match="exactly 4 digits"):
        h(torch.rand(1, 1, 28, 84))
    with pytest.raises(ValueError, match="divisible by 4"):
        h(torch.rand(1, 1, 28, 30))
    with pytest.raises(ValueError, match="kind"):
        DigitReader("lstm")
    with pytest.raises(ValueError, match=r"\(N, 28, W\)"):
        strip_tensor(np.zeros((2, 27, 56)))


def test_training_reduces_the_ctc_loss_and_reading_returns_digits():
    torch.manual_seed(0)
    images = np.zeros((10, 28, 28), np.uint8)
    for d in range(10):
        images[d, 4 + 2 * d:8 + 2 * d, 6:22] = 255                  # one bar per "digit", at a height per class
    x, y = make_digit_strips(images, np.arange(10), 256, k=2, jitter=0, seed=0)
    m = DigitReader("crnn", k=2, width=8, hidden=16)
    hist = train_reader(m, x, y, steps=150, batch_size=32, lr=1e-2, seed=0)
    assert np.mean(hist[-10:]) < 0.5 * np.mean(hist[:10])
    read = read_digits(m, x[:20])
    assert all(all(0 <= s <= 9 for s in seq) for seq in read)
    assert np.mean([r == list(t) for r, t in zip(read, y[:20], strict=True)]) > 0.5
