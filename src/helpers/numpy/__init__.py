"""The from-scratch engine: every layer, loss, optimizer and training loop in NumPy, with no autograd.

Functions follow the cs231n layer API (``forward(...) -> (out, cache)``,
``backward(dout, cache) -> gradients``); :mod:`helpers.numpy.layers` wraps them in
layer objects for :class:`helpers.numpy.network.Sequential`. Every module here
imports NumPy only (``to_torch`` imports PyTorch when called), and the tests check
each one against its PyTorch twin.
"""
