"""The committed U-Nets of the improved recipe (``unet_dsb2018_plus``: 25 epochs; ``unet_dsb2018_long``: 90) load
into today's code and reach the test scores their logs report, with the logged preprocessing, test-time
augmentation and validation threshold; their three-seed summaries agree with the seed-0 logs. The pilot logs
(no weights committed) hold the runs lesson 7 describes, chosen by the recipe's own rule."""

import json

import numpy as np
import pytest
from offline_data import needs

from helpers import data
from helpers.committed_files import checkpoint_dir
from helpers.data import dsb2018_split
from helpers.numpy.intensity import normalize_nuclei_images
from helpers.numpy.metrics import pixel_iou, threshold_averaged_mean_iou
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.params import count_params
from helpers.torch.unet import build_unet, grey_to_tensor, images_to_tensor, predict_probs

NAMES = ["unet_dsb2018_plus", "unet_dsb2018_long"]


def _model(name):
    state, log = load_checkpoint(name)
    model = build_unet(log["model"])
    model.load_state_dict(state)  # strict: every name and shape must match today's model
    return model.eval(), log


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_is_small_and_matches_its_log(name):
    model, log = _model(name)
    assert (checkpoint_dir() / f"{name}.pt").stat().st_size < 5e6
    assert count_params(model) == log["model"]["parameters"]
    assert len(log["history"]["val_iou"]) == log["args"]["epochs"]
    assert log["split"] == {"train": 465, "val": 100, "test": 99}
    assert log["args"]["seed"] == 0 and log["machine"]["threads"] == 1
    for name, s in log["test_metrics"].items():
        assert s["low"] <= s["value"] <= s["high"], name


@pytest.mark.parametrize("name", NAMES)
def test_seed_summary_agrees_with_the_seed_0_log(name):
    _, log = _model(name)
    summary = json.loads((checkpoint_dir() / f"{name}_seeds.json").read_text())
    assert len(summary["runs"]) == 3 and sorted(r["seed"] for r in summary["runs"]) == [0, 1, 2]
    seed0 = next(r for r in summary["runs"] if r["seed"] == 0)
    for name, s in log["test_metrics"].items():
        assert seed0["test_metrics"][name] == s
        values = [r["test_metrics"][name]["value"] for r in summary["runs"]]
        assert summary["mean"][name] == pytest.approx(np.mean(values), abs=1e-5)
        assert summary["sd"][name] == pytest.approx(np.std(values, ddof=1), abs=1e-5)


@needs("dsb2018")
@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_reaches_the_reported_test_scores(name):
    model, log = _model(name)
    ds = data.load_dsb2018()
    test = dsb2018_split(len(ds), seed=0)["test"]
    images = ds.x[test]
    x = grey_to_tensor(normalize_nuclei_images(images)) if log["args"]["normalize"] else images_to_tensor(images)
    probs = predict_probs(model, x, tta=log["tta"])   # channels-last batches of 8: the fastest on one thread
    truth = ds.y[test]
    reported = log["test_metrics"]
    assert threshold_averaged_mean_iou(probs, truth) == pytest.approx(
        reported["threshold_averaged_mean_iou"]["value"], abs=1e-3)
    assert pixel_iou(probs > log["threshold"], truth) == pytest.approx(
        reported["foreground_pixel_iou"]["value"], abs=1e-3)


# The pilots lesson 7 compares with the recipe (seed 0, judged on validation): what each changed.
PILOTS = {"unet_pilot_normsi_90": {"epochs": 90, "width": 16, "normalize": True, "augment": "scale-intensity"},
          "unet_pilot_width32_25": {"epochs": 25, "width": 32, "normalize": False, "augment": "dihedral"},
          "unet_pilot_unetpp_25": {"epochs": 25, "width": 16, "arch": "unetpp", "normalize": False,
                                   "augment": "dihedral"},
          "unet_pilot_long150": {"epochs": 150, "width": 16, "normalize": False, "augment": "dihedral"},
          "unet_pilot_upsample2_25": {"epochs": 25, "width": 16, "upsample": 2, "normalize": False},
          "unet_pilot_finetune_control": {"epochs": 30, "max_lr": 1e-3, "init": "unet_dsb2018_long",
                                          "loss": "bce-dice"},
          "unet_pilot_finetune_lovasz": {"epochs": 30, "max_lr": 1e-3, "init": "unet_dsb2018_long",
                                         "loss": "bce-dice-lovasz"}}


def test_the_two_fine_tunes_differ_only_in_the_loss_and_start_from_the_committed_90_epoch_model():
    control, lovasz = (json.loads((checkpoint_dir() / f"unet_pilot_finetune_{k}.json").read_text())
                       for k in ("control", "lovasz"))
    differ = {k for k in control["args"] if control["args"][k] != lovasz["args"][k]}
    assert differ == {"loss", "name"}
    start = json.loads((checkpoint_dir() / "unet_dsb2018_long.json").read_text())
    assert control["model"] == lovasz["model"] == start["model"]
    assert control["machine"]["threads"] == lovasz["machine"]["threads"] == 1


def test_unetpp_seeds_ran_the_25_epoch_recipe_and_summarize_their_logs():
    # lesson 7 compares UNet++ with the U-Net's three seeds of the same recipe, on validation
    pp = json.loads((checkpoint_dir() / "unet_pilot_unetpp_25_seeds.json").read_text())
    plain = json.loads((checkpoint_dir() / "unet_dsb2018_plus_seeds.json").read_text())
    assert pp["recipe"].pop("arch") == "unetpp" and pp["recipe"] == plain["recipe"]
    assert pp["model"]["class"] == "helpers.torch.unet.UNetPlusPlus"
    assert count_params(build_unet(pp["model"])) == pp["model"]["parameters"]
    assert sorted(r["seed"] for r in pp["runs"]) == [0, 1, 2]
    seed0 = json.loads((checkpoint_dir() / "unet_pilot_unetpp_25.json").read_text())
    run0 = next(r for r in pp["runs"] if r["seed"] == 0)
    assert run0["val_metrics"] == {k: v["value"] for k, v in seed0["val_metrics"].items()}
    assert run0["test_metrics"] == seed0["test_metrics"] and run0["best_epoch"] == seed0["best_epoch"]
    for metric, mean in pp["mean"].items():
        values = [r["test_metrics"][metric]["value"] for r in pp["runs"]]
        assert mean == pytest.approx(np.mean(values), abs=1e-5)


@pytest.mark.parametrize("name", [*PILOTS, *NAMES])
def test_logs_hold_the_described_run_and_its_epoch_is_the_best_on_validation(name):
    log = json.loads((checkpoint_dir() / f"{name}.json").read_text())
    args = log["args"]
    if name in PILOTS:
        assert {k: args[k] for k in PILOTS[name]} == PILOTS[name]
    assert (args["seed"], args["ema"], args["tta"], args["select_on"]) == (0, 0.99, True, "tamiou")
    assert log["split"] == {"train": 465, "val": 100, "test": 99} and log["selected_on"] == "tamiou"
    scores = log["history"]["val_tamiou"]
    assert len(scores) == args["epochs"] and log["best_epoch"] == int(np.argmax(scores)) + 1
    for part in ("val_metrics", "test_metrics"):
        for metric, s in log[part].items():
            assert s["low"] <= s["value"] <= s["high"], (part, metric)
