"""Train the small DCGAN of the generative lesson on MNIST and save its generator.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_dcgan.py [--steps 1500] [--batch-size 64] [--lr 2e-4] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_dcgan.py [same options]

:func:`helpers.torch.gan.dcgan_generator` and :func:`~helpers.torch.gan.dcgan_discriminator` are trained on the
60,000 MNIST training digits (pixels scaled to [-1, 1]) with Adam (lr 2e-4, betas 0.5/0.999, as Radford et al.
2016) and the non-saturating generator loss (:func:`helpers.torch.gan.gan_step`). Writes
``book/lessons/checkpoints/dcgan_mnist.{pt,json}``: the generator's float16 weights (the discriminator is not
needed to sample) and a log with the arguments, the discriminator and generator loss and mean D(x), D(G(z)) of
every step, and 16 samples from a fixed noise batch (seed ``--seed`` + 1000) at several steps, stored as base64
uint8 pixels. Seeded; records the training and wall time, torch version, thread count, the machine and the number
of processes.

``--threads`` defaults to all cores. Under torchrun the GAN is trained by rank 0 alone (with all cores; the other
ranks exit at once with a message): data-parallel training would change the algorithm the log records, because
both networks use batch normalization (each process would normalize its half of the batch with its own
statistics) and every step draws its noise batch from the global generator, and there is only one seed to
deal out.
"""

from __future__ import annotations

import argparse
import base64
import time

import numpy as np
import torch

from helpers.data import load_mnist
from helpers.machine import cpu_count, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import save_checkpoint
from helpers.torch.distributed import is_main, rank, setup, teardown
from helpers.torch.gan import dcgan_discriminator, dcgan_generator, dcgan_init, gan_step

NAME = "dcgan_mnist"
N_FIXED = 16


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Generator output in [-1, 1] (N, 1, 28, 28) -> uint8 pixels (N, 28, 28)."""
    return ((images[:, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--nz", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--snapshots", type=int, nargs="+", default=[0, 100, 300, 700, 1500])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores; under torchrun rank 0 trains alone)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads is None:
        args.threads = cpu_count()

    wall = time.perf_counter()
    dist_info = setup("gloo")
    if not is_main():
        print(f"train_dcgan.py: rank {rank()} has nothing to do and exits; rank 0 trains the GAN alone "
              "(data parallelism would change its batch-norm statistics and noise draws)", flush=True)
        teardown()
        return
    seed_everything(args.seed, threads=args.threads)
    train = load_mnist("train")
    x = torch.from_numpy(train.x).float().div(127.5).sub(1).unsqueeze(1)
    generator = dcgan_init(dcgan_generator(args.nz, args.width))
    discriminator = dcgan_init(dcgan_discriminator(args.width))
    opt_g = torch.optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed = torch.randn(N_FIXED, args.nz, 1, 1, generator=torch.Generator().manual_seed(args.seed + 1000))
    batches = torch.Generator().manual_seed(args.seed + 1)
    history = {k: [] for k in ("d_loss", "g_loss", "d_real", "d_fake")}
    samples = {}

    def snapshot(step):
        generator.eval()
        with torch.no_grad():
            samples[str(step)] = base64.b64encode(to_uint8(generator(fixed)).tobytes()).decode()
        generator.train()

    start = time.perf_counter()
    if 0 in args.snapshots:
        snapshot(0)
    order = torch.randperm(len(x), generator=batches)
    pos = 0
    for step in range(1, args.steps + 1):
        if pos + args.batch_size > len(x):
            order, pos = torch.randperm(len(x), generator=batches), 0
        real = x[order[pos:pos + args.batch_size]]
        pos += args.batch_size
        r = gan_step(generator, discriminator, opt_g, opt_d, real, args.nz)
        for k, v in r.items():
            history[k].append(round(v, 4))
        if step in args.snapshots:
            snapshot(step)
        if step % 100 == 0:
            print(f"step {step}: " + ", ".join(f"{k} {np.mean(v[-100:]):.3f}" for k, v in history.items())
                  + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    seconds = time.perf_counter() - start
    generator.eval()
    log = {"model": {"builder": "helpers.torch.gan.dcgan_generator", "nz": args.nz, "width": args.width,
                     "parameters": sum(p.numel() for p in generator.parameters()),
                     "discriminator_parameters": sum(p.numel() for p in discriminator.parameters())},
           "args": vars(args), "data": {"train_images": len(x), "pixel_range": [-1, 1]},
           "history": history,
           "fixed_noise": {"seed": args.seed + 1000, "n": N_FIXED, "note": "torch.randn(n, nz, 1, 1) with a "
                           "torch.Generator seeded with seed"},
           "samples": samples, "samples_format": "base64 of uint8 (n, 28, 28), pixels 0..255",
           "seconds": round(seconds, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "wall_seconds": round(time.perf_counter() - wall, 3), "machine": machine_info(),
           "world_size": dist_info.world_size}
    path = save_checkpoint(generator, log, NAME)
    print(f"saved {path} ({path.stat().st_size / 1e6:.2f} MB) after {seconds:.0f} s", flush=True)
    teardown()


if __name__ == "__main__":
    main()
