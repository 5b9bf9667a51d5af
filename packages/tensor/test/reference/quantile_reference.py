#!/usr/bin/env python3
"""numpy's default (method='linear') np.quantile on the arrays that test/stats.test.ts pins as literals."""
import numpy as np

ARRAYS = {
    "a": [1, 2, 3, 4],
    "b": [3.5, -1.25, 7, 0, 2.75, 10, -4],
    "c": [0.1, 0.7, 0.2, 0.9, 0.3, 0.05, 0.6, 0.45, 0.8, 0.15, 0.55],
    "d": [5],
    "e": [2, 2, 2, 9, 9],
}
QS = [0, 1, 0.95, 0.5, 0.33]

print("numpy", np.__version__)
for name, arr in ARRAYS.items():
    vals = [repr(float(np.quantile(np.asarray(arr, dtype=np.float64), q))) for q in QS]
    print(name, arr, dict(zip(QS, vals)))
