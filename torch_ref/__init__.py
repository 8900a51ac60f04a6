"""torch_ref: jaxmath's API written in PyTorch, module for module and name for name.

Each function writes its formula with torch tensor ops; torch.nn.functional, torch.autograd and
torch.distributions are the upstream references the parity suite compares both packages against.
Random inits take a ``torch.Generator`` where jaxmath takes a ``jax.random`` key.
"""

from torch_ref import (
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
from torch_ref.activations import (
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
from torch_ref.backprop import (
    Value,
    linear_backward,
    linear_forward,
    mlp_backward,
    mlp_forward,
    mlp_init,
    mlp_loss_and_grad,
)
from torch_ref.gradcheck import GradientCheck, check_gradients, default_eps, numerical_gradient
from torch_ref.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy_loss,
    huber_loss,
    mse_loss,
    nll_loss,
)
from torch_ref.optim import SGD, Adam, AdamW

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
