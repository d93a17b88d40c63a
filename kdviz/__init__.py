"""kdviz: the helper package behind the Dark Knowledge notebooks.

The numpy core (softmax with temperature, its derivative, the KL, the distillation gradients) and the run mode
are imported here; the rest lives in modules named after what they serve, in the order of the syllabus:

    temperature, gradients, verify, calibration   the mathematics of 01-03 (and 06's calibration), numpy
    noise                                         the seed rule: results over seeds and their verdicts
    language                                      lesson 07's source: every string's probability, exact measures
    mnist                                         the MNIST engine: data, networks, loss, training, workspace
    mnist_distillation, dark_knowledge,           the experiments of lessons 04, 05 and 06, each ending with
    beyond_the_paper, language_models             the sentences that report them (07: language models)
    figures, widgets, lab                         figures by family; sliders around them; 04's Train button
    exercises                                     check, quiz and show_solution; the question table
    course                                        the record, the documents rendered from it, the site
"""

from .gradients import logit_matching_grad, soft_ce_grad
from .runmode import pick, quick_mode
from .temperature import (
    dq_dT,
    entropy,
    expected_logit,
    kl_decomposition,
    kl_divergence,
    random_logits,
    sampling_distribution,
    softmax,
    turning_temperature,
)

__all__ = [
    "softmax",
    "sampling_distribution",
    "dq_dT",
    "expected_logit",
    "turning_temperature",
    "entropy",
    "kl_divergence",
    "kl_decomposition",
    "random_logits",
    "soft_ce_grad",
    "logit_matching_grad",
    "pick",
    "quick_mode",
]
__version__ = "0.1.0"
