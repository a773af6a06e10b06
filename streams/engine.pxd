# C layout for streams/engine.py when compiled (setup.py): the .py stays the reference
# and runs unchanged when interpreted. Engine.apply's state as struct fields, its ledgers
# called directly; event times, counters and keys stay Python ints.
cimport cython

from streams.dedupe cimport EventIdMemory
from streams.latency cimport DashboardLedger
from streams.queries cimport QueryLedger
from streams.visits cimport VisitLedger


cdef class StudyState:
    cdef public object sla_us, first_seen_us
    cdef public QueryLedger queries
    cdef public VisitLedger visits
    cdef public dict dashboards, pipelines
    cdef public tuple ledgers, staged


cdef class Engine:
    cdef dict __dict__  # attributes beyond these (a subclass's, a test's) as before
    cdef public object config, _retention_us, _max_event_ids, _max_hold_us, _breakdown
    cdef public object _group_key, _latency_bounds, _query_bounds
    cdef public dict studies
    cdef public EventIdMemory event_ids
    cdef public object counters, watermark_us, inputs, _low_us, _inputs_high_us, earliest_us
    cdef public object _seq, _pruned_at_us, _last_entry, _last_entry_seq, last_entry_group
    cdef public bint _ids_deduplicated

    @cython.locals(ids=EventIdMemory, seen=dict, study=StudyState, ledger=DashboardLedger)
    cpdef apply(self, event)
