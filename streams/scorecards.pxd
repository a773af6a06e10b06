# C layout for streams/scorecards.py when compiled (setup.py): the .py stays the reference
# and runs unchanged when interpreted. The group's dicts are read as struct fields.
cimport cython

from streams.latency cimport GroupLedger


@cython.locals(group=GroupLedger, latencies=list, waiting=list, entries=dict, published=dict,
               within=cython.Py_ssize_t)
cpdef tuple _entries_as_of(group, as_of_us, sla_us)
