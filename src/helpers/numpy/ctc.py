"""Reading the output of a CTC-trained sequence model in NumPy: the collapse rule, greedy decoding, error rates.

A model trained with connectionist temporal classification (CTC, Graves et al. 2006) emits, for each of T
time steps (here: image columns), scores over the alphabet plus one extra *blank* symbol. A label sequence
is read off a path of per-step symbols by the collapse rule: merge runs of repeated symbols, then drop the
blanks (``"1 1 - 1 7 7 -"`` -> ``"1 1 7"``; the blank between the two 1s keeps them apart). Greedy decoding
takes the most probable symbol at each step and collapses that path. :func:`edit_distance` (Levenshtein) and
:func:`character_error_rate` measure how far a decoded sequence is from the truth.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import integer

__all__ = ["ctc_collapse", "ctc_greedy_decode", "edit_distance", "character_error_rate"]


def ctc_collapse(path, blank: int = 0) -> list[int]:
    """The label sequence of one path of per-step symbols: merge repeats, then remove ``blank``."""
    path = np.asarray(path)
    if path.ndim != 1 or not np.issubdtype(path.dtype, np.integer):
        raise ValueError(f"path must be a 1-D array of integer symbols; got shape {path.shape}, dtype {path.dtype}")
    blank = integer(blank, "blank")
    out, previous = [], None
    for s in path.tolist():
        if s != previous and s != blank:
            out.append(s)
        previous = s
    return out


def ctc_greedy_decode(scores, blank: int = 0) -> list[list[int]]:
    """Greedy (best-path) decoding of ``scores`` (T, N, C) (log-probabilities or logits): one list per sample.

    The layout is that of ``torch.nn.CTCLoss`` (time first).
    """
    scores = np.asarray(scores)
    if scores.ndim != 3 or min(scores.shape) < 1:
        raise ValueError(f"scores must have shape (T, N, C) with T, N, C >= 1 (time first); got {scores.shape}")
    blank = integer(blank, "blank", minimum=0, maximum=scores.shape[2] - 1)
    best = scores.argmax(axis=2)
    return [ctc_collapse(best[:, i], blank) for i in range(scores.shape[1])]


def edit_distance(a, b) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions that turn ``a`` into ``b``."""
    a, b = list(a), list(b)
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (x != y))
    return row[-1]


def character_error_rate(predictions, targets) -> float:
    """Sum of edit distances over the total length of the targets (the pooled character error rate, CER)."""
    predictions, targets = list(predictions), list(targets)
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"need as many predictions as targets (>= 1); got {len(predictions)} and {len(targets)}")
    total = sum(len(t) for t in targets)
    if total == 0:
        raise ValueError("targets are all empty; the character error rate is undefined")
    return sum(edit_distance(p, t) for p, t in zip(predictions, targets, strict=True)) / total
