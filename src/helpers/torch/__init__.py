"""The PyTorch toolkit: data loaders, the training loop, models (ResNet, U-Net, the MNIST CNN family),
attacks, transfer learning, architecture costs and visualization, checkpoints.

Shared plumbing lives in one place each: :mod:`helpers.torch.modes` (eval mode,
restored exactly), :mod:`helpers.torch.params` (counting parameters),
:mod:`helpers.torch.metrics` (predictions and accuracy).
"""
