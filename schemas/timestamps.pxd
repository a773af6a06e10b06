# C types for schemas/timestamps.py when setup.py compiles it (Cython's "augmenting .pxd"):
# the .py stays the reference and runs unchanged without Cython. Only the fast path of a
# contract timestamp is typed: the text as its ASCII buffer (a `const char *`, which
# setup.py's c_string_encoding allows), indexes as Py_ssize_t, the date, clock and
# microseconds as C integers (year 9999 in microseconds fits 64 bits).
# Integer division keeps Python's floor semantics (cdivision is off), so the compiled
# arithmetic equals the interpreted one for the negative years of "0000".
import cython

cdef bint _is_leap(long long year) noexcept

@cython.locals(era=cython.longlong, yoe=cython.longlong, doy=cython.longlong,
               doe=cython.longlong)
cdef long long _days_from_civil(long long year, long long month, long long day) noexcept

@cython.locals(value=cython.int)
cdef int _digit(const char *chars, Py_ssize_t index) noexcept

@cython.locals(tens=cython.int, ones=cython.int)
cdef int _two_digits(const char *chars, Py_ssize_t index) noexcept

@cython.locals(length=Py_ssize_t, index=Py_ssize_t, suffix=Py_ssize_t, century=cython.int,
               years=cython.int, month=cython.int, day=cython.int, hour=cython.int,
               minute=cython.int, second=cython.int, year=cython.int, last=cython.int,
               micros=cython.longlong, scale=cython.longlong, digit=cython.int,
               off_h=cython.int, off_m=cython.int, offset_s=cython.longlong,
               seconds=cython.longlong, sign=cython.int,
               chars="const char *")
cpdef digits_timestamp_us(str text)
