"""Learn Catch from pixels: a small CNN policy trained with REINFORCE, then evaluated against baselines.

Usage (from the repository root):
    python scripts/train_catch.py [--iterations 300] [--games 64] [--seeds 0,1,2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_catch.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the seeds
(independent runs) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`), each
run exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

The game is :class:`helpers.numpy.catch.Catch` (10 x 5 pixels, a ball falls, a paddle catches it: +1 or
-1 at the end); the policy is :func:`helpers.torch.rl.catch_policy`, which sees only the frame. Training:
each iteration plays ``--games`` episodes with actions sampled from the policy, and takes one Adam step on
the REINFORCE loss ``-(R - mean R) log pi(a_t | s_t)`` (the episode's return ``R``, undiscounted, minus the
batch mean as baseline) minus ``--entropy`` times the policy's entropy. Evaluation, on fresh games (seed
10,000 + training seed): the greedy policy's mean reward over ``--eval-episodes`` episodes with a Wilson
interval on its catch rate, against a uniformly random policy and the perfect policy (mean reward 1).
Writes ``book/lessons/checkpoints/catch_policy.pt`` (the first seed's weights, float16) and
``catch_policy.json`` (every seed's learning curve and scores), which ``tests/test_catch_checkpoint.py``
re-checks. The log also records the wall time, the machine and the number of processes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.machine import default_threads, machine_info
from helpers.numpy.catch import Catch, perfect_actions
from helpers.seeding import seed_everything
from helpers.stats import wilson_interval
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.rl import catch_policy, play


def evaluate(policy, seed, episodes, model=None, rows=10, columns=5) -> dict:
    """Mean reward and catch-rate interval of ``policy`` over ``episodes`` fresh games."""
    _, _, rewards = play(Catch(rows, columns, n_envs=episodes, seed=seed), policy, model)
    returns = rewards.sum(axis=0)
    caught = int((returns > 0).sum())
    low, high = wilson_interval(caught, episodes)
    return {"mean_reward": round(float(returns.mean()), 4), "catch_rate": round(caught / episodes, 4),
            "catch_rate_95": [round(low, 4), round(high, 4)], "episodes": episodes}


def train_one(seed, args):
    seed_everything(seed, threads=args.threads)
    model = catch_policy(args.rows, args.columns, args.width)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    env = Catch(args.rows, args.columns, n_envs=args.games, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    curve, start = [], time.perf_counter()
    for _ in range(args.iterations):
        frames, actions, rewards = play(env, "sample", model, gen)
        returns = rewards.sum(axis=0)                                        # (games,)
        advantage = torch.from_numpy(returns - returns.mean()).float()
        x = torch.from_numpy(frames[:-1].reshape(-1, 1, args.rows, args.columns))
        logp = torch.log_softmax(model(x), 1)
        chosen = logp.gather(1, torch.from_numpy(actions.reshape(-1, 1)))[:, 0].view(actions.shape)
        entropy = -(logp.exp() * logp).sum(1).mean()
        loss = -(chosen * advantage).sum(0).mean() - args.entropy * entropy
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        curve.append(round(float(returns.mean()), 4))
    return model.eval(), curve, round(time.perf_counter() - start, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--games", type=int, default=64, help="episodes per iteration")
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--entropy", type=float, default=0.01)
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")

    def one(job):
        index, seed = job
        model, curve, seconds = train_one(seed, args)
        stored = catch_policy(args.rows, args.columns, args.width)
        stored.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
        run = {"seed": seed, "train_seconds": seconds, "curve": curve,
               "greedy": evaluate("greedy", 10_000 + seed, args.eval_episodes, stored.eval(), args.rows, args.columns),
               "random": evaluate("random", 10_000 + seed, args.eval_episodes, None, args.rows, args.columns),
               "perfect": evaluate(perfect_actions, 10_000 + seed, args.eval_episodes, None, args.rows,
                                   args.columns)}
        print(f"seed {seed}: greedy {run['greedy']['mean_reward']:+.3f}, random {run['random']['mean_reward']:+.3f}, "
              f"perfect {run['perfect']['mean_reward']:+.3f} ({seconds:.0f} s)", flush=True)
        return run, model if index == 0 else None  # the first seed's weights are stored

    done = run_sharded(one, enumerate(args.seeds))    # in one process: every seed in order
    if not is_main():
        teardown()
        return
    runs, first = [run for run, _ in done], done[0][1]
    log = {"model": {"builder": "helpers.torch.rl.catch_policy", "rows": args.rows, "columns": args.columns,
                     "width": args.width},
           "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
           "stored_seed": args.seeds[0], "eval_seed": 10_000 + args.seeds[0],
           "runs": runs, "wall_seconds": round(time.perf_counter() - wall, 3),
           "machine": machine_info(), "world_size": dist_info.world_size}
    print("wrote", save_checkpoint(first, log, "catch_policy", args.out))
    teardown()


if __name__ == "__main__":
    main()
