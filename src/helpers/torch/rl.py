"""A small CNN policy for pixel games such as :class:`helpers.numpy.catch.Catch`, and how to play it.

:func:`catch_policy` maps a frame ``(N, 1, rows, columns)`` to the logits of the actions (left, stay, right);
:func:`play` runs whole episodes of a batched game with a policy (greedy, sampled, uniformly random or any
function of the frames) and returns every frame, action and reward, for training with REINFORCE and for
evaluation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from helpers.checks import integer, positive_int

__all__ = ["catch_policy", "play"]


def catch_policy(rows: int = 10, columns: int = 5, width: int = 16, n_actions: int = 3) -> nn.Sequential:
    """``Conv(1->w, 3x3) - ReLU - Conv(w->w, 3x3) - ReLU - Flatten - Dense(-> n_actions)``, padding 1 (no pooling).

    Without pooling the dense layer still knows *where* the ball and the paddle are, which is what the policy
    needs; the convolutions find them wherever they are.
    """
    rows, columns = integer(rows, "rows", minimum=2), positive_int(columns, "columns")
    width, n_actions = positive_int(width, "width"), positive_int(n_actions, "n_actions")
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(width * rows * columns, n_actions))


def play(env, policy="greedy", model=None, generator: torch.Generator | None = None):
    """Play one batch of episodes of ``env`` (reset first); returns ``(frames, actions, rewards)`` arrays.

    ``policy``: ``"greedy"`` (argmax of ``model``'s logits), ``"sample"`` (sample from their softmax, with
    ``generator``), ``"random"`` (uniform actions from ``env.rng``) or a function frames -> int actions.
    ``frames``: ``(T + 1, n_envs, 1, rows, columns)`` including the final frame; ``actions`` and ``rewards``:
    ``(T, n_envs)``. The episode's return is ``rewards.sum(axis=0)``.
    """
    if policy in ("greedy", "sample") and model is None:
        raise ValueError(f"policy={policy!r} needs a model")
    if not (callable(policy) or policy in ("greedy", "sample", "random")):
        raise ValueError(f"policy must be 'greedy', 'sample', 'random' or a function of the frames; got {policy!r}")
    frames, actions, rewards = [env.reset()], [], []
    done = False
    while not done:
        if policy == "random":
            a = env.rng.integers(0, 3, env.n_envs)
        elif callable(policy):
            a = np.asarray(policy(frames[-1]))
        else:
            with torch.no_grad():
                logits = model(torch.from_numpy(frames[-1]))
            if policy == "greedy":
                a = logits.argmax(1).numpy()
            else:
                a = torch.multinomial(torch.softmax(logits, 1), 1, generator=generator)[:, 0].numpy()
        f, r, done = env.step(a.astype(np.int64))
        frames.append(f)
        actions.append(a)
        rewards.append(r)
    return np.stack(frames), np.stack(actions).astype(np.int64), np.stack(rewards)
