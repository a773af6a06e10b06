# C layout for streams/latency.py when compiled (setup.py): the .py stays the reference
# and runs unchanged when interpreted. Attributes become struct fields and the per-event
# methods direct C calls; every number stays a Python int (entry keys are 128-bit).
cimport cython

from streams.tally cimport Tally


cdef class GroupLedger:
    cdef public object key, index, sla_us, latest_published, published_heap, pending_heap
    cdef public dict pending, published, published_records, max_published
    cdef public Tally tally

    cpdef _record_published(self, key, record_id, published_us)
    cpdef lower_published(self, key, published_us)
    # count, within, withdrawn: keys of this one call, so a C count cannot overflow.
    @cython.locals(pending=dict, published_buckets=dict, records_by_bucket=dict,
                   max_published=dict, tally=Tally, entries=dict, published=dict, records=list,
                   counts=list, count=cython.Py_ssize_t, within=cython.Py_ssize_t,
                   withdrawn=cython.Py_ssize_t)
    cpdef publish_keys(self, keys, published_us, due_before)
    @cython.locals(pending=dict, tally=Tally, entries=dict, covered=dict, published=dict,
                   counts=list, count=cython.Py_ssize_t, within=cython.Py_ssize_t,
                   withdrawn=cython.Py_ssize_t)
    cpdef cover_up_to(self, cutoff_us, published_us, due_before)


cdef class DashboardLedger:
    cdef public object sla_us, bounds_us, last_published_us, first_entered_us
    cdef public object publish_history_cap, freshness, publish_hours, publish_hour_heap
    cdef public dict groups, by_record, record_publishes
    cdef public list group_list, snapshot_cutoffs, snapshot_times, publish_times

    cpdef note_publish(self, published_us)
    cpdef GroupLedger group(self, key)
    @cython.locals(group=GroupLedger, by_record=dict, cutoffs=list, pending=dict)
    cpdef add_entry(self, record_id, entered_us, seq, group_key)
    @cython.locals(cutoffs=list, times=list, group=GroupLedger)
    cpdef apply_snapshot(self, cutoff_us, published_us, clock_us)
    @cython.locals(record_publishes=dict, by_record=dict, keys=list, groups=list,
                   by_group=dict)
    cpdef apply_records(self, record_ids, published_us, clock_us)


@cython.locals(group=GroupLedger, published=dict, waiting=dict)
cpdef publish_times_by_arrival(ledger, times, pending)
