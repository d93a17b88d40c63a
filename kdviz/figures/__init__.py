"""One function per figure, by family; each returns a matplotlib Figure and never calls plt.show().

``softmax``: the softmax and its temperature (lessons 01-03); ``mnist``: the teacher's digits and soft targets,
training curves and error plots (04-05); ``beyond``: calibration, smoothing and fidelity (06); ``language``: sampling,
forward and reverse KL, and students of a language (07).
"""
