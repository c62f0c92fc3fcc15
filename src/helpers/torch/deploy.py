"""Turning a trained PyTorch model into a deployable one: pruning, int8 quantization, export and timing.

Every function returns a *new* model (a deep copy) and leaves its argument untouched, so one
process can hold the original and every variant side by side and time them under the same load.
Latency is measured with :func:`helpers.book.timing.median_time` (median of repeats after a warm-up).
"""

from __future__ import annotations

import copy
import io
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from helpers.book.timing import median_time
from helpers.checks import number, positive_int
from helpers.machine import cpu_flags
from helpers.torch.metrics import logits_in_slices

__all__ = ["prune_convs", "sparsity", "quantize_dynamic_linear", "quantize_static_fx", "state_dict_bytes",
           "latency", "predict", "kd_loss", "to_torchscript", "to_onnx_bytes", "bf16_native"]

BF16_FLAGS = ("avx512_bf16", "amx_bf16")        # x86 CPU flags of bfloat16 arithmetic (AVX-512 BF16, AMX)


def _conv_linear(model: nn.Module):
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_convs(model: nn.Module, amount: float, structured: bool = False) -> nn.Module:
    """A copy of ``model`` with a fraction ``amount`` of every convolution's weights set to zero, made permanent.

    ``structured=False``: the smallest-magnitude individual weights of each conv (``prune.l1_unstructured``).
    ``structured=True``: whole output filters with the smallest L2 norm (``prune.ln_structured``, ``dim=0``).
    The tensors keep their shapes; only zeros are written (``prune.remove`` bakes the mask in).
    """
    amount = number(amount, "amount", low=0.0, high=1.0)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    pruned = copy.deepcopy(model)
    convs = [m for _, m in pruned.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("model has no nn.Conv2d layer to prune")
    for conv in convs:
        if structured:
            prune.ln_structured(conv, "weight", amount=amount, n=2, dim=0)
        else:
            prune.l1_unstructured(conv, "weight", amount=amount)
        prune.remove(conv, "weight")
    return pruned


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all conv and linear weight tensors of ``model``."""
    layers = _conv_linear(model)
    if not layers:
        raise ValueError("model has no nn.Conv2d or nn.Linear layer")
    zeros = sum(int((m.weight == 0).sum()) for _, m in layers)
    total = sum(m.weight.numel() for _, m in layers)
    return zeros / total


def quantize_dynamic_linear(model: nn.Module) -> nn.Module:
    """A copy with every ``nn.Linear`` replaced by an int8 dynamically quantized one (weights int8,
    activations quantized on the fly per batch); convolutions stay float32.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic
        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)


def quantize_static_fx(model: nn.Module, calibration: torch.Tensor, batch_size: int = 64,
                       backend: str = "x86") -> nn.Module:
    """Post-training static int8 quantization with FX graph mode: fold batch norms, observe the activation
    ranges on ``calibration`` images (float ``(N, C, H, W)``), then convert convs, linears and additions to
    int8 kernels. Runs on CPU only.
    """
    if not isinstance(calibration, torch.Tensor) or calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError("calibration must be a non-empty float tensor of shape (N, C, H, W)")
    batch_size = positive_int(batch_size, "batch_size")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        torch.backends.quantized.engine = backend
        float_model = copy.deepcopy(model).eval()
        prepared = prepare_fx(float_model, get_default_qconfig_mapping(backend), example_inputs=(calibration[:1],))
        with torch.no_grad():
            for start in range(0, len(calibration), batch_size):
                prepared(calibration[start:start + batch_size])
        return convert_fx(prepared)


def state_dict_bytes(model: nn.Module) -> int:
    """Size in bytes of ``torch.save(model.state_dict())``: what a checkpoint of the model occupies."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def latency(model, x: torch.Tensor, repeats: int = 10, warmup: int = 2) -> float:
    """Median seconds of one ``model(x)`` call under ``torch.inference_mode()``."""
    if not callable(model):
        raise ValueError(f"model must be callable, got {type(model).__name__}")

    def call():
        with torch.inference_mode():
            model(x)

    return median_time(call, repeats=repeats, warmup=warmup)


def predict(model, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Float32 logits of ``model`` on ``x`` under ``torch.inference_mode()``, ``batch_size`` images at a time
    (default :data:`helpers.torch.metrics.INFERENCE_SLICE`: cache-sized; on one thread here ResNet-20 scored 2,000
    CIFAR images in 3.1 s in slices of 128 against 4.9 s in slices of 500 on 2026-12-03, with logits equal up to
    float rounding, identical in that run). A dynamically quantized model quantizes each slice's activations with
    that slice's own range, so its logits depend slightly on ``batch_size``."""
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    with torch.inference_mode():
        return logits_in_slices(model, x, batch_size).float()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """Knowledge-distillation loss (Hinton et al., 2015), mean over the batch:

    ``alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * cross_entropy(student, labels)``.
    The ``T^2`` keeps the soft term's gradient on the same scale as the hard term's for any ``T``.
    """
    temperature = number(temperature, "temperature", low=1e-6)
    alpha = number(alpha, "alpha", low=0.0, high=1.0)
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(f"student and teacher logits must both be (N, K), got {tuple(student_logits.shape)} "
                         f"and {tuple(teacher_logits.shape)}")
    log_p = F.log_softmax(student_logits / temperature, dim=1)
    q = F.softmax(teacher_logits / temperature, dim=1)
    soft = F.kl_div(log_p, q, reduction="batchmean") * temperature ** 2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def to_torchscript(model: nn.Module, example: torch.Tensor):
    """``torch.jit.trace`` of ``model`` on ``example``, frozen for inference."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            traced = torch.jit.trace(copy.deepcopy(model).eval(), example)
            return torch.jit.freeze(traced)


def to_onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int = 17) -> bytes:
    """The ONNX file of ``model`` (traced on ``example``, dynamic batch dimension) as bytes."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(copy.deepcopy(model).eval(), (example,), buffer, input_names=["image"],
                          output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    return buffer.getvalue()


def bf16_native(cpuinfo: str | None = None) -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware, so ``torch.autocast("cpu", torch.bfloat16)`` can pay off.

    Without it (an AVX2-only x86 CPU, say) PyTorch emulates bfloat16 and autocast runs many times slower than
    float32: a ResNet-20 batch of 64 took 34x as long on this book's AVX2 machine. Asks PyTorch's oneDNN when it
    can tell (``torch.ops.mkldnn._is_mkldnn_bf16_supported``), else looks for :data:`BF16_FLAGS` in
    ``cpuinfo`` (the text of ``/proc/cpuinfo``, read when not given; ``False`` where there is none).
    """
    if cpuinfo is None:
        check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
        if check is not None:
            try:
                return bool(check())
            except RuntimeError:       # an operator this build does not register: fall back to the CPU flags
                pass
    return bool(cpu_flags(cpuinfo) & set(BF16_FLAGS))
