"""Production planning: unit commitment and dispatch with thermal storage (``scipy.optimize.milp``)."""
