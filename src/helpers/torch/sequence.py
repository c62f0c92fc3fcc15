"""Reading a strip of digits with a CNN: a CNN + recurrent network trained with CTC, and two baselines.

A convolutional encoder turns a ``28 x W`` strip into ``T = W / 4`` column features (two 2x2 poolings, then a
convolution spanning the remaining height). Three heads read them:

* ``"crnn"``: a bidirectional GRU over the columns, then a per-column classifier over the 10 digits and the CTC
  blank (symbol 0; digit ``d`` is symbol ``d + 1``), trained with ``torch.nn.CTCLoss`` (the CRNN of Shi et al.
  2017). It needs no alignment and reads strips of any width;
* ``"cnn_ctc"``: the same per-column classifier and CTC loss without the GRU (each column sees only its
  receptive field);
* ``"heads"``: the flattened features of a fixed-width strip into ``k`` classifiers, one per digit position
  (cross-entropy), which only reads strips of exactly ``k`` digits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import positive_int
from helpers.numpy.ctc import ctc_greedy_decode

__all__ = ["KINDS", "DigitReader", "strip_tensor", "reader_loss", "read_digits", "train_reader", "load_digit_reader"]

KINDS = ("crnn", "cnn_ctc", "heads")


class DigitReader(nn.Module):
    """CNN encoder + one of the heads in :data:`KINDS`; ``k`` (digits per strip) is used by ``"heads"`` only.

    ``forward(x)`` with ``x`` (N, 1, 28, W), W divisible by 4, returns log-probabilities ``(T, N, 11)`` (time
    first, as ``nn.CTCLoss`` wants) for the CTC kinds, logits ``(N, k, 10)`` for ``"heads"``.
    """

    def __init__(self, kind: str = "crnn", k: int = 4, width: int = 32, hidden: int = 64):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
        self.kind, self.k = kind, positive_int(k, "k")
        width, hidden = positive_int(width, "width"), positive_int(hidden, "hidden")
        self.encoder = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, (7, 3), padding=(0, 1)), nn.BatchNorm2d(4 * width), nn.ReLU())
        features = 4 * width
        if kind == "crnn":
            self.rnn = nn.GRU(features, hidden, bidirectional=True)
            self.head = nn.Linear(2 * hidden, 11)
        elif kind == "cnn_ctc":
            self.head = nn.Linear(features, 11)
        else:
            self.head = nn.Linear(features * 7 * self.k, 10 * self.k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != 28 or x.shape[3] % 4:
            raise ValueError(f"x must have shape (N, 1, 28, W) with W divisible by 4; got {tuple(x.shape)}")
        f = self.encoder(x)[:, :, 0]                    # (N, C, T)
        if self.kind == "heads":
            if f.shape[2] != 7 * self.k:
                raise ValueError(f"the 'heads' reader takes strips of exactly {self.k} digits (width "
                                 f"{28 * self.k}); got width {x.shape[3]}")
            return self.head(f.flatten(1)).view(-1, self.k, 10)
        seq = f.permute(2, 0, 1)                        # (T, N, C)
        if self.kind == "crnn":
            seq = self.rnn(seq)[0]
        return F.log_softmax(self.head(seq), dim=2)


def strip_tensor(strips) -> torch.Tensor:
    """uint8 strips (N, 28, W) -> float tensor (N, 1, 28, W) in [0, 1]."""
    strips = np.asarray(strips)
    if strips.ndim != 3 or strips.shape[1] != 28:
        raise ValueError(f"strips must have shape (N, 28, W); got {strips.shape}")
    return torch.from_numpy(strips).float().div(255).unsqueeze(1)


def reader_loss(model: DigitReader, out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CTC loss (blank 0, digits shifted by one; mean over the batch of per-strip loss / target length) or
    cross-entropy over positions for ``"heads"``; ``labels`` (N, k) digit classes."""
    if model.kind == "heads":
        return F.cross_entropy(out.reshape(-1, 10), labels.reshape(-1))
    n, k = labels.shape
    return F.ctc_loss(out, labels + 1, torch.full((n,), out.shape[0], dtype=torch.long),
                      torch.full((n,), k, dtype=torch.long), blank=0, zero_infinity=True)


@torch.no_grad()
def read_digits(model: DigitReader, strips, batch_size: int = 256) -> list[list[int]]:
    """The digit strings the model reads from uint8 ``strips`` (N, 28, W): greedy CTC decoding
    (:func:`helpers.numpy.ctc.ctc_greedy_decode`) or the per-position argmax."""
    model.eval()
    x = strip_tensor(strips)
    out = []
    for i in range(0, len(x), batch_size):
        scores = model(x[i:i + batch_size]).numpy()
        if model.kind == "heads":
            out += scores.argmax(2).tolist()
        else:
            out += [[s - 1 for s in seq] for seq in ctc_greedy_decode(scores, blank=0)]
    return out


def train_reader(model: DigitReader, strips, labels, steps: int, batch_size: int = 64, lr: float = 3e-3,
                 seed: int = 0, progress: bool = False) -> list[float]:
    """Adam with a one-cycle schedule for ``steps`` mini-batches drawn with a seeded generator; returns the
    loss of every step."""
    x, y = strip_tensor(strips), torch.as_tensor(np.asarray(labels), dtype=torch.long)
    steps = positive_int(steps, "steps")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    history = []
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it)
    model.train()
    for _ in it:
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = reader_loss(model, model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
    return history


def load_digit_reader(name: str):
    """A committed :class:`DigitReader` checkpoint in eval mode and its log: ``(model, log)``."""
    from helpers.torch.checkpoints import load_checkpoint

    state, log = load_checkpoint(name)
    m = log["model"]
    model = DigitReader(m["kind"], k=m["k"], width=m["width"], hidden=m["hidden"])
    model.load_state_dict(state)
    return model.eval(), log
