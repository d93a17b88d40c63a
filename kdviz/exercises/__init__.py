"""Exercises: questions with explicit answer forms, targeted hints, and worked solutions kept out of the way.

``check("02_turning_temperature", 2.40)`` prints whether an answer is right and, if not, a hint aimed at the
likely mistake; ``show_solution(name)`` shows the worked solution; ``quiz(name)`` shows a choice question as
buttons. The questions are in ``questions.EXERCISES``, the reading of answers in ``answers``, the checking in
``checking``, the quiz widget in ``quiz``, the loss-bug catalogue and its judge in ``loss_bugs``.
"""

from .checking import check, exercise_named, feedback, show_solution, solution
from .loss_bugs import BUGGY_LOSSES, show_buggy_losses
from .questions import EXERCISES
from .quiz import quiz

__all__ = ["check", "show_solution", "quiz", "solution", "feedback", "exercise_named", "EXERCISES"]
__all__ += ["BUGGY_LOSSES", "show_buggy_losses"]  # lesson 03's spot-the-bug losses
