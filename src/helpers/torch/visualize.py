"""What a PyTorch network computes inside: activations recorded with hooks, and Grad-CAM.

The NumPy versions (Grad-CAM by hand, filters, occlusion) are in
:mod:`helpers.numpy.visualize`; the tests check both give the same maps.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from helpers.numpy.visualize import cam_from_activations, class_array

__all__ = ["record_activations", "grad_cam"]



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


def grad_cam(model, module, x, classes) -> np.ndarray:
    """Grad-CAM maps ``(N, h, w)`` of a PyTorch ``model`` at the output of ``module``, with a forward hook.

    The hook keeps the module's output ``A``; autograd gives ``d score_c / d A`` (the
    class score, i.e. the logit, not the loss). Channel weights are spatially averaged
    gradients; the map is ``ReLU(sum_k weight_k * A_k)``. Put the model in ``eval()``
    mode first (batch-norm statistics). Returns a float64 NumPy array.
    """

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
    return cam_from_activations(kept["a"].detach().double().numpy(), grads.double().numpy())
