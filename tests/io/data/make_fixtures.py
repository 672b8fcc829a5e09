"""Writes the tiny .npy/.npz fixtures of tests/io/test_data_files.cpp ("[data]").

Run from this folder with Debian's Python: /usr/bin/python3 make_fixtures.py (numpy 1.24).
The tests check the values written here; change both together.
"""
import numpy as np

fmt = np.lib.format


def save(name, arr, version=None):
    with open(name, "wb") as f:
        fmt.write_array(f, arr, version=version, allow_pickle=True)


# Compressed archive (np.savez_compressed): float32 and bool members.
np.savez_compressed("compressed.npz", a=np.arange(12, dtype=np.float32).reshape(3, 4),
                    b=np.array([True, False, True]))
# Stored archive with one member per supported dtype, each arange(5) (bool: alternating).
types = ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]
np.savez("alltypes.npz", **{t: np.arange(5, dtype="<" + t) for t in types},
         b1=np.array([True, False, True, False, True]))
save("v2.npy", np.arange(6, dtype=np.int16).reshape(2, 3), version=(2, 0))
save("v3.npy", np.arange(6, dtype=np.uint16).reshape(3, 2), version=(3, 0))
save("bool.npy", np.array([True, False, True]))
save("float16.npy", np.array([1.0, -2.5, 65504.0], dtype=np.float16))
save("scalar.npy", np.array(3.5, dtype=np.float64))
save("empty.npy", np.zeros((0, 3), dtype=np.float32))
save("fortran.npy", np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)))
save("bigendian.npy", np.arange(3, dtype=">f4"))
save("object.npy", np.array([1, "a"], dtype=object))
save("unicode.npy", np.array(["ab", "c"]))
