"""Catch: a tiny pixel game for reinforcement learning, many episodes at once, in NumPy.

A ball starts in a random column of the top row of a ``rows x columns`` grid and falls one row per step;
a one-pixel paddle in the bottom row moves left, stays or moves right (actions 0, 1, 2; it stops at the
walls). When the ball reaches the bottom row the episode ends with reward +1 if the paddle is under it,
-1 otherwise; every other step gives 0. An agent sees only the frame, an image with the ball and the
paddle as 1-pixels (the DeepMind "bsuite" Catch task, whose default grid is 10 x 5). Every episode lasts
``rows - 1`` steps, so a batch of episodes stays in lockstep.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, integer

__all__ = ["Catch", "perfect_actions"]


class Catch:
    """``n_envs`` independent Catch games of size ``rows x columns`` played in lockstep.

    :meth:`reset` starts new episodes and returns the frames ``(n_envs, 1, rows, columns)`` (float32);
    :meth:`step` takes one action per game and returns ``(frames, rewards, done)``, ``done`` being one bool
    for the whole batch. The state is ``ball_row``, ``ball_col`` and ``paddle`` (int arrays).
    """

    def __init__(self, rows: int = 10, columns: int = 5, n_envs: int = 1, seed=0):
        self.rows = integer(rows, "rows", minimum=2)
        self.columns = integer(columns, "columns", minimum=1)
        self.n_envs = integer(n_envs, "n_envs", minimum=1)
        self.rng = as_generator(seed)
        self.ball_row = None

    def reset(self) -> np.ndarray:
        """New episodes: ball in a random top-row column, paddle in a random bottom-row column."""
        self.ball_row = np.zeros(self.n_envs, dtype=np.int64)
        self.ball_col = self.rng.integers(0, self.columns, self.n_envs)
        self.paddle = self.rng.integers(0, self.columns, self.n_envs)
        return self.frames()

    def frames(self) -> np.ndarray:
        """The current images ``(n_envs, 1, rows, columns)``: 1 at the ball and at the paddle, 0 elsewhere."""
        if self.ball_row is None:
            raise ValueError("call reset() before frames() or step()")
        out = np.zeros((self.n_envs, 1, self.rows, self.columns), dtype=np.float32)
        idx = np.arange(self.n_envs)
        out[idx, 0, self.ball_row, self.ball_col] = 1.0
        out[idx, 0, self.rows - 1, self.paddle] = 1.0
        return out

    def step(self, actions):
        """Move the paddles by ``actions - 1`` (0 left, 1 stay, 2 right), drop the balls one row.

        Returns ``(frames, rewards, done)``: rewards (float32, one per game) are +1/-1 on the step the balls
        reach the bottom row and 0 before.
        """
        if self.ball_row is None:
            raise ValueError("call reset() before frames() or step()")
        if self.done:
            raise ValueError("the episodes are over; call reset()")
        actions = np.asarray(actions)
        if actions.shape != (self.n_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be {self.n_envs} ints in {{0, 1, 2}}; got {actions.dtype} array of shape "
                             f"{actions.shape}")
        if np.any((actions < 0) | (actions > 2)):
            raise ValueError(f"actions must be 0 (left), 1 (stay) or 2 (right); got {np.unique(actions)}")
        self.paddle = np.clip(self.paddle + actions - 1, 0, self.columns - 1)
        self.ball_row = self.ball_row + 1
        done = self.done
        rewards = np.zeros(self.n_envs, dtype=np.float32)
        if done:
            rewards = np.where(self.paddle == self.ball_col, 1.0, -1.0).astype(np.float32)
        return self.frames(), rewards, done

    @property
    def done(self) -> bool:
        """Whether the balls have reached the bottom row."""
        return bool(self.ball_row[0] >= self.rows - 1)


def perfect_actions(frames) -> np.ndarray:
    """The optimal policy read off the pixels: move the paddle toward the ball's column (1 = stay when under it).

    ``frames``: ``(N, 1, rows, columns)`` Catch images. Used as the "perfect player" reference (mean reward 1).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1] != 1:
        raise ValueError(f"frames must have shape (N, 1, rows, columns); got {frames.shape}")
    top = frames[:, 0, :-1, :].max(axis=1)                # the ball, in any row above the bottom one
    ball = np.where(top.any(axis=1), top.argmax(axis=1), frames[:, 0, -1].argmax(axis=1))
    paddle = frames[:, 0, -1].argmax(axis=1)
    return (np.sign(ball - paddle) + 1).astype(np.int64)
