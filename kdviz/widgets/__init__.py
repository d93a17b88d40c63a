"""Interactive panels: ipywidgets controls around the figures of ``kdviz.figures`` (``panels``), and lesson 04's
distillation lab with its Train button (``lab``). Every panel also carries a PNG of its figure, for where no
kernel runs."""

from .lab import PRESS_EPOCHS, PRESS_IMAGES, DistillationLab, distillation_lab
from .panels import (
    WIDGET_VIEW,
    Panel,
    StaticPNG,
    bundle_with_png,
    curves_panel,
    figure_png,
    kl_split_panel,
    next_symbol_panel,
    parse_logits,
    sampling_panel,
    similarity_panel,
    soft_share_panel,
    temperature_panel,
    temperature_slider,
    turning_panel,
    two_jobs_panel,
    two_modes_panel,
)

__all__ = [
    "PRESS_EPOCHS",
    "PRESS_IMAGES",
    "DistillationLab",
    "distillation_lab",
    "WIDGET_VIEW",
    "Panel",
    "StaticPNG",
    "bundle_with_png",
    "curves_panel",
    "figure_png",
    "kl_split_panel",
    "next_symbol_panel",
    "parse_logits",
    "sampling_panel",
    "similarity_panel",
    "soft_share_panel",
    "temperature_panel",
    "temperature_slider",
    "turning_panel",
    "two_jobs_panel",
    "two_modes_panel",
]
