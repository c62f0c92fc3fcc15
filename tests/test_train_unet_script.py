"""scripts/train_unet.py runs end to end on a few images, with either network, and logs what it trained."""

import importlib.util

import pytest
from offline_data import needs

from helpers.committed_files import repo_root
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.params import count_params
from helpers.torch.unet import UNet, UNetPlusPlus, build_unet

spec = importlib.util.spec_from_file_location("train_unet", repo_root() / "scripts" / "train_unet.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)


@needs("dsb2018")
@pytest.mark.parametrize("arch,cls", [("unet", UNet), ("unetpp", UNetPlusPlus)])
def test_a_tiny_run_writes_a_checkpoint_that_loads_into_the_logged_network(arch, cls, tmp_path):
    script.main(["--arch", arch, "--epochs", "1", "--limit", "16", "--width", "2", "--depth", "2", "--threads", "1",
                 "--name", "tiny", "--out", str(tmp_path)])
    state, log = load_checkpoint("tiny", tmp_path)
    assert log["model"]["class"] == f"helpers.torch.unet.{cls.__name__}" and log["args"]["arch"] == arch
    model = build_unet(log["model"])
    assert type(model) is cls
    model.load_state_dict(state)                     # strict: the logged description builds the trained network
    assert len(log["history"]["epoch"]) == 1 and 0.0 <= log["test"]["at_0.5"]["pixel_iou"] <= 1.0
    assert log["model"]["parameters"] == count_params(model)


def test_unetpp_refuses_the_no_skips_ablation(tmp_path, capsys):
    with pytest.raises(SystemExit):
        script.main(["--arch", "unetpp", "--no-skips", "--epochs", "1", "--out", str(tmp_path)])
    assert "UNet++ is all skips" in capsys.readouterr().err


@needs("dsb2018")
def test_fine_tuning_starts_from_the_given_weights_with_the_lovasz_loss_and_an_enlarged_image(tmp_path):
    common = ["--epochs", "1", "--limit", "16", "--width", "2", "--depth", "2", "--threads", "1",
              "--out", str(tmp_path)]
    script.main([*common, "--upsample", "2", "--name", "start"])
    start, log = load_checkpoint("start", tmp_path)
    assert log["model"]["upsample"] == 2 and build_unet(log["model"]).upsample == 2
    script.main([*common, "--upsample", "2", "--init", str(tmp_path / "start"), "--loss", "bce-dice-lovasz",
                 "--name", "tuned"])
    tuned, log = load_checkpoint("tuned", tmp_path)
    assert log["args"]["loss"] == "bce-dice-lovasz" and log["args"]["init"] == str(tmp_path / "start")
    assert any((start[k] != tuned[k]).any() for k in start if start[k].is_floating_point())   # it trained
    with pytest.raises(ValueError, match="not the"):           # the start must be the network asked for
        script.main([*common, "--init", str(tmp_path / "start"), "--name", "wrong"])


def test_upsample_is_a_unet_option(tmp_path, capsys):
    with pytest.raises(SystemExit):
        script.main(["--arch", "unetpp", "--upsample", "2", "--epochs", "1", "--out", str(tmp_path)])
    assert "--upsample is a U-Net option" in capsys.readouterr().err
