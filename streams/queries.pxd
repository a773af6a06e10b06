# C layout for streams/queries.py when compiled (setup.py): the .py stays the reference
# and runs unchanged when interpreted.
cimport cython

from streams.tally cimport Tally


cdef class TrackedQuery:
    cdef public object group_key, last_us, state, opened_us, orphans
    cdef public list events
    cdef public Tally answers, closes


cdef class QueryLedger:
    cdef public object bounds_us, by_last_hour, last_hour_heap
    cdef public dict queries, answer_tallies, close_tallies

    @cython.locals(query=TrackedQuery, events=list)
    cpdef apply(self, query_id, status, occurred_us, seq, group_key)


# Once per query by the replay's windows and scorecards (and each query event out of order).
@cython.locals(answers=list, closes=list, changes=list)
cpdef tuple fold_values(events, as_of_us=*)


# Once per query by the replay's queries.csv.
@cython.locals(state=cython.int)
cpdef tuple latest_cycle(events, as_of_us)
