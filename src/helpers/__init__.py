"""The library the book builds up, in two halves that mirror the lessons, plus data and the book's furniture.

Every concept is built twice: from scratch in NumPy, then with PyTorch. The
package says which half a name belongs to in its import line::

    from helpers.numpy.conv import conv2d_forward      # the from-scratch engine (imports NumPy only)
    from helpers.torch.training import fit             # the PyTorch toolkit
    from helpers.data import load_mnist                # datasets, found through $CNN_BOOK_DATA
    from helpers.book.widgets import interact          # plots, widgets, timing for the pages

``helpers.numpy``  the NumPy engine: arrays (its dtype rule), conv, transposed_conv, pool, layers, batchnorm,
                   residual, dropout, init, losses, optim, network, training, models,
                   metrics, separable, visualize, gradcheck.
``helpers.torch``  the PyTorch toolkit: loaders, training, metrics, modes, params,
                   models, resnet, unet, attacks, transfer, architectures, visualize,
                   checkpoints, speed.
``helpers.data``   datasets (MNIST, CIFAR-10, DSB2018, sample photos), their
                   normalisation and seeded splits.
``helpers.book``   plots, training_plots, widgets, timing.
``helpers.checks`` the argument checks every module shares; ``helpers.history`` the
                   per-epoch record of a training run (both halves); ``helpers.stats`` the
                   bootstrap and Wilson intervals around measured numbers; ``helpers.seeding``
                   seeds everything; ``helpers.project`` names the book's repository.

Nothing heavy is imported here: import the module you need.
"""

__version__ = "0.2.0"
