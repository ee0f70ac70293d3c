"""Derives the polynomial coefficients of the float math in csrc/math_lanes.h:
near-minimax fits (Lawson's iteratively reweighted least squares, which
converges to the minimax polynomial) of the relative error, against values
computed with mpmath at 40 digits, then rounded to float32.

    python scripts/fit_coefficients.py          # print every fit and its error

Each fit prints its coefficients (lowest degree first, as math::polynomial
takes them) and the maximum relative error of the polynomial in exact
arithmetic with the float32 coefficients.
"""

import math

import mpmath
import numpy as np

mpmath.mp.dps = 40


def lawson(t, g, weight, degree, iterations=400):
    """Coefficients c (lowest first) minimising max |weight * (sum c_k t^k - g)|."""
    basis = np.vander(t, degree + 1, increasing=True)
    u = np.full(t.size, 1.0 / t.size)
    for _ in range(iterations):
        sw = np.sqrt(u) * weight
        c, *_ = np.linalg.lstsq(basis * sw[:, None], g * sw, rcond=None)
        err = np.abs(weight * (basis @ c - g))
        u = u * err
        u /= u.sum()
    return c


def lawson_float32(t, g, weight, degree):
    """As lawson, with the coefficients rounded to float32 one at a time from
    the lowest, the higher ones refitted each time to absorb the rounding."""
    fixed = []
    for k in range(degree + 1):
        rest = g - sum(c * t**j for j, c in enumerate(fixed))
        # fit t^k * (c_k + c_{k+1} t + ...) to what is left
        c = lawson(t, rest / t**k, weight * t**k, degree - k)
        fixed.append(float(np.float32(c[0])))
    return fixed


def chebyshev_points(lo, hi, n=2000):
    k = np.arange(n)
    return 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos(np.pi * (k + 0.5) / n)


def report(name, coefficients, max_rel_err):
    print(f"{name}: max relative error {max_rel_err:.3g}")
    print("  " + ", ".join(f"{v:.9g}f" for v in coefficients))


def fit_exp(degree=4):
    # exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2; weight: relative error of exp
    h = math.log(2) / 2
    r = chebyshev_points(-h, h)
    r = r[np.abs(r) > 1e-6]
    f = np.array([float(mpmath.exp(v)) for v in r])
    g = np.array([float((mpmath.exp(v) - 1 - v) / v**2) for v in r])
    c = lawson_float32(r, g, r**2 / f, degree)
    approx = 1 + r + r**2 * np.polyval(c[::-1], r)
    report("exp: 1 + r + r^2 P(r), |r| <= ln2/2", c, np.max(np.abs(approx / f - 1)))


def fit_expm1(degree=5):
    # expm1(r) = r + r^2 P(r) on |r| <= ln2/2
    h = math.log(2) / 2
    r = chebyshev_points(-h, h)
    r = r[np.abs(r) > 1e-6]
    f = np.array([float(mpmath.expm1(v)) for v in r])
    g = np.array([float((mpmath.expm1(v) - v) / v**2) for v in r])
    c = lawson_float32(r, g, r**2 / np.abs(f), degree)
    approx = r + r**2 * np.polyval(c[::-1], r)
    report("expm1: r + r^2 P(r), |r| <= ln2/2", c, np.max(np.abs(approx / f - 1)))


def fit_tanh(bound, degree):
    # tanh(x) = x + x^3 P(x^2) on |x| <= bound
    x = chebyshev_points(1e-4, bound)
    y = x * x
    f = np.array([float(mpmath.tanh(v)) for v in x])
    g = np.array([float((mpmath.tanh(v) - v) / v**3) for v in x])
    c = lawson_float32(y, g, x**3 / f, degree)
    approx = x + x**3 * np.polyval(c[::-1], y)
    report(f"tanh: x + x^3 P(x^2), |x| <= {bound}", c, np.max(np.abs(approx / f - 1)))


def mills_ratio(a):
    # Phi(-a) / phi(a)
    a = mpmath.mpf(a)
    return mpmath.erfc(a / mpmath.sqrt(2)) / 2 / (mpmath.exp(-a * a / 2) / mpmath.sqrt(2 * mpmath.pi))


def fit_normal_tail(t, a_max, degree):
    # Phi(-a) = exp(-a^2/2) * P(q) / (a + t), q = (a - t) / (a + t), a in [0, a_max];
    # P absorbs 1/sqrt(2 pi)
    q_max = (a_max - t) / (a_max + t)
    q = chebyshev_points(-1.0, q_max)
    a = t * (1 + q) / (1 - q)
    inv_sqrt_2pi = 1 / mpmath.sqrt(2 * mpmath.pi)
    g = np.array([float(mills_ratio(v) * (mpmath.mpf(v) + t) * inv_sqrt_2pi) for v in a])
    c = lawson_float32(q, g, 1 / g, degree)
    approx = np.polyval(c[::-1], q)
    report(f"normal tail: Phi(-a) = exp(-a^2/2) P(q) / (a + {t}), q = (a - {t})/(a + {t}), a <= {a_max}",
           c, np.max(np.abs(approx / g - 1)))


def main():
    fit_exp()
    fit_expm1()
    for bound, degree in ((0.625, 5), (0.75, 6), (0.9, 7)):
        fit_tanh(bound, degree)
    for t, degree in ((2.0, 10), (2.5, 10), (2.5, 11), (3.0, 11)):
        fit_normal_tail(t, 14.5, degree)


if __name__ == "__main__":
    main()
