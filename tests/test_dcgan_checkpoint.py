"""The committed DCGAN generator loads into today's model code and reproduces the samples its log stores."""

import base64
from pathlib import Path

import numpy as np
import torch

from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.gan import load_dcgan_generator


def test_dcgan_checkpoint_matches_its_log():
    generator, log = load_dcgan_generator("dcgan_mnist")
    assert sum(p.numel() for p in generator.parameters()) == log["model"]["parameters"]
    assert (Path(checkpoint_dir()) / "dcgan_mnist.pt").stat().st_size < 2_000_000
    steps = log["args"]["steps"]
    assert all(len(v) == steps for v in log["history"].values())
    fixed = log["fixed_noise"]
    z = torch.randn(fixed["n"], log["model"]["nz"], 1, 1, generator=torch.Generator().manual_seed(fixed["seed"]))
    with torch.no_grad():
        mine = ((generator(z)[:, 0].clamp(-1, 1) + 1) * 127.5).round().numpy()
    stored = np.frombuffer(base64.b64decode(log["samples"][str(steps)]), np.uint8).reshape(fixed["n"], 28, 28)
    # the log's samples come from float32 weights, the checkpoint holds float16 ones: a few grey levels apart
    assert np.abs(mine - stored).mean() < 3 and np.percentile(np.abs(mine - stored), 99) < 40
    first = np.frombuffer(base64.b64decode(log["samples"]["0"]), np.uint8).reshape(fixed["n"], 28, 28)
    assert np.abs(first.astype(float) - stored).mean() > 20     # training changed what the noise maps to
