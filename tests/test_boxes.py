"""helpers.numpy.boxes against torchvision.ops, PyTorch autograd and pycocotools; helpers.data.canvases."""

import contextlib
import io

import numpy as np
import pytest
import torch
import torchvision

from helpers.data.canvases import make_canvases, resize_bilinear
from helpers.numpy.boxes import (
    accumulate,
    batched_nms,
    box_iou,
    decode_predictions,
    encode_targets,
    evaluate_image,
    kmeans_anchors,
    mean_average_precision,
    nms,
    postprocess,
    wh_iou,
    yolo_loss_backward,
    yolo_loss_forward,
)
from helpers.torch.detection import (
    DigitDetector,
    detect,
    grid_targets,
    raw_predictions,
    to_grid,
    train_detector,
    yolo_loss,
)


def random_boxes(rng, n, size=50.0, max_wh=20.0, degenerate=0.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(0, max_wh, (n, 2))
    wh[rng.random((n, 2)) < degenerate] = 0.0
    return np.concatenate([xy, xy + wh], 1)


T = torch.from_numpy


# ----------------------------------------------------------------------------------------------- IoU and NMS
@pytest.mark.parametrize("seed", range(5))
def test_box_iou_matches_torchvision(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 17), random_boxes(rng, 23)
    np.testing.assert_allclose(box_iou(a, b), torchvision.ops.box_iou(T(a), T(b)).numpy(), rtol=0, atol=1e-12)


def test_box_iou_degenerate_and_empty():
    rng = np.random.default_rng(1)
    a = random_boxes(rng, 30, size=10, max_wh=5, degenerate=0.5)     # many zero-width or zero-height boxes
    a[:3] = [2, 2, 2, 2]                                              # identical points: union 0
    ref = torchvision.ops.box_iou(T(a), T(a)).numpy()
    mine = box_iou(a, a)
    finite = np.isfinite(ref)
    assert not finite.all()                                           # torchvision gives NaN for 0 / 0 ...
    np.testing.assert_allclose(mine[finite], ref[finite], atol=1e-12)
    assert (mine[~finite] == 0).all()                                 # ... this module gives 0
    assert box_iou(np.zeros((0, 4)), a).shape == (0, 30)
    assert box_iou(a, np.zeros((0, 4))).shape == (30, 0)
    assert box_iou([], []).shape == (0, 0)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 5)), r"shape \(n, 4\)"),
    (np.zeros(4), r"shape \(n, 4\)"),
    (np.array([[0, 0, -1, 2.0]]), "x2 >= x1"),
    (np.array([[0, 3, 1, 2.0]]), "x2 >= x1 and y2 >= y1"),
    (np.array([[0, 0, np.nan, 2.0]]), "finite"),
])
def test_box_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        box_iou(bad, np.zeros((1, 4)))
    with pytest.raises(ValueError, match=message):
        nms(bad, np.ones(len(bad)), 0.5)


def test_nms_score_shape_errors():
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        nms(np.zeros((2, 4)), np.ones(3), 0.5)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        batched_nms(np.zeros((2, 4)), np.ones(2), np.zeros(3), 0.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        nms(np.zeros((2, 4)), np.ones(2), float("nan"))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_torchvision(seed, threshold):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 60, size=30, degenerate=0.1 if seed % 2 else 0.0)
    scores = rng.random(60)
    if seed >= 3:                                                     # many exact ties
        scores = np.round(scores * 4) / 4
    ref = torchvision.ops.nms(T(boxes), T(scores), threshold).numpy()
    np.testing.assert_array_equal(nms(boxes, scores, threshold), ref)
    labels = rng.integers(0, 4, 60)
    if seed < 3:     # torchvision's batched_nms breaks score ties across classes in an unspecified order
        ref = torchvision.ops.batched_nms(T(boxes), T(scores), T(labels), threshold).numpy()
        np.testing.assert_array_equal(batched_nms(boxes, scores, labels, threshold), ref)


def test_nms_edge_cases():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).shape == (0,)
    same = np.array([[0, 0, 10, 10]] * 3, float)
    np.testing.assert_array_equal(nms(same, np.array([0.2, 0.9, 0.5]), 0.5), [1])
    np.testing.assert_array_equal(nms(same, np.array([0.2, 0.9, 0.5]), 1.0), [1, 2, 0])   # IoU 1 is not > 1
    np.testing.assert_array_equal(batched_nms(same, np.array([0.2, 0.9, 0.5]), [0, 1, 0], 0.5), [1, 2])


# ----------------------------------------------------------------------------------------------- anchors
def test_wh_iou_is_box_iou_of_centred_boxes():
    rng = np.random.default_rng(0)
    wh1, wh2 = rng.uniform(1, 20, (7, 2)), rng.uniform(1, 20, (5, 2))
    centred = lambda wh: np.concatenate([-wh / 2, wh / 2], 1)  # noqa: E731
    np.testing.assert_allclose(wh_iou(wh1, wh2), box_iou(centred(wh1), centred(wh2)), atol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        wh_iou([[1, 0]], [[1, 1]])


def test_kmeans_anchors_is_a_fixed_point():
    rng = np.random.default_rng(0)
    wh = np.concatenate([rng.normal(m, 1, (100, 2)) for m in (5, 12, 25)])
    anchors = kmeans_anchors(wh, 3, iters=300, seed=0)
    assert anchors.shape == (3, 2) and (np.diff(anchors.prod(1)) > 0).all()
    assign = wh_iou(wh, anchors).argmax(1)
    np.testing.assert_allclose(anchors, [wh[assign == c].mean(0) for c in range(3)], rtol=1e-6)
    np.testing.assert_allclose(np.sort(anchors[:, 0]), [5, 12, 25], atol=0.5)
    with pytest.raises(ValueError, match="n >= k"):
        kmeans_anchors(wh[:2], 3)


# ----------------------------------------------------------------------------------------------- the grid
ANCHORS = np.array([[9.0, 14.0], [14.0, 18.0], [20.0, 23.0]])


def grid_case(seed, n=4, grid=8, stride=8):
    rng = np.random.default_rng(seed)
    targets = []
    for _ in range(n):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 40, (k, 2))
        targets.append({"boxes": np.concatenate([xy, xy + rng.uniform(6, 24, (k, 2))], 1),
                        "labels": rng.integers(0, 10, k)})
    return targets, encode_targets(targets, grid, stride, ANCHORS, 10)


@pytest.mark.parametrize("seed", range(3))
def test_encode_then_decode_gives_the_boxes_back(seed):
    targets, enc = grid_case(seed)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    pred = np.full(enc["obj"].shape + (15,), -20.0)
    box = np.clip(enc["box"], 1e-9, None)
    pred[..., 1:3] = logit(np.clip(box[..., :2], 1e-9, 1 - 1e-9))
    pred[..., 3:5] = enc["box"][..., 2:]
    pred[..., 0] = np.where(enc["obj"], 20.0, -20.0)
    np.put_along_axis(pred[..., 5:], np.clip(enc["cls"], 0, None)[..., None], 20.0, -1)
    dets = postprocess(pred, 8, ANCHORS, score_threshold=0.5, iou_threshold=None)
    assert enc["dropped"] == 0
    for d, t in zip(dets, targets, strict=True):
        order = np.lexsort(t["boxes"].T[::-1])
        got = np.lexsort(d["boxes"].T[::-1])
        np.testing.assert_allclose(d["boxes"][got], t["boxes"][order], atol=1e-6)
        np.testing.assert_array_equal(d["labels"][got], t["labels"][order])


def test_encode_assigns_centre_cell_and_best_anchor():
    t = [{"boxes": np.array([[10.0, 20.0, 20.0, 38.0], [30.0, 30.0, 50.0, 53.0]]), "labels": np.array([3, 7])}]
    enc = encode_targets(t, 8, 8, ANCHORS, 10)
    assert enc["obj"].sum() == 2
    assert enc["obj"][0, 3, 1, 1] and enc["cls"][0, 3, 1, 1] == 3            # centre (15, 29): cell row 3, col 1
    np.testing.assert_allclose(enc["box"][0, 3, 1, 1], [15 / 8 - 1, 29 / 8 - 3, np.log(10 / 14), np.log(18 / 18)])
    assert enc["obj"][0, 5, 5, 2] and enc["cls"][0, 5, 5, 2] == 7
    with pytest.raises(ValueError, match="outside"):
        encode_targets([{"boxes": np.array([[60.0, 60, 70, 70]]), "labels": np.array([0])}], 8, 8, ANCHORS, 10)
    with pytest.raises(ValueError, match=r"ints in \[0, 10\)"):
        encode_targets([{"boxes": np.array([[1.0, 1, 7, 7]]), "labels": np.array([10])}], 8, 8, ANCHORS, 10)
    with pytest.raises(ValueError, match="anchors"):
        encode_targets(t, 8, 8, np.zeros((2, 3)), 10)


def test_encode_collision_uses_next_anchor_then_drops():
    box = np.array([[10.0, 10.0, 20.0, 24.0]])
    t = [{"boxes": np.repeat(box, 4, 0), "labels": np.arange(4)}]
    enc = encode_targets(t, 8, 8, ANCHORS, 10)
    assert enc["obj"][0, 2, 1].all() and enc["dropped"] == 1


@pytest.mark.parametrize("seed", range(3))
def test_yolo_loss_and_gradient_match_autograd(seed):
    targets, enc = grid_case(seed)
    rng = np.random.default_rng(seed)
    pred = rng.normal(0, 2, enc["obj"].shape + (15,))
    loss, cache = yolo_loss_forward(pred, enc)
    grad = yolo_loss_backward(cache)
    p = torch.tensor(pred, requires_grad=True)
    target = {"obj": T(enc["obj"]), "box": T(enc["box"]), "cls": T(enc["cls"])}
    ref, parts = yolo_loss(p, target)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-10 * max(1, abs(loss))
    np.testing.assert_allclose(grad, p.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert np.isclose(sum(float(v) for v in parts.values()), loss)
    t32 = grid_targets(targets, 8, 8, ANCHORS, 10, dtype=torch.float64)
    assert torch.equal(t32["obj"], target["obj"]) and torch.allclose(t32["box"], target["box"])


def test_model_output_layout_and_decode_shapes():
    torch.manual_seed(0)
    model = DigitDetector(ANCHORS).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 64))
    grid = to_grid(out, 3)
    assert out.shape == (2, 45, 8, 8) and grid.shape == (2, 8, 8, 3, 15)
    assert torch.equal(grid[1, 2, 5, 1], out[1, 15:30, 2, 5])
    boxes, scores, labels = decode_predictions(grid.double().numpy(), 8, ANCHORS)
    assert boxes.shape == (2, 192, 4) and scores.shape == labels.shape == (2, 192)
    with pytest.raises(ValueError, match=r"\(N, S, S, A, 5 \+ C\)"):
        decode_predictions(np.zeros((2, 8, 8, 15)), 8, ANCHORS)
    with pytest.raises(ValueError, match="3 anchors"):
        decode_predictions(np.zeros((2, 8, 8, 2, 15)), 8, ANCHORS)


# ----------------------------------------------------------------------------------------------- mAP
def coco_reference(dets, gts, n_classes=10):
    """mAP@[.5:.95] and mAP@0.5 from pycocotools' COCOeval (float64)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa: E731
    anns, k = [], 1
    for i, g in enumerate(gts):
        for b, lab in zip(g["boxes"], g["labels"], strict=True):
            anns.append({"id": k, "image_id": i, "category_id": int(lab), "bbox": xywh(b),
                         "area": float((b[2] - b[0]) * (b[3] - b[1])), "iscrowd": 0})
            k += 1
    results = [{"image_id": i, "category_id": int(lab), "bbox": xywh(b), "score": float(s)}
               for i, d in enumerate(dets) for b, s, lab in zip(d["boxes"], d["scores"], d["labels"], strict=True)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": [{"id": i} for i in range(len(gts))], "annotations": anns,
                        "categories": [{"id": c} for c in range(n_classes)]}
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[1], ev.stats[2]


def noisy_detections(rng, gts, noise=2.0, extra=3, flip=0.2, n_classes=10):
    dets = []
    for g in gts:
        k = len(g["boxes"])
        b = g["boxes"] + rng.normal(0, noise, (k, 4))
        b[:, 2:] = np.maximum(b[:, 2:], b[:, :2] + 0.5)
        xy = rng.uniform(0, 50, (extra, 2))
        b = np.concatenate([b, np.concatenate([xy, xy + rng.uniform(5, 25, (extra, 2))], 1)])
        labels = np.concatenate([np.where(rng.random(k) < flip, rng.integers(0, n_classes, k), g["labels"]),
                                 rng.integers(0, n_classes, extra)])
        dets.append({"boxes": b, "scores": rng.random(len(b)), "labels": labels})
    return dets


@pytest.mark.parametrize("seed", range(4))
def test_map_matches_pycocotools(seed):
    rng = np.random.default_rng(seed)
    gts = []
    for i in range(60):
        k = int(rng.integers(0, 4)) if i % 7 else 0                   # some images without any object
        xy = rng.uniform(0, 40, (k, 2))
        gts.append({"boxes": np.concatenate([xy, xy + rng.uniform(5, 25, (k, 2))], 1),
                    "labels": rng.integers(0, 8, k)})                 # classes 8, 9: detections only
    dets = noisy_detections(rng, gts, noise=1.0 + seed, extra=seed)
    dets[3] = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}   # an image with no output
    dets[4] = {"boxes": np.array([[1.0, 1.0, 9.0, 9.0]]), "scores": np.array([0.5]), "labels": np.array([9])}
    mine = mean_average_precision(dets, gts)
    ref = coco_reference(dets, gts)
    assert abs(mine["map"] - ref[0]) < 1e-12
    assert abs(mine["map_50"] - ref[1]) < 1e-12
    assert abs(mine["map_75"] - ref[2]) < 1e-12
    assert 9 in mine["classes"] and np.isnan(mine["ap"][:, list(mine["classes"]).index(9)]).all()  # no truth: no AP


def test_map_matches_torchmetrics():
    from torchmetrics.detection import MeanAveragePrecision

    rng = np.random.default_rng(7)
    canv = make_canvases(rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), rng.integers(0, 10, 50), 40, seed=3)
    gts = canv.targets()
    dets = noisy_detections(rng, gts)
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    to_t = lambda d: {k: torch.as_tensor(np.asarray(v)) for k, v in d.items()}  # noqa: E731
    metric.update([to_t(d) for d in dets], [to_t(g) for g in gts])
    ref = metric.compute()
    # torchmetrics builds its 101 recall points with torch.linspace in float32 (0.01 becomes 0.0099999998), so a
    # recall of exactly k/n_gt can land on the other side of a point than in pycocotools' float64 np.linspace.
    # With the same float32 points the two agree to float32 precision:
    tm_points = torch.linspace(0.0, 1.0, 101).tolist()
    mine = mean_average_precision(dets, gts, recall_points=tm_points)
    assert abs(mine["map"] - ref["map"].item()) < 1e-6
    assert abs(mine["map_50"] - ref["map_50"].item()) < 1e-6


def test_ap_of_perfect_and_hopeless_detections():
    gts = [{"boxes": np.array([[0.0, 0, 10, 10], [20, 20, 30, 35]]), "labels": np.array([1, 2])}]
    perfect = [{"boxes": gts[0]["boxes"], "scores": np.array([0.9, 0.8]), "labels": np.array([1, 2])}]
    assert mean_average_precision(perfect, gts)["map"] == pytest.approx(1.0, abs=1e-12)   # COCO adds eps to tp + fp
    wrong = [{"boxes": gts[0]["boxes"], "scores": np.array([0.9, 0.8]), "labels": np.array([2, 1])}]
    assert mean_average_precision(wrong, gts)["map"] == 0.0
    half = [{"boxes": np.array([[0.0, 0, 10, 10], [0, 0, 10, 10]]), "scores": np.array([0.9, 0.8]),
             "labels": np.array([1, 1])}]        # the second box of class 1 is a duplicate: a false positive
    r = mean_average_precision(half, gts)
    assert r["ap"][0, list(r["classes"]).index(1)] == pytest.approx(1.0) and r["map"] == pytest.approx(0.5)


def test_accumulate_and_evaluate_image_shapes_and_errors():
    gt = {"boxes": np.array([[0.0, 0, 10, 10]]), "labels": np.array([1])}
    det = {"boxes": np.array([[1.0, 1, 10, 10], [0, 0, 5, 5]]), "scores": np.array([0.3, 0.9]),
           "labels": np.array([1, 1])}
    rec = evaluate_image(det, gt, [0.5, 0.9])
    np.testing.assert_array_equal(rec["scores"], [0.9, 0.3])
    np.testing.assert_array_equal(rec["tp"], [[False, True], [False, False]])   # IoU 0.81: a hit at 0.5 only
    acc = accumulate([rec, rec], recall_points=np.linspace(0, 1, 101))
    assert acc["precision"].shape == (2, 101, 1)
    np.testing.assert_allclose(acc["recall"], [[1.0], [0.0]])
    with pytest.raises(ValueError, match="one entry per image"):
        mean_average_precision([det], [gt, gt])
    with pytest.raises(ValueError, match="iou_thresholds"):
        mean_average_precision([det], [gt], iou_thresholds=[0.0])
    with pytest.raises(ValueError, match=r"detections\[0\]\['scores'\]"):
        mean_average_precision([{**det, "scores": np.ones(3)}], [gt])
    with pytest.raises(ValueError, match="at least one image"):
        accumulate([])


# ----------------------------------------------------------------------------------------------- canvases
def test_resize_bilinear_matches_torch():
    rng = np.random.default_rng(0)
    img = rng.random((28, 28))
    for size in (16, 28, 36):
        ref = torch.nn.functional.interpolate(T(img)[None, None], size=(size, size), mode="bilinear",
                                              align_corners=False)[0, 0].numpy()
        np.testing.assert_allclose(resize_bilinear(img, size), ref, atol=1e-12)   # torch's, no antialiasing
        assert resize_bilinear(img, size).shape == (size, size)
    with pytest.raises(ValueError, match="2-D"):
        resize_bilinear(np.zeros((2, 3, 4)), 5)


def test_make_canvases_boxes_hold_the_ink():
    rng = np.random.default_rng(0)
    digits = np.zeros((20, 28, 28), np.uint8)
    digits[:, 6:22, 9:19] = rng.integers(100, 256, (20, 16, 10))
    canv = make_canvases(digits, np.arange(20) % 10, 30, size=64, seed=5)
    again = make_canvases(digits, np.arange(20) % 10, 30, size=64, seed=5)
    assert np.array_equal(canv.x, again.x)
    assert all(np.array_equal(a, b) for a, b in zip(canv.boxes, again.boxes, strict=True))
    for img, boxes, labels, src in zip(canv.x, canv.boxes, canv.labels, canv.sources, strict=True):
        assert 1 <= len(boxes) <= 4 and np.array_equal(labels, np.arange(20)[src] % 10)
        mask = np.zeros_like(img, bool)
        for x1, y1, x2, y2 in boxes.astype(int):
            assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
            mask[y1:y2, x1:x2] = True
        assert not (img[~mask] >= 32).any()                              # no ink outside the boxes
        if len(boxes) > 1:
            iou = box_iou(boxes, boxes)
            assert (iou[~np.eye(len(boxes), dtype=bool)] <= 0.2 + 1e-9).all()
    with pytest.raises(ValueError, match="uint8"):
        make_canvases(digits.astype(float), np.arange(20), 3)
    with pytest.raises(ValueError, match="scale"):
        make_canvases(digits, np.arange(20), 3, size=32, scale=(16, 40))


def test_train_detector_and_detect_run_and_learn():
    rng = np.random.default_rng(0)
    digits = np.zeros((10, 28, 28), np.uint8)
    digits[:, 6:22, 9:19] = rng.integers(100, 256, (10, 16, 10))
    canv = make_canvases(digits, np.arange(10), 64, size=32, scale=(8, 16), max_digits=2, seed=0)
    torch.manual_seed(0)
    model = DigitDetector(ANCHORS / 2, width=4)
    calls = []
    history = train_detector(model, canv.x, canv.targets(), steps=30, batch_size=16, lr=1e-2, seed=0,
                             callback=lambda step, m: calls.append((step, m.training)), every=10)
    assert len(history) == 30 and set(history[0]) == {"loss", "coord", "obj", "cls"}
    assert np.mean([h["loss"] for h in history[-5:]]) < history[0]["loss"]
    assert calls == [(10, True), (20, True), (30, True)] and not model.training
    raw = raw_predictions(model, canv.x[:5])
    assert raw.shape == (5, 4, 4, 3, 15) and raw.dtype == np.float64
    dets = detect(model, canv.x[:5], score_threshold=0.0, iou_threshold=0.5, max_dets=7)
    assert len(dets) == 5 and all(len(d["boxes"]) <= 7 and (np.diff(d["scores"]) <= 0).all() for d in dets)
    with pytest.raises(ValueError, match="steps"):
        train_detector(model, canv.x, canv.targets(), steps=0)
