"""kdviz: the helper package behind the Dark Knowledge notebooks.

The numpy core (softmax with temperature, its derivative, the distillation gradients) is
imported here; torch, plotting and widget helpers live in their own modules.
"""

from .gradients import logit_matching_grad, soft_ce_grad
from .temperature import dq_dT, entropy, expected_logit, random_logits, softmax, turning_temperature

__all__ = [
    "softmax",
    "dq_dT",
    "expected_logit",
    "turning_temperature",
    "entropy",
    "random_logits",
    "soft_ce_grad",
    "logit_matching_grad",
]
__version__ = "0.1.0"
