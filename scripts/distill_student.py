"""Distil the book's CIFAR-10 ResNet-20 into a tiny CNN, against the same CNN trained without a teacher.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/distill_student.py [--steps 1000] [--seeds 0 1 2] [--threads N] [--out FOLDER]
    torchrun --standalone --nproc_per_node 2 scripts/distill_student.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the
independent runs (seed x arm) are dealt out over the processes (:func:`helpers.torch.distributed.shard`),
each run exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

Student: ``cifar_cnn(width=8)`` (three conv-ReLU-maxpool stages, one dense layer). Both arms use the same
5,000 CIFAR-10 training images (drawn with seed 1), the same seeds, Adam (lr 3e-3), batch 64 and number of
steps; the distilled arm minimises ``helpers.torch.deploy.kd_loss`` with the teacher's logits (T = 4,
alpha = 0.9, fixed in advance, not tuned), the plain arm cross-entropy. All runs are scored on the full
CIFAR-10 test set (10,000 images). Writes ``book/lessons/checkpoints/distill_student.pt`` (the distilled
student of the first seed, float16) and ``distill_student.json`` (arguments, every run's test accuracy,
the stored student's accuracy after the float16 round trip, seconds, wall seconds, the machine and the number
of processes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint
from helpers.torch.deploy import kd_loss, predict
from helpers.torch.distributed import gather, is_main, setup, shard, teardown
from helpers.torch.models import cifar_cnn
from helpers.torch.params import count_params
from helpers.torch.resnet import load_cifar_resnet


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255).contiguous()


def train_student(x, y, teacher_logits, seed, steps, temperature, alpha, width):
    """One student: plain cross-entropy when ``teacher_logits`` is None, else the distillation loss."""
    seed_everything(seed, threads=torch.get_num_threads())
    student = cifar_cnn(width=width)
    optimizer = torch.optim.Adam(student.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        batch = torch.randint(0, len(y), (64,), generator=generator)
        logits = student(x[batch])
        if teacher_logits is None:
            loss = F.cross_entropy(logits, y[batch])
        else:
            loss = kd_loss(logits, teacher_logits[batch], y[batch], temperature, alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return student.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--train_images", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    start = time.perf_counter()
    dist_info = setup("gloo")
    torch.set_num_threads(args.threads)
    train, test = load_cifar10("train"), load_cifar10("test")
    pick = np.random.default_rng(1).choice(len(train.y), args.train_images, replace=False)
    x, y = to_tensor(train.x[pick]), torch.from_numpy(train.y[pick]).long()
    x_test, y_test = to_tensor(test.x), torch.from_numpy(test.y).long()
    teacher, _ = load_cifar_resnet(pixel_input=True)
    teacher_logits = predict(teacher, x)
    jobs = list(enumerate((seed, arm) for seed in args.seeds for arm in ("plain", "distilled")))
    first = next(i for i, (_, arm) in jobs if arm == "distilled")      # the stored student: first seed, distilled
    mine = []
    for i, (seed, arm) in shard(jobs):                    # all of them in one process
        student = train_student(x, y, teacher_logits if arm == "distilled" else None, seed, args.steps,
                                args.temperature, args.alpha, args.width)
        acc = (predict(student, x_test).argmax(1) == y_test).float().mean().item()
        mine.append((i, {"seed": seed, "arm": arm, "test_acc": round(acc, 4)},
                     student.state_dict() if i == first else None))
        print(mine[-1][1], flush=True)
    done = sorted((job for part in gather(mine) for job in part), key=lambda job: job[0])
    if not is_main():
        teardown()
        return
    runs = [run for _, run, _ in done]
    stored = cifar_cnn(width=args.width)
    stored.load_state_dict(done[first][2])
    stored.eval()
    log = {
        "model": {"builder": "cifar_cnn", "width": args.width, "parameters": count_params(stored)},
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "data": {"train": f"{args.train_images} CIFAR-10 training images drawn with seed 1",
                 "test": "full CIFAR-10 test set (10000 images)"},
        "teacher": {"checkpoint": "resnet20_cifar10", "train_acc_on_subset":
                    round((teacher_logits.argmax(1) == y).float().mean().item(), 4)},
        "runs": runs,
        "stored": {"arm": "distilled", "seed": args.seeds[0]},
        "seconds": round(time.perf_counter() - start, 1),
        "wall_seconds": round(time.perf_counter() - start, 3),
        "machine": machine_info(),
        "world_size": dist_info.world_size,
    }
    save_checkpoint(stored, log, "distill_student", args.out)
    state, _ = load_checkpoint("distill_student", args.out)
    reloaded = cifar_cnn(width=args.width)
    reloaded.load_state_dict(state)
    log["stored"]["test_acc_float16_weights"] = round(
        (predict(reloaded.eval(), x_test).argmax(1) == y_test).float().mean().item(), 4)
    log["wall_seconds"] = round(time.perf_counter() - start, 3)
    save_checkpoint(stored, log, "distill_student", args.out)
    print(log["stored"], log["seconds"], "s")
    teardown()


if __name__ == "__main__":
    main()
