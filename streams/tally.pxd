# C layout for streams/tally.py when compiled (setup.py): the .py stays the reference
# and runs unchanged when interpreted. Counts and sums stay Python ints (no overflow).
cdef class Tally:
    cdef public object bounds_us
    cdef public list bucket_counts
    cdef public object count, sum_us, within_sla, corrected_us, withdrawn, breaches_withdrawn

    cpdef add(self, value_us, within_sla=*)
    cpdef lower(self, old_us, new_us, was_within, is_within)
