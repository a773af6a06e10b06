# C layout for streams/dedupe.py when compiled (setup.py): the .py stays the reference.
cdef class EventIdMemory:
    cdef public dict seen
    cdef public dict by_hour
    cdef public object hour, hour_heap
    cdef public list hour_ids

    cpdef remember(self, event_id, time_us)
