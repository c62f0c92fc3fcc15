"""Segmentation helpers: concatenation, IoU/Dice with the empty-mask convention, split, U-Net, loss, augmentation."""

import numpy as np
import pytest
import torch

from helpers.data import dsb2018_split
from helpers.numpy.layers import concat_backward, concat_forward
from helpers.numpy.metrics import dice, iou, pixel_dice, pixel_iou
from helpers.torch.params import count_params
from helpers.torch.unet import (
    UNet,
    UNetPlusPlus,
    bce_dice_loss,
    build_unet,
    images_to_tensor,
    lovasz_hinge_loss,
    predict_probs,
    random_dihedral,
)


def test_concat_matches_torch_cat_forward_and_backward():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 2, 4, 5))
    out, cache = concat_forward(a, b)
    at, bt = torch.from_numpy(a).requires_grad_(), torch.from_numpy(b).requires_grad_()
    ref = torch.cat([at, bt], 1)
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.from_numpy(dout))
    da, db = concat_backward(dout, cache)
    np.testing.assert_array_equal(da, at.grad.numpy())
    np.testing.assert_array_equal(db, bt.grad.numpy())


def test_concat_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="H, W must match"):
        concat_forward(np.ones((1, 2, 4, 4)), np.ones((1, 2, 4, 5)))
    with pytest.raises(ValueError, match="N, C, H, W"):
        concat_forward(np.ones((2, 4, 4)), np.ones((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="channels"):
        concat_backward(np.ones((1, 2, 4, 4)), 2)


def test_iou_and_dice_on_a_hand_example():
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True                      # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[:2, :3] = True                       # 6 pixels, 4 of them right
    assert iou(pred, truth) == pytest.approx(4 / 6)
    assert dice(pred, truth) == pytest.approx(2 * 4 / 10)
    assert dice(pred, truth) == pytest.approx(2 * iou(pred, truth) / (1 + iou(pred, truth)))


def test_empty_mask_convention():
    empty, full = np.zeros((3, 3), bool), np.ones((3, 3), bool)
    assert iou(empty, empty) == 1.0 and dice(empty, empty) == 1.0      # nothing to find, nothing found
    assert iou(full, empty) == 0.0 and dice(empty, full) == 0.0        # one empty, the other not
    assert pixel_iou(np.zeros((2, 3, 3)), np.zeros((2, 3, 3))) == 1.0
    assert pixel_dice(np.zeros((2, 3, 3)), np.zeros((2, 3, 3))) == 1.0


def test_per_image_and_set_scores_differ_as_expected():
    truth = np.zeros((2, 4, 4), bool)
    truth[0] = True                            # a big object, found perfectly
    truth[1, 0, 0] = True                      # a one-pixel object, missed
    pred = truth.copy()
    pred[1, 0, 0] = False
    np.testing.assert_allclose(iou(pred, truth), [1.0, 0.0])
    assert pixel_iou(pred, truth) == pytest.approx(16 / 17)  # the set-level score is dominated by big objects
    assert float(dice(pred, truth).mean()) == pytest.approx(0.5)


def test_metrics_reject_bad_masks():
    with pytest.raises(ValueError, match="same shape"):
        iou(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="binary"):
        pixel_iou(np.full((3, 3), 0.7), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="H, W"):
        dice(np.zeros(3), np.zeros(3))


def test_split_is_seeded_disjoint_and_complete():
    s = dsb2018_split(664)
    assert [len(s[k]) for k in ("train", "val", "test")] == [465, 100, 99]
    allidx = np.concatenate(list(s.values()))
    np.testing.assert_array_equal(np.sort(allidx), np.arange(664))
    s2 = dsb2018_split(664)
    assert all(np.array_equal(s[k], s2[k]) for k in s)
    assert not np.array_equal(dsb2018_split(664, seed=1)["test"], s["test"])
    with pytest.raises(ValueError, match="sum"):
        dsb2018_split(10, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="empty"):
        dsb2018_split(3, fractions=(0.8, 0.1, 0.1))


def test_images_to_tensor():
    x = np.full((2, 8, 8, 3), 255, np.uint8)
    t = images_to_tensor(x)
    assert t.shape == (2, 3, 8, 8) and t.dtype == torch.float32 and float(t.max()) == 1.0
    with pytest.raises(ValueError, match="uint8"):
        images_to_tensor(x.astype(np.float32))


@pytest.mark.parametrize("skips", [True, False])
def test_unet_shapes_and_skip_switch(skips):
    torch.manual_seed(0)
    model = UNet(width=4, depth=2, skips=skips).eval()
    out = model(torch.rand(2, 3, 16, 16))
    assert out.shape == (2, 1, 16, 16)
    first_decoder_conv = model.dec[0][0]
    assert first_decoder_conv.in_channels == (16 if skips else 8)   # concatenation doubles the channels
    with pytest.raises(ValueError, match="divisible"):
        model(torch.rand(1, 3, 10, 10))
    with pytest.raises(ValueError, match="width must be an int >= 1"):
        UNet(width=0)


def test_unet_upsample_runs_the_same_weights_on_an_enlarged_image():
    torch.manual_seed(0)
    plain, enlarged = UNet(width=4, depth=2).eval(), UNet(width=4, depth=2, upsample=2).eval()
    enlarged.load_state_dict(plain.state_dict())      # strict: no new parameters
    x = torch.rand(2, 3, 16, 16)
    out = enlarged(x)
    assert out.shape == (2, 1, 16, 16)
    big = plain(torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    assert big.shape == (2, 1, 32, 32)
    torch.testing.assert_close(out, big.reshape(2, 1, 16, 2, 16, 2).mean(dim=(3, 5)))   # 2x2 means of its logits
    assert not torch.allclose(out, plain(x), atol=1e-3)
    assert build_unet({"width": 4, "depth": 2, "upsample": 2}).upsample == 2
    assert build_unet({"width": 4, "depth": 2}).upsample == 1                          # older logs: no key
    with pytest.raises(ValueError, match="upsample must be an int >= 1"):
        UNet(upsample=0)


def test_unetpp_of_depth_1_is_the_unet_of_depth_1():
    # With one level there is one skip node, X[0][1] = block(cat(X[0][0], up(X[1][0]))): the U-Net's decoder.
    torch.manual_seed(0)
    unet, unetpp = UNet(width=4, depth=1).eval(), UNetPlusPlus(width=4, depth=1).eval()
    renamed = {k.replace("up.0.", "up.0_1.").replace("dec.0.", "node.0_1."): v for k, v in unet.state_dict().items()}
    unetpp.load_state_dict(renamed)                    # strict: the same tensors under the UNet++ names
    x = torch.rand(2, 3, 8, 8)
    torch.testing.assert_close(unetpp(x), unet(x), rtol=0, atol=0)


def test_unetpp_nodes_shapes_and_gradients():
    torch.manual_seed(0)
    model = UNetPlusPlus(width=4, depth=3)
    assert sorted(model.node) == ["0_1", "0_2", "0_3", "1_1", "1_2", "2_1"]     # depth*(depth+1)/2 nested nodes
    assert model.node["0_3"][0].in_channels == 4 * 4      # X[0][0..2] and the upsampled X[1][2]: 4 maps of 4
    assert model.node["1_2"][0].in_channels == 8 * 3
    out = model(torch.rand(2, 3, 16, 16))
    assert out.shape == (2, 1, 16, 16)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())   # every node is used
    assert count_params(model) > count_params(UNet(width=4, depth=3))
    with pytest.raises(ValueError, match="divisible by 8"):
        model(torch.rand(1, 3, 12, 12))
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        UNetPlusPlus(depth=0)


def test_build_unet_from_a_logs_model_entry():
    unet = build_unet({"class": "helpers.torch.unet.UNet", "width": 4, "depth": 2, "skips": False, "in_channels": 1})
    assert isinstance(unet, UNet) and not unet.skips and unet.down[0][0].in_channels == 1
    assert isinstance(build_unet({"width": 4, "depth": 2}), UNet)                    # older logs: no class
    unetpp = build_unet({"class": "helpers.torch.unet.UNetPlusPlus", "width": 4, "depth": 2, "skips": True})
    assert isinstance(unetpp, UNetPlusPlus) and unetpp.down[0][0].in_channels == 3
    with pytest.raises(ValueError, match="unknown segmentation network 'SegNet'"):
        build_unet({"class": "SegNet", "width": 4, "depth": 2})


def test_unet_learns_a_trivial_mask():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    y = (x[:, :1] > 0.5).float()             # nucleus = bright red channel
    model = UNet(width=4, depth=1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = bce_dice_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert pixel_iou(predict_probs(model, x) > 0.5, y[:, 0].bool().numpy()) > 0.9


def test_bce_dice_loss_values():
    target = torch.tensor([[[[1.0, 0.0]]]])
    perfect = torch.tensor([[[[20.0, -20.0]]]])
    assert float(bce_dice_loss(perfect, target)) < 1e-6
    wrong = -perfect
    assert float(bce_dice_loss(wrong, target)) > 10
    logits = torch.zeros(1, 1, 1, 2)   # p = 0.5 everywhere: BCE = ln 2, soft Dice = (1 + 1) / (1 + 1 + 1)
    assert float(bce_dice_loss(logits, target)) == pytest.approx(np.log(2) + 1 - 2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        bce_dice_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


def test_lovasz_hinge_is_the_jaccard_loss_on_unit_margins():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        target = (torch.rand(2, 1, 7, 9, generator=g) < 0.3).float()
        pred = torch.rand(2, 1, 7, 9, generator=g) < 0.4
        logits = pred.float() * 2 - 1                 # errors are 0 (right) or 2 (wrong): loss = 2 (1 - IoU)
        expected = 2 * (1 - pixel_iou(pred.numpy(), target.bool().numpy()))
        assert float(lovasz_hinge_loss(logits, target)) == pytest.approx(expected, rel=1e-6)
        assert float(lovasz_hinge_loss(3 * (target * 2 - 1), target)) == 0.0   # right with margin > 1
    with pytest.raises(ValueError, match="same shape"):
        lovasz_hinge_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3))


def test_lovasz_hinge_descent_raises_the_iou():
    g = torch.Generator().manual_seed(1)
    target = (torch.rand(1, 1, 12, 12, generator=g) < 0.2).float()
    logits = torch.randn(1, 1, 12, 12, generator=g).requires_grad_()
    before = pixel_iou((logits > 0).numpy(), target.bool().numpy())
    opt = torch.optim.SGD([logits], lr=10.0)     # each pixel's weight is a small difference of IoUs
    for _ in range(50):
        opt.zero_grad()
        loss = lovasz_hinge_loss(logits, target)
        loss.backward()
        opt.step()
    assert before < 0.5
    assert pixel_iou((logits > 0).numpy(), target.bool().numpy()) == 1.0
    assert float(lovasz_hinge_loss(logits.detach(), target)) == 0.0


def test_random_dihedral_moves_image_and_mask_together():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 6, 6)
    y = (x[:, :1] > 0.5).float()
    xa, ya = random_dihedral(x, y, g)
    torch.testing.assert_close(ya, (xa[:, :1] > 0.5).float())     # the mask still matches the image
    assert not torch.equal(xa, x)
    # each output is one of the 8 symmetries of its input
    for i in range(16):
        variants = [torch.rot90(x[i].flip(-1) if c >= 4 else x[i], c % 4, (-2, -1)) for c in range(8)]
        assert any(torch.equal(xa[i], v) for v in variants)
    with pytest.raises(ValueError, match="square"):
        random_dihedral(torch.rand(1, 3, 4, 6), torch.rand(1, 1, 4, 6))


def test_predict_probs_tta_is_exact_for_a_symmetric_model():
    model = torch.nn.Conv2d(3, 1, 1)           # pointwise: every flip/rotation gives the same answer
    x = torch.rand(3, 3, 8, 8)
    np.testing.assert_allclose(predict_probs(model, x, tta=True), predict_probs(model, x), atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        predict_probs(model, x, batch_size=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\); got shape \(3, 8, 8\)"):
        predict_probs(model, x[0])


def test_predict_probs_channels_last_matches_the_default_layout_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = UNet(width=4, depth=2).eval()
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = predict_probs(model, x, tta=True)                                   # channels-last copy, batches of 8
    plain = predict_probs(model, x, batch_size=2, tta=True, channels_last=False)
    assert fast.shape == (5, 16, 16) and fast.dtype == np.float32 and fast.flags.c_contiguous
    np.testing.assert_allclose(fast, plain, atol=1e-5)
    np.testing.assert_array_equal(plain, predict_probs(model, x, batch_size=2, tta=True, channels_last=False))
    weight = model.down[0][0].weight                                           # the caller's model: unchanged
    assert weight.is_contiguous() and not weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
