# C layout for streams/windows.py when compiled (setup.py): the .py stays the reference and
# runs unchanged when interpreted. Indexes of window instants are C integers (bounded by the
# length of a list); event times, latencies and counts stay Python ints.
cimport cython

from streams.latency cimport GroupLedger


@cython.locals(n=cython.Py_ssize_t, first=cython.Py_ssize_t, overdue_first=cython.Py_ssize_t,
               breach_at=cython.Py_ssize_t, stop=cython.Py_ssize_t, window=cython.Py_ssize_t,
               count=cython.Py_ssize_t, k=cython.Py_ssize_t, cursor=cython.Py_ssize_t,
               span=cython.Py_ssize_t, group=GroupLedger, entries=dict, published=dict,
               starts=list, latencies=list, breaches=list, pending_diff=list,
               overdue_diff=list, oldest=dict, at_publish=dict, positions=tuple, ranges=list,
               heap=list, out=list)
cpdef _dashboard_windows(groups, bounds, instants, as_of_us, sla_us)
@cython.locals(n=cython.Py_ssize_t, first=cython.Py_ssize_t, overdue_first=cython.Py_ssize_t,
               breach_at=cython.Py_ssize_t)
cpdef tuple _hour_positions(bucket, instants, starts, as_of_us, sla_us)
cpdef tuple _publish_positions(when, instants, starts, as_of_us)
@cython.locals(n=cython.Py_ssize_t, first=cython.Py_ssize_t, stop=cython.Py_ssize_t,
               pending_diff=list, overdue_diff=list, breaches=list)
cpdef _entry_at(entered, published, instants, starts, as_of_us, sla_us, pending_diff,
                overdue_diff, breaches, oldest)
cpdef _note_oldest(dict oldest, span, entered)
@cython.locals(n=cython.Py_ssize_t, buckets=cython.Py_ssize_t, i=cython.Py_ssize_t,
               first=cython.Py_ssize_t, stop=cython.Py_ssize_t, start=cython.Py_ssize_t,
               low=cython.Py_ssize_t, high=cython.Py_ssize_t, bucket=cython.Py_ssize_t,
               k=cython.Py_ssize_t, cursor=cython.Py_ssize_t, diff=list, rows=list,
               intervals=list, changes=list, heap=list, out=list, running=list, row=list,
               changes_row=list, limits=tuple)
cpdef _query_windows(changes_per_query, instants)
