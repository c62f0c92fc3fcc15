"""Object detection in NumPy: boxes, non-maximum suppression, a YOLO-style grid with anchors, and COCO mAP.

Boxes are ``(x1, y1, x2, y2)`` in pixel-edge coordinates (``x2 >= x1``, ``y2 >= y1``), as in torchvision.

* :func:`box_iou`, :func:`nms`, :func:`batched_nms`: the same results as ``torchvision.ops.box_iou``,
  ``nms`` and ``batched_nms`` (IoU of two empty boxes is 0 here, where torchvision gives NaN);
* :func:`wh_iou`, :func:`kmeans_anchors`: anchor shapes from k-means on box sizes with distance ``1 - IoU``
  (the YOLOv2 recipe);
* :func:`encode_targets`, :func:`decode_predictions`, :func:`yolo_loss_forward`, :func:`yolo_loss_backward`:
  an S x S grid with A anchors per cell. Raw predictions have shape ``(N, S, S, A, 5 + C)``: per anchor
  ``(t_obj, t_x, t_y, t_w, t_h, class logits...)``; a box's centre is ``((j + sigmoid(t_x)) * stride,
  (i + sigmoid(t_y)) * stride)`` and its size ``(anchor_w * exp(t_w), anchor_h * exp(t_h))``;
* :func:`evaluate_image`, :func:`accumulate`, :func:`mean_average_precision`: COCO-style average precision
  (greedy matching by score, 101-point interpolated precision, IoU thresholds 0.50:0.05:0.95), equal to
  pycocotools' ``COCOeval`` for boxes.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, number, positive_int

__all__ = [
    "box_iou", "box_area", "nms", "batched_nms", "wh_iou", "kmeans_anchors",
    "encode_targets", "decode_predictions", "postprocess", "yolo_loss_forward", "yolo_loss_backward",
    "COCO_IOU_THRESHOLDS", "COCO_RECALL_POINTS", "evaluate_image", "accumulate", "summarize", "mean_average_precision",
]

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, 101)


# ----------------------------------------------------------------------------------------------- boxes
def _boxes(b, name: str) -> np.ndarray:
    b = np.asarray(b)
    if b.size == 0 and b.ndim <= 2:
        b = b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as (x1, y1, x2, y2); got {b.shape}")
    if not np.issubdtype(b.dtype, np.number) or np.issubdtype(b.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real numbers; got dtype {b.dtype}")
    b = b.astype(np.float64)
    if not np.isfinite(b).all():
        raise ValueError(f"{name} must be finite")
    bad = (b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1])
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"{name} must satisfy x2 >= x1 and y2 >= y1; box {k} is {b[k].tolist()}")
    return b


def _scores(s, n: int, name: str = "scores") -> np.ndarray:
    s = np.asarray(s, dtype=np.float64) if np.asarray(s).size else np.zeros(0)
    if s.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one per box; got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} must be finite")
    return s


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1) * (y2 - y1)`` of ``boxes`` (n, 4)."""
    b = _boxes(boxes, "boxes")
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2) -> np.ndarray:
    """(n, m) matrix of intersection over union of every box of ``boxes1`` (n, 4) with every box of ``boxes2`` (m, 4).

    Equal to ``torchvision.ops.box_iou`` except where both boxes are empty (union 0): 0 here, NaN there.
    """
    a, b = _boxes(boxes1, "boxes1"), _boxes(boxes2, "boxes2")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, by decreasing score.

    Visit boxes from the highest score down (ties: the earlier index first); keep a box unless its IoU with an
    already kept box is greater than ``iou_threshold``. Equal to ``torchvision.ops.nms``.
    """
    b = _boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    thr = number(iou_threshold, "iou_threshold")
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b, b)
    suppressed = np.zeros(len(b), bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > thr
    return np.array(keep, dtype=np.int64)


def batched_nms(boxes, scores, labels, iou_threshold: float) -> np.ndarray:
    """NMS within each label separately (boxes of different classes never suppress each other).

    Returns the kept indices by decreasing score, as ``torchvision.ops.batched_nms``.
    """
    b = _boxes(boxes, "boxes")
    s = _scores(scores, len(b))
    labels = np.asarray(labels).reshape(-1) if np.asarray(labels).size else np.zeros(0, np.int64)
    if labels.shape != (len(b),):
        raise ValueError(f"labels must have shape ({len(b)},), one per box; got {labels.shape}")
    keep = [np.flatnonzero(labels == c)[nms(b[labels == c], s[labels == c], iou_threshold)]
            for c in np.unique(labels)]
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return keep[np.argsort(-s[keep], kind="stable")].astype(np.int64)


# ----------------------------------------------------------------------------------------------- anchors
def wh_iou(wh1, wh2) -> np.ndarray:
    """(n, m) IoU of box sizes ``wh1`` (n, 2) and ``wh2`` (m, 2) as if the boxes shared their centre."""
    a, b = np.asarray(wh1, np.float64), np.asarray(wh2, np.float64)
    for arr, name in ((a, "wh1"), (b, "wh2")):
        if arr.ndim != 2 or arr.shape[1] != 2 or (arr <= 0).any():
            raise ValueError(f"{name} must have shape (n, 2) of positive widths and heights; got {arr.shape}")
    inter = np.minimum(a[:, None, 0], b[None, :, 0]) * np.minimum(a[:, None, 1], b[None, :, 1])
    return inter / (a[:, None].prod(-1) + b[None].prod(-1) - inter)


def kmeans_anchors(wh, k: int, iters: int = 100, seed=0) -> np.ndarray:
    """``k`` anchor sizes (k, 2) by k-means on box sizes ``wh`` (n, 2) with distance ``1 - IoU`` (YOLOv2).

    Starts from ``k`` distinct random boxes; each step assigns every box to the anchor of highest IoU and moves
    each anchor to the mean size of its boxes. Returned sorted by area.
    """
    wh = np.asarray(wh, np.float64)
    k = positive_int(k, "k")
    if wh.ndim != 2 or wh.shape[1] != 2 or len(wh) < k or (wh <= 0).any():
        raise ValueError(f"wh must have shape (n, 2) with n >= k={k} positive sizes; got {wh.shape}")
    gen = as_generator(seed)
    anchors = wh[gen.choice(len(wh), k, replace=False)]
    for _ in range(positive_int(iters, "iters")):
        assign = wh_iou(wh, anchors).argmax(1)
        new = np.array([wh[assign == c].mean(0) if (assign == c).any() else anchors[c] for c in range(k)])
        if np.allclose(new, anchors):
            break
        anchors = new
    return anchors[np.argsort(anchors.prod(1))]


# ----------------------------------------------------------------------------------------------- the grid
def _anchors(anchors) -> np.ndarray:
    a = np.asarray(anchors, np.float64)
    if a.ndim != 2 or a.shape[1] != 2 or len(a) == 0 or (a <= 0).any():
        raise ValueError(f"anchors must have shape (A, 2) of positive (width, height); got {a.shape}")
    return a


def encode_targets(targets, grid: int, stride: float, anchors, n_classes: int) -> dict:
    """The training targets of the grid for a batch of ground truths.

    ``targets`` is a list (one per image) of dicts with ``"boxes"`` (k, 4) and ``"labels"`` (k,). Each box is
    assigned to the cell ``(i, j)`` that contains its centre and to the anchor whose shape has the highest
    :func:`wh_iou` with it (if that slot is taken by an earlier box, the next best anchor; if all are taken,
    the box is dropped and counted). Returns ``obj`` (N, S, S, A) bool, ``box`` (N, S, S, A, 4) with the
    targets ``(sigmoid(t_x), sigmoid(t_y), t_w, t_h)`` = ``(cx / stride - j, cy / stride - i, log(w / a_w),
    log(h / a_h))``, ``cls`` (N, S, S, A) int64 (-1 where no object) and ``dropped`` (int).
    """
    grid, n_classes = positive_int(grid, "grid"), positive_int(n_classes, "n_classes")
    stride = number(stride, "stride", low=0, low_open=True)
    anchors = _anchors(anchors)
    n, A = len(targets), len(anchors)
    obj = np.zeros((n, grid, grid, A), bool)
    box = np.zeros((n, grid, grid, A, 4))
    cls = np.full((n, grid, grid, A), -1, np.int64)
    dropped = 0
    for b, t in enumerate(targets):
        boxes = _boxes(t["boxes"], f"targets[{b}]['boxes']")
        labels = np.asarray(t["labels"]).reshape(-1)
        if labels.shape != (len(boxes),) or ((labels < 0) | (labels >= n_classes)).any():
            raise ValueError(f"targets[{b}]['labels'] must be {len(boxes)} ints in [0, {n_classes})")
        if len(boxes) == 0:
            continue
        wh = boxes[:, 2:] - boxes[:, :2]
        if (wh <= 0).any():
            raise ValueError(f"targets[{b}] has an empty box; ground-truth boxes need positive width and height")
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2 / stride
        if (centre < 0).any() or (centre >= grid).any():
            raise ValueError(f"targets[{b}] has a box centre outside the {grid}x{grid} grid of stride {stride}")
        ranking = np.argsort(-wh_iou(wh, anchors), axis=1, kind="stable")
        for k in range(len(boxes)):
            j, i = (int(v) for v in np.floor(centre[k]))
            free = [a for a in ranking[k] if not obj[b, i, j, a]]
            if not free:
                dropped += 1
                continue
            a = free[0]
            obj[b, i, j, a] = True
            box[b, i, j, a] = (centre[k, 0] - j, centre[k, 1] - i, np.log(wh[k, 0] / anchors[a, 0]),
                               np.log(wh[k, 1] / anchors[a, 1]))
            cls[b, i, j, a] = labels[k]
    return {"obj": obj, "box": box, "cls": cls, "dropped": dropped}


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _pred(pred, n_classes=None) -> np.ndarray:
    p = np.asarray(pred)
    if p.ndim != 5 or p.shape[1] != p.shape[2] or p.shape[4] < 6:
        raise ValueError("predictions must have shape (N, S, S, A, 5 + C) with C >= 1; got "
                         f"{p.shape}")
    if n_classes is not None and p.shape[4] != 5 + n_classes:
        raise ValueError(f"predictions have {p.shape[4] - 5} class logits, expected {n_classes}")
    return p


def decode_predictions(pred, stride: float, anchors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All boxes the grid predicts, before any threshold: ``boxes`` (N, S*S*A, 4), ``scores``, ``labels`` (N, S*S*A).

    The score of a box is its class-specific confidence ``sigmoid(t_obj) * max_c softmax(class logits)_c``
    (YOLOv2's "objectness times class probability") and its label that class.
    """
    p = _pred(pred).astype(np.float64)
    anchors = _anchors(anchors)
    stride = number(stride, "stride", low=0, low_open=True)
    n, s, _, A, _ = p.shape
    if A != len(anchors):
        raise ValueError(f"predictions have {A} anchors per cell but {len(anchors)} anchors were given")
    jj, ii = np.meshgrid(np.arange(s), np.arange(s))
    cx = (jj[None, :, :, None] + _sigmoid(p[..., 1])) * stride
    cy = (ii[None, :, :, None] + _sigmoid(p[..., 2])) * stride
    w = anchors[:, 0] * np.exp(p[..., 3])
    h = anchors[:, 1] * np.exp(p[..., 4])
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1).reshape(n, -1, 4)
    probs = _softmax(p[..., 5:])
    scores = (_sigmoid(p[..., 0]) * probs.max(-1)).reshape(n, -1)
    labels = probs.argmax(-1).reshape(n, -1)
    return boxes, scores, labels


def postprocess(pred, stride: float, anchors, score_threshold: float = 0.05, iou_threshold: float | None = 0.5,
                max_dets: int = 100) -> list[dict]:
    """Detections per image: decode, keep scores >= ``score_threshold``, class-wise NMS, the ``max_dets`` best.

    ``iou_threshold=None`` skips NMS. Returns ``[{"boxes", "scores", "labels"}, ...]``.
    """
    boxes, scores, labels = decode_predictions(pred, stride, anchors)
    score_threshold = number(score_threshold, "score_threshold", low=0.0, high=1.0)
    max_dets = positive_int(max_dets, "max_dets")
    out = []
    for b, s, lab in zip(boxes, scores, labels, strict=True):
        m = s >= score_threshold
        b, s, lab = b[m], s[m], lab[m]
        keep = (np.argsort(-s, kind="stable") if iou_threshold is None
                else batched_nms(b, s, lab, iou_threshold))[:max_dets]
        out.append({"boxes": b[keep], "scores": s[keep], "labels": lab[keep]})
    return out


def yolo_loss_forward(pred, target: dict, lambda_coord: float = 5.0, lambda_noobj: float = 0.5):
    """The grid's training loss and a cache: ``(loss, cache)``.

    With ``P`` the cells/anchors that hold an object and ``Q`` the others, summed and divided by the batch size:
    ``lambda_coord * sum_P [(sigmoid(t_x) - x*)^2 + (sigmoid(t_y) - y*)^2 + (t_w - w*)^2 + (t_h - h*)^2]``
    ``+ sum_P BCE(t_obj, 1) + lambda_noobj * sum_Q BCE(t_obj, 0) + sum_P CE(class logits, class)``,
    where BCE is binary cross-entropy on the logit and CE softmax cross-entropy.
    """
    p = _pred(pred).astype(np.float64)
    obj, box, cls = target["obj"], target["box"], target["cls"]
    if obj.shape != p.shape[:4]:
        raise ValueError(f"target grid {obj.shape} does not match predictions {p.shape[:4]}")
    n = p.shape[0]
    pos = obj.astype(np.float64)
    neg = 1.0 - pos
    t_obj = p[..., 0]
    sig_xy = _sigmoid(p[..., 1:3])
    d_xy = sig_xy - box[..., :2]
    d_wh = p[..., 3:5] - box[..., 2:4]
    coord = lambda_coord * (pos[..., None] * (d_xy ** 2)).sum() + lambda_coord * (pos[..., None] * d_wh ** 2).sum()
    softplus = np.logaddexp(0, t_obj)          # BCE(t, 0) = softplus(t); BCE(t, 1) = softplus(-t)
    softplus_neg = np.logaddexp(0, -t_obj)
    obj_loss = (pos * softplus_neg).sum() + lambda_noobj * (neg * softplus).sum()
    logits = p[..., 5:]
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs = log_probs - np.log(np.exp(log_probs).sum(-1, keepdims=True))
    c = np.where(cls >= 0, cls, 0)
    cls_loss = -(pos * np.take_along_axis(log_probs, c[..., None], -1)[..., 0]).sum()
    parts = {"coord": coord / n, "obj": obj_loss / n, "cls": cls_loss / n}
    loss = (coord + obj_loss + cls_loss) / n
    cache = (p.shape, pos, neg, sig_xy, d_xy, d_wh, t_obj, log_probs, c, n, lambda_coord, lambda_noobj, parts)
    return loss, cache


def yolo_loss_backward(cache) -> np.ndarray:
    """Gradient of :func:`yolo_loss_forward`'s loss with respect to the raw predictions (N, S, S, A, 5 + C)."""
    shape, pos, neg, sig_xy, d_xy, d_wh, t_obj, log_probs, c, n, lc, ln, _ = cache
    g = np.zeros(shape)
    g[..., 0] = pos * (_sigmoid(t_obj) - 1) + ln * neg * _sigmoid(t_obj)
    g[..., 1:3] = lc * pos[..., None] * 2 * d_xy * sig_xy * (1 - sig_xy)
    g[..., 3:5] = lc * pos[..., None] * 2 * d_wh
    probs = np.exp(log_probs)
    onehot = np.zeros_like(probs)
    np.put_along_axis(onehot, c[..., None], 1.0, -1)
    g[..., 5:] = pos[..., None] * (probs - onehot)
    return g / n


# ----------------------------------------------------------------------------------------------- mAP
def _detections(det, i):
    boxes = _boxes(det.get("boxes", np.zeros((0, 4))), f"detections[{i}]['boxes']")
    scores = _scores(det.get("scores", np.zeros(0)), len(boxes), f"detections[{i}]['scores']")
    labels = np.asarray(det.get("labels", np.zeros(0))).reshape(-1).astype(np.int64)
    if labels.shape != (len(boxes),):
        raise ValueError(f"detections[{i}]['labels'] must have shape ({len(boxes)},); got {labels.shape}")
    return boxes, scores, labels


def _ground_truth(gt, i):
    boxes = _boxes(gt.get("boxes", np.zeros((0, 4))), f"ground_truths[{i}]['boxes']")
    labels = np.asarray(gt.get("labels", np.zeros(0))).reshape(-1).astype(np.int64)
    if labels.shape != (len(boxes),):
        raise ValueError(f"ground_truths[{i}]['labels'] must have shape ({len(boxes)},); got {labels.shape}")
    return boxes, labels


def evaluate_image(det: dict, gt: dict, iou_thresholds=COCO_IOU_THRESHOLDS, max_dets: int = 100,
                   index: int = 0) -> dict:
    """COCO's per-image matching, for every class present: which detections are true positives.

    Per class, the image's detections sorted by score (stable; at most ``max_dets``) are matched greedily: each
    takes the not yet matched ground truth of highest IoU, if that IoU >= the threshold (ties: the later ground
    truth, as pycocotools). Returns ``{"labels", "scores", "tp" (T, n), "gt_labels"}`` for :func:`accumulate`.
    """
    dboxes, dscores, dlabels = _detections(det, index)
    gboxes, glabels = _ground_truth(gt, index)
    thresholds = np.asarray(iou_thresholds, np.float64).reshape(-1)
    max_dets = positive_int(max_dets, "max_dets")
    labels, scores, tps = [], [], []
    for c in np.unique(np.concatenate([dlabels, glabels])):
        d = np.flatnonzero(dlabels == c)
        d = d[np.argsort(-dscores[d], kind="stable")][:max_dets]
        g = np.flatnonzero(glabels == c)
        ious = box_iou(dboxes[d], gboxes[g])
        tp = np.zeros((len(thresholds), len(d)), bool)
        for t, thr in enumerate(thresholds):
            taken = np.zeros(len(g), bool)
            for k in range(len(d)):
                best, m = min(thr, 1 - 1e-10), -1
                for q in range(len(g)):
                    if not taken[q] and ious[k, q] >= best:
                        best, m = ious[k, q], q
                if m >= 0:
                    taken[m] = True
                    tp[t, k] = True
        labels.append(np.full(len(d), c))
        scores.append(dscores[d])
        tps.append(tp)
    if not labels:
        return {"labels": np.zeros(0, np.int64), "scores": np.zeros(0), "tp": np.zeros((len(thresholds), 0), bool),
                "gt_labels": glabels}
    return {"labels": np.concatenate(labels), "scores": np.concatenate(scores), "tp": np.concatenate(tps, 1),
            "gt_labels": glabels}


def accumulate(records: list[dict], recall_points=COCO_RECALL_POINTS) -> dict:
    """Precision-recall per class and IoU threshold from :func:`evaluate_image` records, COCO style.

    Per class, the detections of all images are ranked by score (stable, in image order); precision is made
    non-increasing from the right, then read at each recall point (the first rank reaching that recall; 0 if
    never reached); AP is the mean over the recall points. Returns ``classes`` (K,), ``ap`` (T, K) with NaN for
    a class without ground truth, ``precision`` (T, R, K), ``recall`` (T, K) (the final recall) and, per class,
    the raw curves ``curves[k] = (recall (T, n), precision (T, n), scores (n,))``.
    """
    recall_points = np.asarray(recall_points, np.float64)
    if not records:
        raise ValueError("records must hold at least one image")
    all_labels = np.concatenate([r["labels"] for r in records])
    all_scores = np.concatenate([r["scores"] for r in records])
    all_tp = np.concatenate([r["tp"] for r in records], 1)
    gt_labels = np.concatenate([r["gt_labels"] for r in records])
    classes = np.unique(np.concatenate([all_labels, gt_labels]))
    T, R, K = all_tp.shape[0], len(recall_points), len(classes)
    ap = np.full((T, K), np.nan)
    precision = np.full((T, R, K), np.nan)
    final_recall = np.full((T, K), np.nan)
    curves = {}
    for k, c in enumerate(classes):
        n_gt = int((gt_labels == c).sum())
        if n_gt == 0:
            continue
        sel = np.flatnonzero(all_labels == c)
        order = sel[np.argsort(-all_scores[sel], kind="mergesort")]
        tp = np.cumsum(all_tp[:, order], 1, dtype=np.float64)
        fp = np.cumsum(~all_tp[:, order], 1, dtype=np.float64)
        rc = tp / n_gt
        pr = tp / (tp + fp + np.spacing(1))
        curves[int(c)] = (rc, pr, all_scores[order])
        pr_mono = np.maximum.accumulate(pr[:, ::-1], 1)[:, ::-1] if pr.shape[1] else pr
        q = np.zeros((T, R))
        for t in range(T):
            idx = np.searchsorted(rc[t], recall_points, side="left")
            ok = idx < len(order)
            q[t, ok] = pr_mono[t, idx[ok]]
        precision[:, :, k] = q
        ap[:, k] = q.mean(1)
        final_recall[:, k] = rc[:, -1] if len(order) else 0.0
    return {"classes": classes, "ap": ap, "precision": precision, "recall": final_recall, "curves": curves}


def mean_average_precision(detections: list[dict], ground_truths: list[dict], iou_thresholds=COCO_IOU_THRESHOLDS,
                           max_dets: int = 100, recall_points=COCO_RECALL_POINTS) -> dict:
    """COCO-style mAP of ``detections`` (per image ``{"boxes", "scores", "labels"}``) against ``ground_truths``.

    Returns ``map`` (mean AP over the classes with ground truth and over ``iou_thresholds``; the default
    0.50:0.05:0.95 is COCO's mAP@[.5:.95]), ``map_50`` and ``map_75`` (when those thresholds are included),
    ``ap`` (T, K) and ``classes``. The same numbers as pycocotools ``COCOeval`` (and torchmetrics'
    ``MeanAveragePrecision`` with the pycocotools backend, given that metric's float32 thresholds, e.g.
    ``recall_points=torch.linspace(0, 1, 101).tolist()``): one area range ("all"), no crowd boxes.
    """
    if len(detections) != len(ground_truths):
        raise ValueError(f"detections and ground_truths must have one entry per image; got {len(detections)} "
                         f"and {len(ground_truths)}")
    thresholds = np.asarray(iou_thresholds, np.float64).reshape(-1)
    if len(thresholds) == 0 or (thresholds <= 0).any() or (thresholds > 1).any():
        raise ValueError(f"iou_thresholds must be numbers in (0, 1]; got {thresholds}")
    records = [evaluate_image(d, g, thresholds, max_dets, index=i)
               for i, (d, g) in enumerate(zip(detections, ground_truths, strict=True))]
    return summarize(accumulate(records, recall_points), thresholds)


def summarize(acc: dict, iou_thresholds=COCO_IOU_THRESHOLDS) -> dict:
    """``map``, ``map_50``, ``map_75`` (NaN when not computed or no class has ground truth) of :func:`accumulate`."""
    thresholds = np.asarray(iou_thresholds, np.float64).reshape(-1)
    ap = acc["ap"]
    out = {"map": float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan"),
           "ap": ap, "classes": acc["classes"]}
    for name, t in (("map_50", 0.5), ("map_75", 0.75)):
        hit = np.flatnonzero(np.isclose(thresholds, t))
        row = ap[hit[0]] if len(hit) else np.full(1, np.nan)
        out[name] = float(np.nanmean(row)) if np.isfinite(row).any() else float("nan")
    return out

