"""Writes the .npz fixtures of tests/passes/test_calibration_npz_rows.cpp ("[npz_rows]").

Run from this folder with Debian's Python: /usr/bin/python3 make_calibration_fixtures.py (numpy 1.24).
The tests check the values written here; change both together.
"""
import zipfile

import numpy as np

# zip64.npz: np.savez with Python's zip64 limits lowered, so the small file carries what a > 2 GiB
# one does: zip64 extra fields in the central directory, a zip64 end record and its locator.
zipfile.ZIP64_LIMIT = 16
zipfile.ZIP_FILECOUNT_LIMIT = 1
np.savez("zip64.npz", x=np.arange(60, dtype=np.float32).reshape(5, 3, 4), labels=np.arange(5, dtype=np.int64))
zipfile.ZIP64_LIMIT = (1 << 31) - 1
zipfile.ZIP_FILECOUNT_LIMIT = (1 << 16) - 1

# fortran.npz: a C-ordered and a Fortran-ordered member (rows of the latter are not contiguous).
np.savez("fortran.npz", c=np.arange(6, dtype=np.float32).reshape(3, 2),
         f=np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2)))
