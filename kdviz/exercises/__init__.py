"""Exercises: questions with explicit answer forms, targeted hints, and worked solutions kept out of the way.

``check("02_turning_temperature", 2.40)`` prints whether an answer is right and, if not, a hint aimed at the
likely mistake; ``show_solution(name)`` shows the worked solution; ``quiz(name)`` shows a choice question as
buttons. The questions are in ``questions.EXERCISES``, the reading of answers in ``answers``, the loss-bug
catalogue and its judge in ``loss_bugs``.
"""

from .loss_bugs import BUGGY_LOSSES, show_buggy_losses
from .questions import EXERCISES

__all__ = ["check", "show_solution", "quiz", "solution", "feedback", "exercise_named", "EXERCISES"]
__all__ += ["BUGGY_LOSSES", "show_buggy_losses"]  # lesson 03's spot-the-bug losses


def exercise_named(name):
    """The exercise called ``name``; a ValueError listing the names for anything else."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}; choose one of {sorted(EXERCISES)}")
    return EXERCISES[name]


def feedback(name, answer):
    """(is the answer right?, the message a student sees): a hint aimed at the likely mistake if not."""
    exercise = exercise_named(name)
    if answer is None:
        return False, f"{exercise.prompt()}\n  -> replace None with your answer and run the cell again."
    return exercise.feedback(answer)


def check(name, answer):
    """Print whether ``answer`` is right and, if not, a hint aimed at the likely mistake."""
    print(feedback(name, answer)[1])


def solution(name):
    """The worked solution of one exercise, as markdown."""
    return exercise_named(name).solution


def show_solution(name):
    """Display the worked solution of one exercise."""
    from IPython.display import Markdown, display

    display(Markdown(f"**{name}.** {solution(name)}"))


def quiz(name):
    """A choice exercise as a small quiz: radio buttons, and check's message when one is picked."""
    from .quiz import Quiz

    return Quiz(name)
