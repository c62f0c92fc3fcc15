"""The small library the book builds up, one module per topic.

The NumPy network: ``conv`` (convolution), ``pool`` (max, average and global
pooling), ``layers`` (ReLU, sigmoid, tanh, dense and the layer objects ``Conv2D``,
``MaxPool2D``, ``Dense``, ...), ``losses`` (softmax cross-entropy), ``optim`` (SGD,
Adam, AdamW), ``network`` (``Sequential``, save/load, conversion to PyTorch and a
whole-network gradient check), ``gradcheck`` (numerical gradients), ``batchnorm``
(batch normalization), ``residual`` (the residual block), ``regularization``
(dropout and weight initialization) and ``numpy_training``
(mini-batch training of a NumPy network, e.g. the MNIST CNN).

PyTorch side: ``training`` (CIFAR-10 loaders, ``fit``/``evaluate`` with a
``History``), ``training_plots`` (curves, confusion matrix, predictions),
``resnet`` (CIFAR ResNets with switchable skip connections), ``transposed_conv``
(transposed convolution in NumPy), ``segmentation`` (U-Net, IoU/Dice, the DSB2018
split, losses and test-time augmentation) and ``attacks`` (FGSM, PGD, robust accuracy,
adversarial training and the bit-depth defence); ``visualize`` shows what a trained
network learned (filters, feature maps, Grad-CAM, occlusion); ``architectures`` counts
parameters and multiply-adds and builds LeNet-5, Inception, separable and SE blocks;
``transfer`` freezes, replaces heads, extracts features and fine-tunes.

Around it: ``data`` (datasets, offline copies through ``CNN_BOOK_DATA``),
``seeding``, ``plots``, ``widgets``, ``timing`` (speed comparisons), ``checkpoints``
(save/load of trained weights with their logs) and ``interview`` (the interview appendix).
Import the module you need, e.g. ``from helpers import conv``; nothing heavy is
imported here.
"""

__version__ = "0.1.0"
