"""guardcal's version, which every scores file and fitted-rows key records. A module of its own so
that the code stamping it need not import the package root, whose lazy `guardcal.CalibratedGuard`
imports the calibrated guard and, through it, extraction."""

__version__ = "0.1.0"
