"""NumPy expectations hard-coded in tests/passes/test_calibration_observers.cpp ("[calibration]").

Run: .venv/bin/python tests/passes/calibration_reference.py   (numpy only; prints the constants)
The sample is deterministic and closed-form, so C++ rebuilds it bit for bit: n Laplace(0, 1)
quantiles x_i = -sign(u - 1/2) * ln(1 - 2|u - 1/2|), u = (i + 1/2) / n, stored as float32.
- percentiles: np.percentile of |x| and of x (linear interpolation);
- entropy: TensorRT's KL search in MXNet/ONNX Runtime's form, on np.histogram(|x|, 2048 bins,
  range [0, max|x|]) with 128 levels (what calibration/range_search.cpp implements);
- mse: brute force on the samples themselves (not the histogram): fake-quantize x to `bits` with
  scale t/(2^(bits-1)-1) for every t on a 2048-point grid and keep the t of least mean squared error.
"""
import numpy as np

N = 100_000
BINS = 2048


def laplace(n):
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    d = u - 0.5
    return (-np.sign(d) * np.log(1 - 2 * np.abs(d))).astype(np.float32)


def smooth(p, eps=1e-4):
    zeros = p == 0
    nz = p.size - zeros.sum()
    if nz == 0:
        return None
    return p + eps * zeros - eps * zeros.sum() / nz * (~zeros)


def entropy_threshold(hist, width, levels=128):
    used = np.nonzero(hist)[0].max() + 1
    best, best_i = np.inf, used
    for i in range(levels, used + 1):
        p = hist[:i].astype(np.float64).copy()
        p[i - 1] += hist[i:].sum()
        q = np.zeros(i)
        merged = i // levels
        for g in range(levels):
            start, stop = g * merged, (i if g == levels - 1 else (g + 1) * merged)
            nz = (p[start:stop] != 0).sum()
            if nz:
                q[start:stop] = np.where(p[start:stop] != 0, hist[start:stop].sum() / nz, 0)
        ps, qs = smooth(p), smooth(q)
        if ps is None or qs is None:
            continue
        ps, qs = ps / ps.sum(), qs / qs.sum()
        m = ps > 0
        kl = np.sum(ps[m] * np.log(ps[m] / qs[m])) if np.all(qs[m] > 0) else np.inf
        if kl < best:
            best, best_i = kl, i
    return min(best_i * width, np.abs(hist).size * width)


def mse_brute(x, bits=8):
    x = x.astype(np.float64)
    kmax = 2 ** (bits - 1) - 1
    grid = np.linspace(np.abs(x).max() / 2048, np.abs(x).max(), 2048)
    errs = [np.mean((x - np.clip(np.round(x / (t / kmax)), -kmax, kmax) * (t / kmax)) ** 2) for t in grid]
    i = int(np.argmin(errs))
    return grid[i], errs[i]


def main():
    x = laplace(N)
    a = np.abs(x)
    print(f"max|x| = {a.max():.7g}")
    for p in (99.0, 99.9, 99.99):
        print(f"percentile |x| {p}: {np.percentile(a, p):.7g}   x tails: {np.percentile(x, 100 - p):.7g} "
              f"{np.percentile(x, p):.7g}")
    hist, edges = np.histogram(a, bins=BINS, range=(0, a.max()))
    t = entropy_threshold(hist, edges[1] - edges[0])
    print(f"entropy threshold: {min(t, a.max()):.7g} (bin width {edges[1]:.7g})")
    for bits in (8, 4):
        t, e = mse_brute(x, bits)
        print(f"{bits}-bit mse threshold (brute force on samples): {t:.7g}, mse {e:.7g}")
    # The same sample plus 10 outliers at +-100: at 4 bits clipping them costs less than the
    # coarser steps that keeping them would need (outlier share 1e-4 < 1 / (12 * 7^2)).
    xo = np.concatenate([x, np.array([100, -100] * 5, dtype=np.float32)])
    t, e = mse_brute(xo, 4)
    print(f"4-bit with outliers: mse threshold {t:.7g}, mse {e:.7g}")


if __name__ == "__main__":
    main()
