# C layout for streams/stages.py when compiled (setup.py): the .py stays the reference and
# runs unchanged when interpreted. The per-entry steps of ``observe`` are direct C calls.
cimport cython

from streams.latency cimport GroupLedger


cdef class Pipeline:
    cdef public object stages
    cdef public dict index
    cdef public list ledgers

    cpdef list completed_in(self, bucket)


cpdef list completions_of(completed, key)
@cython.locals(durations=list)
cpdef list stage_durations(entered_us, published_us, completions, as_of_us)
@cython.locals(waiting=cython.Py_ssize_t, i=cython.Py_ssize_t)
cpdef waiting_stage(completions, as_of_us)
@cython.locals(best=cython.Py_ssize_t, i=cython.Py_ssize_t)
cpdef charged_stage(durations)
@cython.locals(pipeline=Pipeline, group=GroupLedger, entries=dict, published=dict,
               completed=list, durations=list, pending=list, parts=list, completions=list)
cpdef observe(ledger, pipeline, sla_us, as_of_us)
