"""The committed U-Net checkpoints load into today's model code and reach the IoU their logs report."""

import pytest
from offline_data import needs

from helpers import data
from helpers.data import dsb2018_split
from helpers.numpy.metrics import dice, iou, pixel_iou
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.params import count_params
from helpers.torch.unet import build_unet, images_to_tensor, predict_probs


def _model(name):
    state, log = load_checkpoint(name)
    model = build_unet(log["model"])
    model.load_state_dict(state)  # strict: every name and shape must match today's model
    return model.eval(), log


@pytest.mark.parametrize("name", ["unet_dsb2018", "unet_dsb2018_noskip"])
def test_unet_checkpoint_matches_its_log(name):
    model, log = _model(name)
    assert count_params(model) == log["model"]["parameters"]
    assert len(log["history"]["val_iou"]) == log["args"]["epochs"]
    assert log["split"] == {"train": 465, "val": 100, "test": 99}
    assert 0.0 < log["threshold"] < 1.0


@needs("dsb2018")
@pytest.mark.parametrize("name", ["unet_dsb2018", "unet_dsb2018_noskip"])
def test_unet_checkpoint_reaches_the_reported_test_iou(name):
    model, log = _model(name)
    ds = data.load_dsb2018()
    test = dsb2018_split(len(ds), seed=0)["test"]
    probs = predict_probs(model, images_to_tensor(ds.x[test]))
    masks, truth = probs > log["threshold"], ds.y[test]
    reported = log["test"]["at_val_threshold"]
    assert pixel_iou(masks, truth) == pytest.approx(reported["pixel_iou"], abs=0.005)
    assert float(iou(masks, truth).mean()) == pytest.approx(reported["mean_iou"], abs=0.005)
    assert float(dice(masks, truth).mean()) == pytest.approx(reported["mean_dice"], abs=0.005)
    assert reported["pixel_iou"] > 0.7
