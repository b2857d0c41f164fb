"""Pure computations on pandas/numpy/scipy: forecasting, planning, degree days, signatures."""
