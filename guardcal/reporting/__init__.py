"""Reporting: the study pipeline on the scores files (fit, evaluate, tables), its figures, the
report's narrative, and rendering (papermill, nbconvert, Chromium). Never imports torch."""
