"""jaxmath: the math of deep learning as pure, jit-able JAX functions.

One module per concept (``activations``, ``losses``, ``gradcheck``, ``backprop``, ``optim``,
``lr_scheduler``, ``objectives``, ``landscape``, ``lowrank``, ``distributions``); ``torch_ref`` is the
same API written in PyTorch, and ``parity_tests`` proves the two agree with each other and with
torch.nn.functional, torch.autograd, torch.optim, torch.distributions, optax, scipy, sklearn and
PEFT. Figures live in ``jaxmath.visualization``, imported explicitly (``import jaxmath`` imports
neither torch, matplotlib nor sklearn).
"""

from jaxmath import (
    activations,
    backprop,
    distributions,
    gradcheck,
    landscape,
    losses,
    lowrank,
    lr_scheduler,
    objectives,
    optim,
)
from jaxmath.activations import (
    gelu,
    leaky_relu,
    log_softmax,
    logsumexp,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from jaxmath.backprop import (
    Value,
    linear_backward,
    linear_forward,
    mlp_backward,
    mlp_forward,
    mlp_init,
    mlp_loss_and_grad,
)
from jaxmath.gradcheck import GradientCheck, check_gradients, default_eps, numerical_gradient
from jaxmath.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy_loss,
    huber_loss,
    mse_loss,
    nll_loss,
)
from jaxmath.optim import SGD, Adam, AdamW

__version__ = "0.1.0"

__all__ = [
    *activations.__all__,
    "Value",
    "linear_backward",
    "linear_forward",
    "mlp_backward",
    "mlp_forward",
    "mlp_init",
    "mlp_loss_and_grad",
    *gradcheck.__all__,
    *losses.__all__,
    "SGD",
    "Adam",
    "AdamW",
]
