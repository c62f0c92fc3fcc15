"""What a PyTorch network computes inside: activations recorded with hooks, Grad-CAM, activation maximization.

The NumPy versions (Grad-CAM by hand, filters, occlusion) are in
:mod:`helpers.numpy.visualize`; the tests check both give the same maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from helpers.checks import number, positive_int
from helpers.numpy.visualize import CAM_METHODS, cam_maps, class_array

__all__ = ["record_activations", "grad_cam", "maximize_class_score"]



def record_activations(model, x, modules: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Run ``model(x)`` once and return the output of every module in ``modules`` (name -> module).

    Uses forward hooks (removed afterwards, also on error) and no gradient. Returns
    ``{name: array}`` in the order of ``modules``, each a NumPy copy of that module's output.
    """

    if not modules:
        raise ValueError("modules must name at least one module to record")
    known = {id(m) for m in model.modules()}
    for name, module in modules.items():
        if id(module) not in known:
            raise ValueError(f"module {name!r} is not part of the model")
    found: dict[str, np.ndarray] = {}
    handles = []
    try:
        for name, module in modules.items():
            def hook(_module, _inputs, output, name=name):
                found[name] = output.detach().cpu().numpy().copy()
            handles.append(module.register_forward_hook(hook))
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: found[name] for name in modules}


def grad_cam(model, module, x, classes, method: str = "grad-cam") -> np.ndarray:
    """Grad-CAM maps ``(N, h, w)`` of a PyTorch ``model`` at the output of ``module``, with a forward hook.

    The hook keeps the module's output ``A``; autograd gives ``d score_c / d A`` (the
    class score, i.e. the logit, not the loss). Channel weights are spatially averaged
    gradients; the map is ``ReLU(sum_k weight_k * A_k)``. Put the model in ``eval()``
    mode first (batch-norm statistics). Returns a float64 NumPy array. ``method="hirescam"``
    multiplies gradients and activations element-wise instead (see
    :func:`helpers.numpy.visualize.hires_cam_from_activations`).
    """
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}; got {method!r}")

    if not any(m is module for m in model.modules()):
        raise ValueError("module is not part of the model")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W); got {tuple(x.shape)}")
    c = torch.from_numpy(class_array(classes, len(x)))
    kept = {}

    def hook(_module, _inputs, output):
        kept["a"] = output

    handle = module.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            if "a" not in kept or kept["a"].ndim != 4:
                raise ValueError("the module must output feature maps (N, C, h, w) during model(x)")
            if int(c.min()) < 0 or int(c.max()) >= logits.shape[1]:
                raise ValueError(f"classes must lie in [0, {logits.shape[1] - 1}]; got {c.tolist()}")
            score = logits.gather(1, c[:, None]).sum()
            (grads,) = torch.autograd.grad(score, kept["a"])
    finally:
        handle.remove()
    return cam_maps(kept["a"].detach().double().numpy(), grads.double().numpy(), method)


def maximize_class_score(model, classes, shape, steps: int = 200, lr: float = 0.05, l2: float = 1e-3,
                         jitter: int = 2, blur_every: int = 10, seed: int = 0) -> np.ndarray:
    """Activation maximization: images in [0, 1] that the ``model`` scores highest for ``classes``.

    Starts from grey plus a little seeded noise and runs Adam on the pixels (through a sigmoid, so
    they stay in [0, 1]) to raise the class logit minus ``l2`` times the squared distance from grey.
    Two regularizers keep the images from becoming adversarial noise: the image is shifted by a
    random offset of up to ``jitter`` pixels before each step, and blurred with a 3x3 box filter every
    ``blur_every`` steps. ``shape`` is one image's ``(C, H, W)``; ``model`` takes pixels in [0, 1]
    (wrap it with ``Normalize``). Returns ``(N, H, W, C)`` float32 for ``imshow``. Seeded.
    """
    steps, blur_every = positive_int(steps, "steps"), positive_int(blur_every, "blur_every")
    lr, l2 = number(lr, "lr", low=0, low_open=True), number(l2, "l2", low=0)
    if len(shape) != 3:
        raise ValueError(f"shape must be one image's (C, H, W); got {shape}")
    c = torch.from_numpy(class_array(classes, len(np.atleast_1d(classes))))
    gen = torch.Generator().manual_seed(int(seed))
    z = (0.1 * torch.randn((len(c), *shape), generator=gen)).requires_grad_(True)   # pixels = sigmoid(z)
    opt = torch.optim.Adam([z], lr=lr)
    box = torch.ones(shape[0], 1, 3, 3) / 9
    was_training = model.training
    model.eval()
    try:
        for step in range(steps):
            dx, dy = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
            pixels = torch.sigmoid(z)
            score = model(torch.roll(pixels, (dy, dx), dims=(2, 3))).gather(1, c[:, None]).sum()
            loss = -score + l2 * ((pixels - 0.5) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (step + 1) % blur_every == 0:
                with torch.no_grad():
                    blurred = torch.nn.functional.conv2d(torch.sigmoid(z), box, padding=1, groups=shape[0])
                    z.copy_(torch.logit(blurred.clamp(1e-4, 1 - 1e-4)))
    finally:
        model.train(was_training)
    for p in model.parameters():
        p.grad = None
    return torch.sigmoid(z).detach().permute(0, 2, 3, 1).numpy().astype(np.float32)
