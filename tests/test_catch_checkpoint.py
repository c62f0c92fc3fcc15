"""The committed Catch policy of scripts/train_catch.py loads and scores what its log reports."""

import numpy as np

from helpers.numpy.catch import Catch
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.rl import catch_policy, play


def test_policy_reproduces_its_logged_reward():
    state, log = load_checkpoint("catch_policy")
    cfg = log["model"]
    model = catch_policy(cfg["rows"], cfg["columns"], cfg["width"])
    model.load_state_dict(state)
    run = next(r for r in log["runs"] if r["seed"] == log["stored_seed"])
    n = run["greedy"]["episodes"]
    _, _, rewards = play(Catch(cfg["rows"], cfg["columns"], n_envs=n, seed=log["eval_seed"]), "greedy", model.eval())
    assert round(float(rewards.sum(axis=0).mean()), 4) == run["greedy"]["mean_reward"]
    _, _, rnd = play(Catch(cfg["rows"], cfg["columns"], n_envs=n, seed=log["eval_seed"]), "random")
    assert round(float(rnd.sum(axis=0).mean()), 4) == run["random"]["mean_reward"]
    # the log's claims: every seed's greedy policy beats random play by far
    for r in log["runs"]:
        assert r["greedy"]["mean_reward"] > r["random"]["mean_reward"] + 1.0
        assert len(r["curve"]) == log["args"]["iterations"] and np.isfinite(r["curve"]).all()
