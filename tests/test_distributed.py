"""torch.distributed helpers: the single-process fallback, and 2 real gloo processes started with torchrun."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from helpers import data
from helpers.torch.distributed import (
    DistInfo,
    all_reduce_mean,
    distributed_loader,
    flat_gradients,
    is_distributed,
    is_main,
    print0,
    setup,
    teardown,
)

ROOT = Path(__file__).resolve().parents[1]
DIST_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _have_mnist():
    try:
        data.load_mnist("train", download=False)
    except data.DataUnavailableError:
        return False
    return True


def _plain_env():
    return {k: v for k, v in os.environ.items() if k not in DIST_VARS}


def _torchrun(args, timeout=120):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(cmd, env=_plain_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_setup_without_torchrun_is_one_plain_process(monkeypatch, capsys):
    for var in DIST_VARS:
        monkeypatch.delenv(var, raising=False)
    assert setup("gloo") == DistInfo(0, 1, 0, False)
    assert not is_distributed() and is_main()
    print0("hello", 3)
    assert capsys.readouterr().out == "hello 3\n"
    t = torch.arange(4.0)
    assert all_reduce_mean(t) is t and t.tolist() == [0, 1, 2, 3]
    teardown()  # a no-op


def test_setup_errors(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        setup("tcp")
    monkeypatch.setenv("WORLD_SIZE", "two")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="WORLD_SIZE must be a non-negative integer"):
        setup()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK must be below WORLD_SIZE"):
        setup()
    with pytest.raises(ValueError, match="torch.Tensor"):
        all_reduce_mean([1.0])


def test_distributed_loader_without_a_group_sees_everything():
    ds = TensorDataset(torch.arange(10))
    loader, sampler = distributed_loader(ds, batch_size=4)
    assert sampler is None
    assert torch.cat([b[0] for b in loader]).tolist() == list(range(10))
    a, _ = distributed_loader(ds, batch_size=10, shuffle=True, seed=3)
    b, _ = distributed_loader(ds, batch_size=10, shuffle=True, seed=3)
    assert next(iter(a))[0].tolist() == next(iter(b))[0].tolist() != list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        distributed_loader(ds, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        distributed_loader(TensorDataset(torch.zeros(0)), batch_size=2)
    with pytest.raises(ValueError, match="sampler"):
        distributed_loader(ds, batch_size=2, sampler=None)


def test_flat_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="backward"):
        flat_gradients(model)
    F.cross_entropy(model(torch.randn(5, 3)), torch.tensor([0, 1, 0, 1, 1])).backward()
    ref = torch.cat([model[0].weight.grad.flatten(), model[0].bias.grad, model[2].weight.grad.flatten(),
                     model[2].bias.grad])
    assert torch.equal(flat_gradients(model), ref)
    with pytest.raises(ValueError, match="no trainable"):
        flat_gradients(nn.ReLU())


WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from torch.utils.data import TensorDataset
    from helpers.torch.distributed import (all_reduce_mean, distributed_loader, is_main, print0, setup,
                                           teardown)
    info = setup("gloo")
    t = all_reduce_mean(torch.tensor([float(info.rank), 10.0 * info.rank]))
    loader, sampler = distributed_loader(TensorDataset(torch.arange(10)), batch_size=3, shuffle=True, seed=1)
    sampler.set_epoch(0)
    seen = torch.cat([b[0] for b in loader]).tolist()
    gathered = [None] * info.world_size
    torch.distributed.all_gather_object(gathered, {"info": list(info.__dict__.values()), "seen": seen,
                                                   "mean": t.tolist(), "main": is_main()})
    print0("only rank 0 prints this line")
    if is_main():
        open(sys.argv[1], "w").write(json.dumps(gathered))
    teardown()
""")


def test_helpers_inside_two_gloo_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = _torchrun([str(script), str(tmp_path / "out.json")])
    assert done.stdout.count("only rank 0 prints this line") == 1
    ranks = json.loads((tmp_path / "out.json").read_text())
    assert [r["info"] for r in ranks] == [[0, 2, 0, True], [1, 2, 1, True]]
    assert [r["main"] for r in ranks] == [True, False]
    for r in ranks:
        assert r["mean"] == [0.5, 5.0]
    a, b = ranks[0]["seen"], ranks[1]["seen"]
    assert len(a) == len(b) == 5 and sorted(a + b) == list(range(10))  # disjoint halves, shuffled
    assert a + b != list(range(10))


@pytest.mark.skipif(not _have_mnist(), reason="set CNN_BOOK_DATA to the offline data folder")
def test_ddp_gradients_equal_single_process_gradients(tmp_path):
    script = str(ROOT / "scripts" / "ddp_check.py")
    plain = subprocess.run([sys.executable, script, "--out", str(tmp_path / "one"), "--global-batch", "32",
                            "--repeats", "0"], env=_plain_env(), capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain.stderr[-3000:]
    _torchrun([script, "--out", str(tmp_path / "two"), "--global-batch", "32", "--repeats", "0"])
    one, two = np.load(tmp_path / "one.npz"), np.load(tmp_path / "two.npz")
    info1 = json.loads((tmp_path / "one.json").read_text())
    info2 = json.loads((tmp_path / "two.json").read_text())
    assert (info1["world_size"], info2["world_size"]) == (1, 2)
    assert info2["indices"] == [list(range(0, 32, 2)), list(range(1, 32, 2))]
    assert np.abs(one["grads"]).max() > 1e-3  # a real gradient, not zeros
    np.testing.assert_allclose(two["grads"], one["grads"], rtol=0, atol=1e-6)
    assert float(two["loss"]) == pytest.approx(float(one["loss"]), abs=1e-6)
    # the same check against autograd in this process on the same digits and weights
    from helpers.data import normalize_mnist
    from helpers.torch.models import mnist_classifier
    mnist = data.load_mnist("train")
    torch.manual_seed(0)
    model = mnist_classifier()
    F.cross_entropy(model(torch.from_numpy(normalize_mnist(mnist.x[:32]))),
                    torch.from_numpy(mnist.y[:32]).long()).backward()
    np.testing.assert_allclose(two["grads"], flat_gradients(model).numpy(), rtol=0, atol=1e-6)
    assert info2["syncbn"] == "ok" or "GPU" in info2["syncbn"]
