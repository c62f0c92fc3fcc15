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
from offline_data import needs
from torch import nn
from torch.utils.data import TensorDataset

from helpers import data
from helpers.torch.distributed import (
    DistInfo,
    all_reduce_mean,
    ddp,
    distributed_loader,
    flat_gradients,
    gather,
    is_distributed,
    is_main,
    print0,
    rank,
    run_sharded,
    setup,
    shard,
    shard_loader,
    teardown,
    unwrap,
    world_size,
)
from helpers.torch.training import fit

ROOT = Path(__file__).resolve().parents[1]
DIST_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


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


@pytest.fixture(scope="module")
def gloo_run(tmp_path_factory):
    """One torchrun start (2 gloo processes) runs both workers (starting Python + torch twice is the slow part)."""
    tmp = tmp_path_factory.mktemp("gloo")
    script = tmp / "worker.py"
    script.write_text(WORKER.replace("teardown()\n", "") + SCRIPT_WORKER)
    done = _torchrun([str(script), str(tmp / "out.json"), str(tmp / "script_helpers.json")])
    return done, tmp


def test_helpers_inside_two_gloo_processes(gloo_run):
    done, tmp_path = gloo_run
    assert done.stdout.count("only rank 0 prints this line") == 1
    ranks = json.loads((tmp_path / "out.json").read_text())
    assert [r["info"] for r in ranks] == [[0, 2, 0, True], [1, 2, 1, True]]
    assert [r["main"] for r in ranks] == [True, False]
    for r in ranks:
        assert r["mean"] == [0.5, 5.0]
    a, b = ranks[0]["seen"], ranks[1]["seen"]
    assert len(a) == len(b) == 5 and sorted(a + b) == list(range(10))  # disjoint halves, shuffled
    assert a + b != list(range(10))


@needs("mnist", "train")
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


def test_run_sharded_without_a_group_is_a_plain_loop_in_order():
    calls = []

    def fn(job):
        calls.append(job)
        return {"job": job, "square": job * job}

    assert run_sharded(fn, iter([3, 1, 2])) == [{"job": 3, "square": 9}, {"job": 1, "square": 1},
                                                {"job": 2, "square": 4}]
    assert calls == [3, 1, 2]                      # every job, once, in the given order
    assert run_sharded(fn, []) == []
    with pytest.raises(ValueError, match="callable"):
        run_sharded("fn", [1])


def test_script_helpers_without_a_group_change_nothing():
    assert not is_distributed() and (rank(), world_size()) == (0, 1)
    model = nn.Linear(3, 2)
    assert ddp(model) is model and unwrap(model) is model
    loader = torch.utils.data.DataLoader(TensorDataset(torch.arange(10)), batch_size=3, shuffle=True)
    assert shard_loader(loader, seed=5) is loader
    assert shard(range(5)) == [0, 1, 2, 3, 4] and shard([]) == []
    assert gather({"a": 1}) == [{"a": 1}]
    wrapped = nn.parallel.DistributedDataParallel.__new__(nn.parallel.DistributedDataParallel)
    nn.Module.__init__(wrapped)
    wrapped.module = model                         # a wrapper without a process group, just for unwrap
    assert unwrap(wrapped) is model
    with pytest.raises(ValueError, match="nn.Module"):
        ddp("model")
    with pytest.raises(ValueError, match="nn.Module"):
        unwrap(None)
    with pytest.raises(ValueError, match="DataLoader"):
        shard_loader([1, 2, 3])


class _RecordingSampler(torch.utils.data.DistributedSampler):
    def __init__(self, dataset):
        super().__init__(dataset, num_replicas=2, rank=0, shuffle=True, seed=0)   # no process group needed
        self.epochs, self.orders = [], []

    def set_epoch(self, epoch):
        super().set_epoch(epoch)
        self.epochs.append(epoch)

    def __iter__(self):
        order = list(super().__iter__())
        self.orders.append(order)
        return iter(order)


def test_fit_sets_the_epoch_of_a_distributed_sampler():
    torch.manual_seed(0)
    ds = TensorDataset(torch.randn(16, 3), torch.randint(0, 2, (16,)))
    sampler = _RecordingSampler(ds)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler)
    model = nn.Linear(3, 2)
    fit(model, loader, None, 3, torch.optim.SGD(model.parameters(), lr=0.1), device="cpu", progress=False)
    assert sampler.epochs == [0, 1, 2]
    assert len(sampler.orders) == 3 and all(len(o) == 8 for o in sampler.orders)
    assert sampler.orders[0] != sampler.orders[1] or sampler.orders[1] != sampler.orders[2]  # reshuffled
    # a plain shuffled loader (no set_epoch) still trains as before
    plain = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)
    fit(model, plain, None, 1, torch.optim.SGD(model.parameters(), lr=0.1), device="cpu", progress=False)


SCRIPT_WORKER = textwrap.dedent("""
    import json, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from helpers.torch.distributed import (ddp, gather, is_main, rank, run_sharded, setup, shard, shard_loader,
                                           teardown, unwrap, world_size)
    from helpers.torch.training import fit
    info = setup("gloo")
    torch.set_num_threads(1)
    out = {"rank": rank(), "world": world_size(), "shard": shard(range(5)), "gather": gather(("r", rank()))}
    out["run_sharded"] = run_sharded(lambda job: [job, rank()], [10, 11, 12, 13, 14])
    ds = TensorDataset(torch.arange(12))
    sharded = shard_loader(DataLoader(ds, batch_size=4, shuffle=True), seed=3)
    out["batches"] = [b[0].tolist() for b in sharded]
    sharded.sampler.set_epoch(1)
    out["batches_epoch1"] = [b[0].tolist() for b in sharded]
    out["sequential"] = [b[0].tolist() for b in shard_loader(DataLoader(ds, batch_size=6))]
    try:
        shard_loader(DataLoader(ds, batch_size=5))
    except ValueError as e:
        out["error"] = str(e)
    # data-parallel training == one process on the whole batch (no batch norm, no shuffling)
    torch.manual_seed(0)
    x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    def train(model, loader):
        fit(model, loader, None, 2, torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9), device="cpu",
            progress=False)
        return torch.cat([p.detach().flatten() for p in unwrap(model).parameters()])
    torch.manual_seed(1)
    net = ddp(nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)))
    net.module.tag = "inner attribute"
    out["wrapped"] = [isinstance(net, torch.nn.parallel.DistributedDataParallel), net.tag, ddp(net) is net]
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    distributed = train(net, shard_loader(loader))
    torch.manual_seed(1)
    single = train(nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)), loader)
    torch.manual_seed(1)
    init = torch.cat([p.detach().flatten() for p in nn.Sequential(nn.Linear(5, 8), nn.Tanh(),
                                                                   nn.Linear(8, 3)).parameters()])
    out["max_diff"] = (distributed - single).abs().max().item()
    out["moved"] = (single - init).abs().max().item()
    everything = gather(out)
    if is_main():
        open(sys.argv[2], "w").write(json.dumps(everything))
    teardown()
""")


def test_script_helpers_inside_two_gloo_processes(gloo_run):
    _, tmp_path = gloo_run
    r0, r1 = json.loads((tmp_path / "script_helpers.json").read_text())
    assert (r0["rank"], r0["world"], r1["rank"], r1["world"]) == (0, 2, 1, 2)
    assert r0["shard"] == [0, 2, 4] and r1["shard"] == [1, 3]
    assert r0["gather"] == r1["gather"] == [["r", 0], ["r", 1]]
    # every job once, job i on rank i % 2, all results in job order on both ranks
    assert r0["run_sharded"] == r1["run_sharded"] == [[10, 0], [11, 1], [12, 0], [13, 1], [14, 0]]
    for key in ("batches", "batches_epoch1"):
        assert [len(b) for b in r0[key]] == [len(b) for b in r1[key]] == [2, 2, 2]   # global batch 4 = 2 x 2
        seen = sum(r0[key], []) + sum(r1[key], [])
        assert sorted(seen) == list(range(12))                                       # an epoch: each sample once
    assert r0["batches"] != r0["batches_epoch1"]                                     # reshuffled per epoch
    assert r0["sequential"] == [[0, 2, 4], [6, 8, 10]] and r1["sequential"] == [[1, 3, 5], [7, 9, 11]]
    assert "global batch size 5 must be divisible by the number of processes 2" in r0["error"]
    assert r0["wrapped"] == [True, "inner attribute", True]
    assert r0["moved"] > 1e-2                             # it did train
    assert r0["max_diff"] < 1e-6 and r1["max_diff"] < 1e-6
