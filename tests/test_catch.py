"""The NumPy Catch game (rules, rewards, rendering, errors) and the CNN policy's play loop."""

import numpy as np
import pytest
import torch

from helpers.numpy.catch import Catch, perfect_actions
from helpers.torch.rl import catch_policy, play


def test_rules_by_hand():
    env = Catch(rows=4, columns=3, n_envs=2, seed=0)
    f = env.reset()
    assert f.shape == (2, 1, 4, 3) and f.dtype == np.float32
    env.ball_col, env.paddle = np.array([0, 2]), np.array([2, 2])       # set a known state
    f = env.frames()
    assert f[0, 0, 0, 0] == 1 and f[0, 0, 3, 2] == 1 and f.sum() == 4
    f, r, done = env.step(np.array([0, 1]))                            # left / stay
    assert not done and np.all(r == 0) and list(env.paddle) == [1, 2] and list(env.ball_row) == [1, 1]
    f, r, done = env.step(np.array([0, 2]))                            # left / right (wall: stays at 2)
    assert list(env.paddle) == [0, 2] and not done
    f, r, done = env.step(np.array([0, 0]))                            # left at wall / left
    assert done and list(env.paddle) == [0, 1] and list(r) == [1.0, -1.0]
    assert f[0, 0, 3].sum() == 1 and f[1, 0, 3].sum() == 2             # ball on paddle: one pixel
    with pytest.raises(ValueError, match="over"):
        env.step(np.array([1, 1]))


def test_episode_length_and_policies():
    env = Catch(n_envs=500, seed=1)
    frames, actions, rewards = play(env, perfect_actions)
    assert frames.shape == (10, 500, 1, 10, 5) and actions.shape == rewards.shape == (9, 500)
    assert np.all(rewards[:-1] == 0) and np.all(rewards[-1] == 1.0)     # the perfect player always catches
    _, _, rnd = play(Catch(n_envs=2000, seed=2), "random")
    rate = (rnd[-1] > 0).mean()
    assert 0.15 < rate < 0.35                                           # random play catches rarely
    # the perfect action is "towards the ball"
    env = Catch(rows=5, columns=5, n_envs=3, seed=0)
    env.reset()
    env.ball_col, env.paddle = np.array([0, 2, 4]), np.array([2, 2, 2])
    assert list(perfect_actions(env.frames())) == [0, 1, 2]


def test_policy_network_and_play_modes():
    torch.manual_seed(0)
    net = catch_policy(10, 5)
    assert net(torch.zeros(4, 1, 10, 5)).shape == (4, 3)
    f1, a1, _ = play(Catch(n_envs=8, seed=3), "greedy", net)
    f2, a2, _ = play(Catch(n_envs=8, seed=3), "greedy", net)
    assert np.array_equal(a1, a2) and np.array_equal(f1, f2)
    _, a3, _ = play(Catch(n_envs=8, seed=3), "sample", net, torch.Generator().manual_seed(0))
    assert a3.shape == (9, 8) and set(np.unique(a3)) <= {0, 1, 2}


def test_errors():
    with pytest.raises(ValueError, match="rows"):
        Catch(rows=1)
    with pytest.raises(ValueError, match="reset"):
        Catch().step(np.array([1]))
    env = Catch(n_envs=2)
    env.reset()
    with pytest.raises(ValueError, match="2 ints"):
        env.step(np.array([1]))
    with pytest.raises(ValueError, match="0 \\(left\\)"):
        env.step(np.array([1, 3]))
    with pytest.raises(ValueError, match="needs a model"):
        play(env, "greedy")
    with pytest.raises(ValueError, match="policy must be"):
        play(env, "best")
    with pytest.raises(ValueError, match="frames must have shape"):
        perfect_actions(np.zeros((2, 10, 5)))
