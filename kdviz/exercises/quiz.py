"""A choice exercise as a quiz: radio buttons that answer as ``check`` does, with the question as HTML and
text for where no kernel runs, and its name under QUIZ_MIME, from which the course site makes a quiz that answers
without a kernel (kdviz.course.live)."""

import html

import ipywidgets as widgets

from .answers import Choice
from .checking import exercise_named, feedback

QUIZ_MIME = "application/vnd.kdviz.quiz+json"


class Quiz(widgets.VBox):
    """A choice exercise as radio buttons: picking an option shows check's message under them. Its display also
    carries the question and its options as HTML and text, for where no kernel runs."""

    def __init__(self, name):
        exercise = exercise_named(name)
        if not isinstance(exercise, Choice):
            raise ValueError(f"{name!r} is not a choice question; answer it with check({name!r}, ...)")
        self.exercise_name, self.exercise = name, exercise
        self.buttons = widgets.RadioButtons(
            options=list(zip(exercise.labels(), exercise.words(), strict=True)),
            value=None,
            layout={"width": "max-content"},
        )
        self.message = widgets.HTML()
        self.buttons.observe(self._answer, names="value")
        super().__init__([widgets.HTML(f"<b>{name}</b>: {html.escape(exercise.question)}"), self.buttons, self.message])

    def _answer(self, change):
        if change["new"] is None:
            return
        right, text = feedback(self.exercise_name, change["new"])
        colour = "green" if right else "#b35900"
        self.message.value = f"<span style='color: {colour}'>{html.escape(text)}</span>"

    def static_html(self):
        items = "".join(f"<li>{html.escape(label)}</li>" for label in self.exercise.labels())
        return (
            f"<p><b>{self.exercise_name}</b>: {html.escape(self.exercise.question)}</p><ul>{items}</ul>"
            f"<p><i>Without a kernel behind these buttons, answer with check({self.exercise_name!r}, letter or "
            "word).</i></p>"
        )

    def _repr_mimebundle_(self, **kwargs):
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"{self.exercise_name}: {self.exercise.prompt()}"
        bundle[QUIZ_MIME] = {"name": self.exercise_name}
        return bundle


def quiz(name):
    """A choice exercise as a small quiz: radio buttons, and check's message when one is picked."""
    return Quiz(name)
