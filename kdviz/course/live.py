"""The course site's live outputs: widget panels, quizzes and lesson 04's lab, working without a kernel.

An executed lesson's outputs carry kdviz entries that ``LiveOutputs.convert`` turns into HTML for the page:

- a panel's frames (``kdviz.widgets.frames.FRAMES_MIME``, drawn by the panel's own draw function when the lesson ran
  with KDVIZ_FRAMES=1): its controls as a range input over grid indices, a checkbox or a menu, and the frame of the
  chosen values; each frame is written once, named by its content, into the site's static folder;
- a quiz (``kdviz.exercises.quiz.QUIZ_MIME``): its options from the question table, each with the feedback
  ``kdviz.exercises.feedback`` gives for it (what a click shows in JupyterLab; never the worked solution);
- the lab (``kdviz.widgets.lab.LAB_MIME``), where a recorded lab run is given (``kdviz.course.lab_record``): its T,
  alpha and size, the recorded test errors over the seeds and the teacher's soft targets at that T, marked as a
  recorded run with its date and machine.

The script that moves them, ``live.js`` (no library), and ``live.css`` go into the site's static folder.
"""

import hashlib
import html
import json
from pathlib import Path

LIVE_FILES = {"kdviz-live.js": "live.js", "kdviz-live.css": "live.css"}  # name in the site: file beside this module
FRAMES_FOLDER = "kdviz-frames"  # in the site's _static folder
FRAMES_URL = f"_static/{FRAMES_FOLDER}/"  # as a lesson page (at the site's top) links to it


def copy_live_files(static):
    """Write the script and style sheet into the site's source ``static`` folder (Jupyter Book links every page to
    the .js and .css files there)."""
    static = Path(static)
    static.mkdir(parents=True, exist_ok=True)
    for name, own in LIVE_FILES.items():
        (static / name).write_bytes(Path(__file__).with_name(own).read_bytes())


def _attribute(value):
    """``value`` as JSON inside a double-quoted HTML attribute."""
    return html.escape(json.dumps(value, separators=(",", ":")), quote=True)


def control_html(entry):
    """One control of a panel: a range input over grid indices (with its readout), a checkbox, a menu, or the fixed
    value of a control whose grid is that one value (a free text box)."""
    name, labels, start = html.escape(entry["description"] or entry["name"]), entry["labels"], entry["start"]
    size, kind = len(labels), entry["kind"]
    common = f'data-control="{html.escape(entry["name"])}" data-size="{size}" data-labels="{_attribute(labels)}"'
    if kind == "slider" and size > 1:
        field = f'<input type="range" min="0" max="{size - 1}" step="1" value="{start}" {common} aria-label="{name}">'
        return f'<label class="kdviz-control">{name} {field} <output>{html.escape(labels[start])}</output></label>'
    if kind == "checkbox":
        checked = " checked" if start == 1 else ""
        return f'<label class="kdviz-control"><input type="checkbox"{checked} {common}> {name}</label>'
    if kind == "select" and size > 1:
        options = "".join(
            f'<option value="{k}"{" selected" if k == start else ""}>{html.escape(label)}</option>'
            for k, label in enumerate(labels)
        )
        return f'<label class="kdviz-control">{name} <select {common}>{options}</select></label>'
    fixed = html.escape(labels[start])
    return f'<span class="kdviz-control">{name}: <code>{fixed}</code> <i>(fixed on this page)</i></span>'


def live_html(controls, frames, start, alt, note="", caption=False, kind="panel"):
    """A live panel (``kind`` 'panel' or 'lab'): ``controls`` (entries as ``render_frames`` describes them),
    ``frames`` (paths or {src, caption, error}), the frame shown first, and the image's ``alt`` text."""
    first = frames[start] if isinstance(frames[start], dict) else {"src": frames[start]}
    src = first.get("src") or next((f if isinstance(f, str) else f.get("src")) for f in frames if f)
    parts = [f'<div class="kdviz-live kdviz-{kind}" data-frames="{_attribute(frames)}">']
    parts += [f'<p class="kdviz-note">{note}</p>'] if note else []
    parts.append('<div class="kdviz-controls">' + "".join(control_html(entry) for entry in controls) + "</div>")
    parts += [f'<p class="kdviz-caption">{html.escape(first.get("caption", ""))}</p>'] if caption else []
    parts.append(f'<p class="kdviz-message"{"" if first.get("error") else " hidden"}>')
    parts.append(f"{html.escape(first.get('error', ''))}</p>")
    parts.append(f'<img class="kdviz-frame" src="{html.escape(src or "")}" alt="{html.escape(alt, quote=True)}">')
    return "".join(parts) + "</div>"


def start_index(controls):
    """The index of the frame at every control's start position (the first control slowest)."""
    index = 0
    for entry in controls:
        index = index * len(entry["values"]) + entry["start"]
    return index


class LiveOutputs:
    """Turns the kdviz entries of a page's outputs into live HTML, writing frame images into ``folder``.

    ``lab_record``: a recorded lab run (``kdviz.course.lab_record.read_lab_record``), or None to leave the lab a
    picture. ``counts`` tells what was converted (panels, frames written and their bytes, quizzes, labs) and how many
    widget outputs stay still pictures.
    """

    def __init__(self, folder, lab_record=None):
        self.folder, self.lab_record = Path(folder), lab_record
        self.counts = {"panels": 0, "frames": 0, "frame_bytes": 0, "quizzes": 0, "labs": 0, "still": 0}

    def frame_file(self, png):
        """Write ``png`` (bytes) once, named by its content; its path as a page links to it."""
        name = hashlib.sha256(png).hexdigest()[:20] + ".png"
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
            self.counts["frames"] += 1
            self.counts["frame_bytes"] += len(png)
        return FRAMES_URL + name

    def convert(self, output, alt):
        """Replace ``output``'s data by live HTML when it carries a kdviz entry; True when it did."""
        from ..exercises.quiz import QUIZ_MIME
        from ..widgets.frames import FRAMES_MIME
        from ..widgets.lab import LAB_MIME
        from ..widgets.panels import WIDGET_VIEW

        data = output.get("data", {})
        if FRAMES_MIME in data:
            made = self.panel_html(data[FRAMES_MIME], alt)
        elif QUIZ_MIME in data:
            made = quiz_html(data[QUIZ_MIME]["name"])
            self.counts["quizzes"] += 1
        elif LAB_MIME in data and self.lab_record is not None:
            made = self.lab_html(self.lab_record)
        else:
            self.counts["still"] += WIDGET_VIEW in data and "image/png" in data  # a panel or lab as a picture
            return False
        output["data"] = {"text/html": made}
        output["metadata"] = {}
        return True

    def panel_html(self, payload, alt):
        import base64

        frames = [
            self.frame_file(base64.b64decode(frame)) if isinstance(frame, str) else frame for frame in payload["frames"]
        ]
        self.counts["panels"] += 1
        return live_html(payload["controls"], frames, start_index(payload["controls"]), alt)

    def lab_html(self, record):
        """The recorded lab: T, alpha and the student size, the recorded errors and the soft targets at T."""
        from ..figures.mnist import plot_digit_soft_targets
        from ..noise import spread
        from ..widgets.panels import figure_png
        from .lab_record import describe_machine, digit_pixels, result_of

        grid, digit = record["grid"], record["digit"]
        pictures = {
            T: self.frame_file(
                figure_png(plot_digit_soft_targets(digit_pixels(record), digit["teacher_logits"], digit["label"], (T,)))
            )
            for T in grid["T"]
        }
        seeds = ", ".join(map(str, record["seeds"]))
        frames = []
        for T in grid["T"]:
            for alpha in grid["alpha"]:
                for hidden in grid["hidden"]:
                    errors = spread(result_of(record, T, alpha, hidden))
                    labels_only = " (alpha = 0: labels only, T has no effect)" if alpha == 0 else ""
                    caption = f"test errors of the {hidden}-unit students, seeds {seeds}: {errors.text()}{labels_only}"
                    frames.append({"src": pictures[T], "caption": caption})
        defaults = {"T": 4.0, "alpha": 0.5, "hidden": 100}  # the lab's own starting values
        controls = []
        for name, description, labels in (
            ("T", "T", [f"{T:g}" for T in grid["T"]]),
            ("alpha", "alpha", [f"{a:.2f}" for a in grid["alpha"]]),
            ("hidden", "hidden units", [str(h) for h in grid["hidden"]]),
        ):
            values = grid[name]
            start = min(range(len(values)), key=lambda k, v=values, d=defaults[name]: abs(v[k] - d))
            kind = "select" if name == "hidden" else "slider"
            entry = {"name": name, "description": description, "kind": kind, "values": values, "labels": labels}
            controls.append({**entry, "start": start})
        note = (
            f"<b>A recorded run</b>, not trained in your browser: {html.escape(describe_machine(record))}, on "
            f"{html.escape(record['date'])}. Each setting is one press of Train: seeds {seeds}, {record['epochs']} "
            f"epoch{'s' if record['epochs'] > 1 else ''} on the first {record['images']:,} transfer images. The figure "
            f"shows the teacher's soft targets at the chosen T for test digit {digit['index']}. To train settings of "
            "your own, run the notebook (the box at the top of the page says how)."
        )
        alt = f"The teacher's probabilities for test digit {digit['index']}, a {digit['label']}, at the chosen T."
        self.counts["labs"] += 1
        return live_html(controls, frames, start_index(controls), alt, note=note, caption=True, kind="lab")


def quiz_html(name):
    """A choice question as radio buttons, each carrying the feedback ``check`` gives for that option."""
    from ..exercises import exercise_named, feedback

    exercise = exercise_named(name)
    options = []
    for label, word in zip(exercise.labels(), exercise.words(), strict=True):
        right, message = feedback(name, word)
        options.append(
            f'<label><input type="radio" name="kdviz-quiz-{html.escape(name)}" value="{html.escape(word)}" '
            f'data-right="{int(right)}" data-feedback="{html.escape(message, quote=True)}"> '
            f"{html.escape(label)}</label>"
        )
    return (
        f'<form class="kdviz-quiz" data-name="{html.escape(name)}"><p><b>{html.escape(name)}</b>: '
        f"{html.escape(exercise.question)}</p>{''.join(options)}"
        '<p class="kdviz-feedback" aria-live="polite"></p></form>'
    )
