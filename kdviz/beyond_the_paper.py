"""Lesson 06, beyond the 2015 paper: temperature scaling (calibration), label-smoothed teachers, top-k soft
targets, and how well a student calibrates and imitates its teacher. MNIST experiments on a
``kdviz.mnist.Workspace``, and the sentences that report them, printed from the numbers (never typed in).
"""

import numpy as np
import torch
from scipy.optimize import brentq

from . import _checks
from .calibration import expected_calibration_error, fit_temperature
from .mnist.losses import kd_loss
from .mnist.train import StudentConfig, TrainingOptions
from .mnist_distillation import class_similarity
from .noise import compare, exceeds_noise, gap_and_range, spread, verdict, with_quick_mode_note
from .temperature import kl_divergence, softmax


def top_k_logits(teacher_logits, k):
    """Teacher logits with all but each row's k largest set to -inf.

    softmax(result / T) is the teacher's p_T with all but its k largest probabilities dropped and the kept ones
    renormalised (softmax keeps the order of the logits at every T). k = 1 is the teacher's argmax as a one-hot
    label; k = the number of classes leaves the logits as they are.
    """
    _checks.logit_tensor(teacher_logits, "teacher_logits", stacked=False)
    k = _checks.count(k, "k", 1, teacher_logits.shape[1])
    keep = torch.zeros_like(teacher_logits, dtype=torch.bool)
    keep.scatter_(1, teacher_logits.topk(k, dim=1).indices, True)
    return teacher_logits.masked_fill(~keep, -torch.inf)


def smoothed_label_logits(labels, epsilon, n_classes=10, dtype=torch.float32):
    """Logits log((1 - eps) one_hot(y) + eps / C), whose softmax at T = 1 is the label-smoothed target.

    Distilling from them at T = 1 with alpha = 1 minimises KL(p || q) = CE(p, q) - H(p): label smoothing's
    loss up to a constant. Label smoothing is distillation from a teacher that knows nothing about which
    wrong class is likelier: it gives every one of them eps / C.
    """
    epsilon = _checks.number(
        epsilon, "epsilon, the probability spread over all classes,", 0, 1, low_open=True, high_open=True
    )
    n_classes = _checks.count(n_classes, "n_classes", 2)
    labels = torch.as_tensor(labels)
    targets = torch.full((len(labels), n_classes), epsilon / n_classes, dtype=dtype, device=labels.device)
    targets[torch.arange(len(labels), device=labels.device), labels] += 1 - epsilon
    return targets.log()


def smoothing_is_distillation(logits, labels, epsilon=0.1):
    """The identity behind ``smoothed_label_logits``, measured on one batch of logits (N, C): returns
    (torch's label-smoothed cross-entropy, kd_loss at T = 1 and alpha = 1 from the smoothed-label logits,
    the entropy of the smoothed target). The first equals the sum of the other two: CE(p, q) = KL(p || q) + H(p)."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    labels = torch.as_tensor(labels)
    smoothed = smoothed_label_logits(labels, epsilon, logits.shape[1], torch.float64)
    cross_entropy = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=epsilon)
    distillation = kd_loss(logits, smoothed, None, 1.0, 1.0)
    target = smoothed[0].exp()
    return float(cross_entropy), float(distillation), float(-(target * target.log()).sum())


def train_smoothing_pair(workspace, config, epsilon=0.1, progress=True):
    """Two teachers trained side by side on the workspace's transfer set and labels, from the same initial
    weights and the same batches: one on the labels (cross-entropy), one with label smoothing ``epsilon``
    (distillation at T = 1 from ``smoothed_label_logits``). Returns the stacked pair: 0 plain, 1 smoothed."""
    _checks.instance_of(config, StudentConfig, "config (the teachers' size and schedule)", "StudentConfig(hidden=800)")
    smoothed = smoothed_label_logits(workspace.y_train, epsilon)
    options = TrainingOptions(description="two teachers: labels, labels smoothed")
    seeds = [config.seed] * 2
    model, _ = workspace.train_students(1.0, [0.0, 1.0], config, seeds, smoothed, options, progress)
    return model


def wrong_class_mass(logits, labels, T):
    """Mean over images of 1 - p_label(T): the probability that softmax(logits / T) gives the wrong classes."""
    p = softmax(np.asarray(logits, dtype=float), T)
    return float(np.mean(1 - p[np.arange(len(p)), np.asarray(labels)]))


def temperature_scaling(validation_logits, validation_labels, test_logits, test_labels, n_bins=15):
    """Fit the calibration T on a validation split (never on the test set) and measure the test set at T = 1
    and at the fitted T: a dict of the fitted T, ECE (%), errors, changed predictions, mean confidence and
    accuracy at T = 1 (%), and the model's error rate on the validation split (%)."""
    T = fit_temperature(validation_logits, validation_labels)
    labels = np.asarray(test_labels)
    before, after = softmax(np.asarray(test_logits, dtype=float)), softmax(np.asarray(test_logits, dtype=float), T)
    return {
        "T": T,
        "n_validation": len(validation_labels),
        "ECE before (%)": 100 * expected_calibration_error(before, labels, n_bins),
        "ECE after (%)": 100 * expected_calibration_error(after, labels, n_bins),
        "errors before": int((before.argmax(1) != labels).sum()),
        "errors after": int((after.argmax(1) != labels).sum()),
        "predictions changed": int((before.argmax(1) != after.argmax(1)).sum()),
        "mean confidence (%)": 100 * float(before.max(1).mean()),
        "accuracy (%)": 100 * float((before.argmax(1) == labels).mean()),
        "validation error (%)": 100 * float((np.asarray(validation_logits).argmax(1) != validation_labels).mean()),
    }


def temperature_scaling_report(result):
    """The sentences of ``temperature_scaling``'s result, each printed from its numbers."""
    T, confidence, accuracy = result["T"], result["mean confidence (%)"], result["accuracy (%)"]
    before, after = result["ECE before (%)"], result["ECE after (%)"]
    return [
        f"T fitted on {result['n_validation']:,} validation images: {T:.3f}",
        f"test ECE: {before:.2f}% at T = 1, {after:.2f}% at T = {T:.3f}: temperature scaling "
        + ("lowered it" if after < before else "did not lower it"),
        f"test errors: {result['errors before']} at T = 1, {result['errors after']} at T = {T:.3f}; predictions "
        f"changed: {result['predictions changed']} (argmax z / T = argmax z for every T > 0)",
        f"at T = 1 the mean confidence on the test set is {confidence:.2f}% and the accuracy {accuracy:.2f}%: the "
        + ("model is underconfident there" if confidence < accuracy else "model is overconfident there")
        + f"; the fitted T = {T:.3f} "
        + ("sharpens" if T < 1 else "softens")
        + " its probabilities",
    ]


def errors_of(logits, labels):
    """Misclassified test images of each model: logits (models, N, C) -> a list of ints."""
    labels = np.asarray(labels)
    return [int(n) for n in (np.asarray(logits).argmax(-1) != labels).sum(-1)]


def calibration_errors(logits, labels, n_bins=15):
    """ECE in percent of each model at T = 1: logits (models, N, C) -> a list of floats."""
    return [round(100 * expected_calibration_error(softmax(z), labels, n_bins), 3) for z in np.asarray(logits)]


def disagreements(teacher_logits, student_logits):
    """Test images on which each student's top-1 class differs from the teacher's: (N, C), (K, N, C) -> K ints."""
    teacher_top = np.asarray(teacher_logits).argmax(-1)
    return [int(n) for n in (np.asarray(student_logits).argmax(-1) != teacher_top).sum(-1)]


def mean_kl(teacher_logits, student_logits, T=1.0):
    """mean over images of KL(softmax(v / T) || softmax(z / T)) for each student: (N, C), (K, N, C) -> K floats."""
    return [float(kl) for kl in kl_divergence(teacher_logits, student_logits, T).mean(-1)]


def off_diagonal_spread(similarity):
    """How unequal a teacher's wrong classes are. ``similarity`` is a class-similarity matrix (row c: the mean
    soft target of the images of class c, ``kdviz.figures.mnist.class_similarity``); each row's off-diagonal
    entries are renormalised to sum to 1, and the spread is the coefficient of variation (sd / mean) of all of
    them: 0 when every wrong class gets the same share, larger the more the teacher tells them apart."""
    matrix = _checks.square_matrix(similarity, "similarity", min_size=3)
    off = ~np.eye(len(matrix), dtype=bool)
    shares = matrix[off].reshape(len(matrix), -1)
    shares = shares / shares.sum(axis=1, keepdims=True)
    return float(shares.std() / shares.mean())


def fraction_of_gain(alone, distilled, other):
    """(mean alone - mean other) / (mean alone - mean distilled): the share of distillation's gain that ``other``
    keeps; None when the gain itself is within noise."""
    if not exceeds_noise(alone, distilled) or spread(alone).mean <= spread(distilled).mean:
        return None
    return (spread(alone).mean - spread(other).mean) / (spread(alone).mean - spread(distilled).mean)


def top_k_report(errors_by_k, alone, n_classes=10):
    """Sentences on top-k soft targets: each k against all soft targets (k = n_classes) and the share of
    distillation's gain over the student alone that it keeps."""
    full = errors_by_k[n_classes]
    lines = ["Distillation's gain: " + compare("student alone", alone, "all soft targets", full)]
    if fraction_of_gain(alone, full, full) is None:
        lines.append("As the gain itself is not beyond the noise, no share of it is computed for the top-k students.")
    for k, errors in errors_by_k.items():
        if k == n_classes:
            continue
        share = fraction_of_gain(alone, full, errors)
        if share is None:
            kept = ""
        elif round(100 * share) <= 0:
            kept = f" Top-{k} keeps none of distillation's gain (in mean errors)."
        else:
            kept = f" Top-{k} keeps {100 * share:.0f}% of distillation's gain (in mean errors)."
        verdict = compare(f"top-{k}", errors, "all soft targets", full)
        lines.append(f"Top-{k} against all soft targets: {verdict}{kept}")
    return lines


def copied_mistakes(teacher_logits, student_logits, labels):
    """Fidelity where it costs accuracy: of the test images the teacher gets wrong, the share (%) on which each
    student gives the teacher's wrong class. (N, C), (K, N, C), (N,) -> K floats; an accurate student that does not
    imitate the teacher repeats few of its mistakes."""
    teacher_top = np.asarray(teacher_logits).argmax(-1)
    labels = np.asarray(labels)
    wrong = teacher_top != labels
    if not wrong.any():
        raise ValueError("the teacher gets every image right: it has no mistake a student could copy")
    copied = np.asarray(student_logits).argmax(-1)[:, wrong] == teacher_top[wrong]
    return [round(100 * float(share), 2) for share in copied.mean(-1)]


def fidelity_report(errors, kls, copied, reference="student alone"):
    """Whether accuracy and fidelity to the teacher go together, student by student: each argument maps the same
    students' names to per-seed values (test errors, mean KL(teacher || student), copied mistakes in %). Each
    student is judged against ``reference`` on errors and on KL, by the seed rule, and the verdict says whether
    the more accurate one is also the closer one, whichever way it turns out; then the copied mistakes."""
    lines = []
    for name in errors:
        if name == reference:
            continue
        accurate = _winner(errors[name], errors[reference], name, reference)
        closer = _winner(kls[name], kls[reference], name, reference)
        if accurate is None or closer is None:
            outcome = "not both beyond the noise, so no verdict on whether accuracy and fidelity go together"
        elif accurate == closer:
            outcome = f"the {accurate} is both more accurate and closer to the teacher: they go together here"
        else:
            outcome = (
                f"the {accurate} is more accurate but the {closer} is closer to the teacher: accuracy and fidelity "
                "come apart here"
            )
        errors_said = _direction(errors[name], errors[reference], "fewer", "more")
        kl_said = _direction(kls[name], kls[reference], "smaller", "larger")
        lines.append(f"{name} against the {reference}: test errors {errors_said}; KL(teacher || student) {kl_said}; "
                     f"{outcome}.")  # fmt: skip
    repeat = [name for name in copied if name != reference]
    lines += [
        "The teacher's own mistakes that each student repeats (%). "
        + compare(reference, copied[reference], name, copied[name], "percentage points", unit="%")
        for name in repeat[:1]
    ]
    return with_quick_mode_note(lines)


def _direction(a, b, lower, higher):
    """'fewer (gap 12.3 vs range 8)': a against b, by the seed rule, with the numbers it compared."""
    word = {"better": lower, "worse": higher}.get(verdict(a, b), "within noise")
    return f"{word} ({gap_and_range(a, b)})"


def _winner(a, b, name_a, name_b):
    """The name with the lower mean when the gap exceeds the seed range; None within noise."""
    if not exceeds_noise(a, b):
        return None
    return name_a if spread(a).mean < spread(b).mean else name_b


def students_calibration_report(errors, ece):
    """Two sentences on the student alone against the distilled student: test errors, then test ECE (%); each
    argument maps the two names to per-seed values, student alone first."""
    (alone, distilled) = list(errors)
    return [
        "Test errors. " + compare(alone, errors[alone], distilled, errors[distilled]),
        "Test ECE (%). " + compare(alone, ece[alone], distilled, ece[distilled], "points"),
    ]


def wrong_class_spreads(logits_by_name, labels, T):
    """Each model's class-similarity matrix at T (``kdviz.mnist_distillation.class_similarity``) and the spread of its
    wrong-class shares (``off_diagonal_spread``): two dicts keyed by the models' names."""
    matrices = {name: class_similarity(logits, labels, T) for name, logits in logits_by_name.items()}
    return matrices, {name: off_diagonal_spread(matrix) for name, matrix in matrices.items()}


def smoothing_report(errors_by_student):
    """Label smoothing against distillation's gain, by the seed rule: ``errors_by_student`` maps three names to
    per-seed test errors: the student alone, the student of the plain teacher, the student of the smoothed
    teacher. Says whether each teacher's student beats the student alone beyond the noise, how the two teachers'
    students compare, and what share of the plain teacher's gain the smoothed teacher's student keeps."""
    (alone, alone_errors), (plain, plain_errors), (smoothed, smoothed_errors) = errors_by_student.items()
    lines = [
        f"The {plain} against the {alone}: " + compare(plain, plain_errors, alone, alone_errors),
        f"The {smoothed} against the {alone}: " + compare(smoothed, smoothed_errors, alone, alone_errors),
        "The two teachers' students: " + compare(plain, plain_errors, smoothed, smoothed_errors),
    ]
    share = fraction_of_gain(alone_errors, plain_errors, smoothed_errors)
    if share is None:
        lines.append(f"The plain teacher's gain over the {alone} is not beyond the noise: no share of it is computed.")
    else:
        lines.append(
            f"The {smoothed} keeps {100 * share:.0f}% of the plain teacher's gain over the {alone} (in mean errors): "
            + ("label smoothing took part of what distillation transfers, not all of it." if 0 < share < 1
               else "label smoothing took none of it." if share >= 1 else "label smoothing took all of it.")
        )  # fmt: skip
    return with_quick_mode_note(lines)


def matched_temperature(logits, labels, mass, T_min=1e-2, T_max=1e4):
    """The T at which the soft targets softmax(logits / T) give the wrong classes ``mass`` of the probability on
    average (``wrong_class_mass``): the temperature that makes one teacher as flat as another. brentq on log T."""
    mass = _checks.number(mass, "mass (the mean probability of the wrong classes)", 0, 1, True, True)
    T_min, T_max = _checks.temperature_range(T_min, T_max)

    def gap(log_T):
        return wrong_class_mass(logits, labels, np.exp(log_T)) - mass

    if gap(np.log(T_min)) * gap(np.log(T_max)) > 0:
        raise ValueError(
            f"no T in [{T_min:g}, {T_max:g}] gives the wrong classes {mass:.3g} of the probability on average"
        )
    return float(np.exp(brentq(gap, np.log(T_min), np.log(T_max), xtol=1e-12)))


def wrong_class_structure(logits, labels, T):
    """How unequally an image's wrong classes share what the teacher gives them, averaged over images: the
    coefficient of variation (sd / mean) of p_hat = softmax over the wrong classes' logits / T alone. 0 when every
    wrong class of every image gets the same share. It does not see how much the wrong classes get in all (the
    flatness, ``wrong_class_mass``): the two measure different things."""
    z = _checks.logit_batch(logits, "logits", min_classes=3, allow_neg_inf=False)
    labels = _checks.label_array(labels, z.shape[1], len(z))
    wrong = np.ones(z.shape, dtype=bool)
    wrong[np.arange(len(z)), labels] = False
    shares = softmax(z[wrong].reshape(len(z), -1), T)
    return float(np.mean(shares.std(axis=1) / shares.mean(axis=1)))


def flatness_and_structure(teachers, labels, T):
    """For two teachers ({name: test logits}, the plain one first): each one's wrong-class mass at T (flatness);
    the T at which the second is exactly as flat as the first is at T; and the per-image structure of both
    (``wrong_class_structure``) at those equally flat temperatures. A dict of the numbers the report prints."""
    (first, first_logits), (second, second_logits) = teachers.items()
    mass = {name: wrong_class_mass(logits, labels, T) for name, logits in teachers.items()}
    T_matched = matched_temperature(second_logits, labels, mass[first])
    return {
        "T": float(T),
        "mass": mass,
        "matched T": T_matched,
        "structure": {
            first: wrong_class_structure(first_logits, labels, T),
            second: wrong_class_structure(second_logits, labels, T_matched),
        },
    }


def flatness_and_structure_report(result):
    """Sentences from ``flatness_and_structure``: how much flatter the second teacher's soft targets are at T, and
    how unequal each one's wrong classes are once both are equally flat."""
    (first, mass_first), (second, mass_second) = result["mass"].items()
    T, T_matched = result["T"], result["matched T"]
    structure = result["structure"]
    flatter = "flatter" if mass_second > mass_first else "less flat"
    return [
        f"Flatness: at T = {T:g} the {second} gives the wrong classes {100 * mass_second:.1f}% of the probability on "
        f"average, the {first} {100 * mass_first:.1f}%: its soft targets are {flatter}.",
        f"Structure at equal flatness: the {second} at T = {T_matched:.3g} gives the wrong classes as much as the "
        f"{first} at T = {T:g}; there the spread of each image's wrong-class shares (sd / mean) is "
        f"{structure[second]:.3f} for the {second} against {structure[first]:.3f} for the {first}: "
        + (
            "label smoothing also evened out which wrong class is likelier"
            if structure[second] < structure[first]
            else "label smoothing did not even out which wrong class is likelier"
        )
        + " (one teacher of each kind: a measurement, not a verdict over seeds).",
    ]


def measured_figures(scaling, ece, shape, errors_by_student, errors_by_k, kls):
    """The lesson's results in one place, each printed from its numbers: the teacher's calibration, the students'
    ECE, the smoothed teacher's flatness and structure, what label smoothing left of the gain, top-k, and each
    student's KL to the teacher (per-seed values as mean and range)."""
    (plain, mass_plain), (smoothed, mass_smoothed) = shape["mass"].items()
    return [
        f"shipped teacher: fitted T = {scaling['T']:.3f}; test ECE {scaling['ECE before (%)']:.2f}% -> "
        f"{scaling['ECE after (%)']:.2f}%",
        "students' test ECE (%): " + "; ".join(f"{name} {spread(values)}" for name, values in ece.items()),
        f"wrong-class mass at T = {shape['T']:g}: {plain} {100 * mass_plain:.1f}%, {smoothed} "
        f"{100 * mass_smoothed:.1f}%; structure at equal flatness: {plain} {shape['structure'][plain]:.3f}, "
        f"{smoothed} {shape['structure'][smoothed]:.3f}",
        "label smoothing: " + smoothing_report(errors_by_student)[3],
        "top-k test errors: " + "; ".join(f"k = {k}: {spread(e)}" for k, e in errors_by_k.items()),
        "KL(teacher || student) at T = 1: " + "; ".join(f"{name} {spread(v)}" for name, v in kls.items()),
    ]
