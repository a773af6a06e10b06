# C layout for streams/visits.py when compiled (setup.py): the .py stays the reference and
# runs unchanged when interpreted. VisitGroup stays a Python class (its _FiledFirst
# descriptors need __set_name__, which a C type's creation does not call).
cdef class VisitLedger:
    cdef public object bounds_us, medium_us, high_us, without_visit_date, before_visit
    cdef public dict groups, before_hours
    cdef public object before_heap

    cpdef add(self, key, visit_date, entered_us)
