"""Checking an answer: ``check(name, answer)`` prints whether it is right and, if not, a hint aimed at the likely
mistake; ``show_solution(name)`` shows the worked solution."""

from .._checks import one_of
from .questions import EXERCISES


def exercise_named(name):
    """The exercise called ``name``; a ValueError listing the names for anything else."""
    return EXERCISES[one_of(name, EXERCISES, "exercise")]


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
