"""`graycodec eval`: graycodec vs the gray floor and standard codecs, with a report.

metrics.py (fidelity figures) · codecs.py (one ``Codec`` contract for graycodec, gray and
Pillow baselines) · runner.py (the loop, ``EvalOptions``, ``main(argv)``) · report.py (files).
"""
