"""A compiled (numba) parser for the plain numeric body of a delimited table, the fast path of
:mod:`kansci.data.delimited`. Pure numbers in, float64 out, and the same doubles as Python's ``float``.

A body is accepted only when every line holds exactly ``m`` fields, separated by one character, each a decimal
number ``[+-]digits[.digits][(e|E)[+-]digits]`` with at least one digit and at most 19 significant digits,
optionally surrounded by spaces (and tabs, unless the tab is the separator); lines end in ``\\n`` or ``\\r\\n``.
Anything else (an empty cell, ``nan``, quotes, a blank line, a ragged row, more digits) makes :func:`parse_rows`
return -1 and the caller falls back to a slower, broader parser.

Exactness: a number whose decimal mantissa ``w`` fits in 53 bits with an exponent of 10 within +-22 is ``w * 10**q``
or ``w / 10**-q``, one correctly rounded IEEE operation (Clinger's fast path). Any other number with at most 19
significant digits goes through the Eisel-Lemire algorithm (a 128-bit product with a truncated power of five, as
in the fast_float library; Mushtak and Lemire showed that it needs no fallback when ``w`` is exact). Both give the
correctly rounded double, as ``float`` does; the tests compare them on millions of numbers.

numba is imported on first use; without it :func:`parse_rows` returns -1. :func:`loadtxt_rows` is the broader
parser: numpy's C reader, which also takes ``nan``, ``inf`` and other whitespace, with the same doubles as ``float``.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["loadtxt_rows", "parse_rows", "power_table"]


def power_table() -> np.ndarray:
    """(651, 2) uint64: the high and low words of 5**q for q in [-342, 308], normalised to 128 bits (truncated for
    q >= 0; for q < 0 the reciprocal, rounded up), as the Eisel-Lemire algorithm expects."""
    rows = []
    for q in range(-342, 309):
        if q >= 0:
            c = 5 ** q
            c = c << max(0, 128 - c.bit_length()) if c.bit_length() < 128 else c >> (c.bit_length() - 128)
        else:
            p5 = 5 ** -q
            z = (p5 - 1).bit_length()  # the least z with 2**z >= 5**-q
            c = (1 << (z + 127 if q >= -27 else 2 * z + 128)) // p5 + 1
            while c >= 1 << 128:
                c //= 2
        rows.append((c >> 64, c & (2**64 - 1)))
    return np.array(rows, dtype=np.uint64)


_U = np.uint64
_M32, _ONE, _MASK9, _TOP, _M52 = _U(0xFFFFFFFF), _U(1), _U(0x1FF), _U(1 << 63), _U(1 << 52)
_INF_BITS, _SIGN = _U(0x7FF << 52), _U(1 << 63)
_POWERS = np.array([10.0 ** k for k in range(23)])  # exact doubles
_TABLE = np.zeros((651, 2), dtype=np.uint64)  # filled by _build


def _mul128(a: Any, b: Any) -> tuple[Any, Any]:
    """(high, low) words of the 128-bit product of two uint64."""
    a_lo, a_hi, b_lo, b_hi = a & _M32, a >> _U(32), b & _M32, b >> _U(32)
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _U(32)) + (p1 & _M32) + (p2 & _M32)
    return p3 + (p1 >> _U(32)) + (p2 >> _U(32)) + (mid >> _U(32)), (p0 & _M32) | (mid << _U(32))


def _eisel_lemire(w: Any, q: int) -> Any:
    """The bits of the double nearest to w * 10**q, for 0 < w < 10**19 (fast_float's compute_float)."""
    if q < -342:
        return _U(0)
    if q > 308:
        return _INF_BITS
    lz = 0
    for step in (32, 16, 8, 4, 2, 1):
        if w < (_ONE << _U(64 - step)):
            w <<= _U(step)
            lz += step
    hi, lo = _mul128(w, _TABLE[q + 342, 0])
    if (hi & _MASK9) == _MASK9:
        hi2, _ = _mul128(w, _TABLE[q + 342, 1])
        lo += hi2
        if hi2 > lo:
            hi += _ONE
    upper = int(hi >> _U(63))
    shift = _U(upper + 9)
    mant = hi >> shift
    power2 = (((152170 + 65536) * q) >> 16) + 63 + upper - lz + 1023
    if power2 <= 0:  # subnormal
        if -power2 + 1 >= 64:
            return _U(0)
        mant >>= _U(-power2 + 1)
        mant += mant & _ONE
        mant >>= _ONE
        return mant if mant < _M52 else _M52 | (mant & (_M52 - _ONE))
    if lo <= _ONE and -4 <= q <= 23 and (mant & _U(3)) == _ONE and (mant << shift) == hi:
        mant &= ~_ONE  # exactly halfway: round to even
    mant += mant & _ONE
    mant >>= _ONE
    if mant >= (_M52 << _ONE):
        mant = _M52
        power2 += 1
    mant &= ~_M52
    if power2 >= 0x7FF:
        return _INF_BITS
    return (_U(power2) << _U(52)) | mant


def _parse(buf: Any, sep: int, m: int, out: Any, bits: Any, row0: int) -> int:
    """See :func:`parse_rows`; ``buf`` ends with a line feed (it stops every scan below), ``bits`` is ``out`` viewed
    as uint64."""
    n, i, row, col = len(buf), 0, row0, 0
    rows_max = out.shape[0]
    pad = 9 if sep != 9 else 32  # a tab may surround a number unless it is the separator
    while i < n:
        if row >= rows_max:
            return -1
        while buf[i] == 32 or buf[i] == pad:
            i += 1
        neg = buf[i] == 45
        if neg or buf[i] == 43:
            i += 1
        w, digits, q, start = _U(0), 0, 0, i
        while 48 <= buf[i] <= 57:
            w = w * _U(10) + _U(buf[i] - 48)
            digits += w != 0
            i += 1
        seen = i > start
        if buf[i] == 46:
            i += 1
            frac = i
            while 48 <= buf[i] <= 57:
                w = w * _U(10) + _U(buf[i] - 48)
                digits += w != 0
                i += 1
            q = frac - i
            seen = seen or i > frac
        if not seen or digits > 19:
            return -1
        if buf[i] == 101 or buf[i] == 69:
            i += 1
            eneg = buf[i] == 45
            if eneg or buf[i] == 43:
                i += 1
            e, efirst = 0, i
            while 48 <= buf[i] <= 57:
                if e < 100000:
                    e = e * 10 + int(buf[i] - 48)
                i += 1
            if i == efirst:
                return -1
            q += -e if eneg else e
        if w == 0:
            out[row, col] = -0.0 if neg else 0.0
        elif w <= _U(9007199254740992) and -22 <= q <= 22:  # Clinger: one correctly rounded operation
            v = float(w) * _POWERS[q] if q >= 0 else float(w) / _POWERS[-q]
            out[row, col] = -v if neg else v
        else:
            b = _eisel_lemire(w, q)
            bits[row, col] = (b | _SIGN) if neg else b
        while buf[i] == 32 or buf[i] == pad:
            i += 1
        if buf[i] == sep:
            col += 1
            i += 1
            if col >= m:
                return -1
            continue
        if buf[i] == 13:
            i += 1
        if buf[i] != 10 or col != m - 1:
            return -1
        i, col, row = i + 1, 0, row + 1
    return row - row0


def _build() -> Callable[..., int] | None:
    """Compile the kernel (numba caches it on disk); None without numba."""
    global _mul128, _eisel_lemire
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    _TABLE[:] = power_table()
    _mul128 = numba.njit(inline="always", cache=True, nogil=True)(_mul128)
    _eisel_lemire = numba.njit(cache=True, nogil=True)(_eisel_lemire)
    return numba.njit(cache=True, nogil=True)(_parse)


_KERNEL: dict[str, Any] = {}


def parse_rows(buf: bytes, sep: str, out: np.ndarray, row0: int) -> int:
    """Parse whole lines of plain numbers in ``buf`` into ``out[row0:]`` ((n, m) float64, C order); the number of
    rows written, or -1 when ``buf`` holds anything else (``out`` may then be partly written)."""
    if "parse" not in _KERNEL:
        _KERNEL["parse"] = _build()
    kernel = _KERNEL["parse"]
    if kernel is None or len(sep) != 1 or ord(sep) > 127 or sep in "0123456789.+-eE \r\n":
        return -1
    if not buf:
        return 0
    data = np.frombuffer(buf if buf.endswith(b"\n") else buf + b"\n", dtype=np.uint8)
    return int(kernel(data, ord(sep), out.shape[1], out, out.view(np.uint64), row0))


_NOT_SPACE = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")  # numpy strips these around a number; float() does not


def loadtxt_rows(chunk: bytes, sep: str, m: int) -> np.ndarray | None:
    """Whole lines -> (lines, m) float64 by numpy's C reader; None unless every line is a row of m numbers as
    ``float`` reads them."""
    if any(c in chunk for c in _NOT_SPACE):
        return None
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "\r" in text and "\r" in (text := text.replace("\r\n", "\n")):
        return None
    rows = text.count("\n") + (not text.endswith("\n"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            block = np.loadtxt(io.StringIO(text), dtype=np.float64, delimiter=sep, comments=None, quotechar=None,
                               ndmin=2)
    except (ValueError, TypeError):
        return None
    return block if block.shape == (rows, m) else None
