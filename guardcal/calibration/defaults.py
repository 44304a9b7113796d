"""The study's calibration settings, in a module without imports: a config reads its defaults
here without loading numpy, scipy or scikit-learn."""

ECE_BINS = 15
"""Equal-width bins of the ECE/MCE in the tables (the study's M)."""

PLOT_BINS = 10
"""Equal-width bins of the reliability diagrams."""

TEMPERATURE_RANGE = (0.1, 20.0, 0.1)
"""The study's temperature grid as (start, stop, step)."""

GAMMA_RANGE = (-10.0, 10.0, 0.1)
"""The study's γ grid as (start, stop, step)."""

PRIORS = ("batch", "validation")
"""Where batch calibration's p(y|C) comes from: the batch being calibrated, or validation."""
