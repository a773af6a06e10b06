"""The inputs' progress as routers report it (streams/watermarks.py, docs/design.md
"Retention"): newest times only move forward, a partition nobody reported holds the
horizon back, idle inputs do not."""

from __future__ import annotations

from streams.watermarks import HOLD_US, InputWatermarks


def test_a_newest_time_only_moves_forward_and_none_does_not_erase_it():
    marks = InputWatermarks()
    marks.note([(0, 0, 100, False)], [1])
    marks.note([(0, 0, 50, False)])  # a router that took the partition over knows less
    assert (marks.low(), marks.high()) == (100, 100)
    marks.note([(0, 0, None, False)])
    assert (marks.low(), marks.high()) == (100, 100)
    marks.note([(0, 0, 101, False)])
    assert (marks.low(), marks.high()) == (101, 101)


def test_the_low_watermark_is_the_oldest_busy_input_and_ties_are_that_time():
    marks = InputWatermarks()
    marks.note([(0, 0, 70, False), (0, 1, 70, False), (1, 0, 90, False), (1, 1, 10, True)], [2, 2])
    assert (marks.low(), marks.high()) == (70, 90)
    marks.note([(0, 0, 80, False)])
    assert marks.low() == 70


def test_partitions_only_grow_and_one_not_reported_holds_everything():
    marks = InputWatermarks()
    assert (marks.low(), marks.high()) == (HOLD_US, None)  # nothing reported yet
    marks.note([(0, 0, 100, False)], [2])
    assert marks.low() == HOLD_US  # partition 1 of topic 0 told nothing yet
    marks.note([(0, 1, 120, False)], [1])  # a router that knows fewer partitions
    assert marks.partitions == [2]
    assert marks.low() == 100
    marks.note([], [2, 1])
    assert marks.low() == HOLD_US  # topic 1 now has a partition nobody reported
    marks.note([(1, 0, None, True)])
    assert marks.low() == 100  # idle: it holds nothing back
    marks.note([(0, 0, None, True), (0, 1, None, True)])
    assert (marks.low(), marks.high()) == (None, 120)
    marks.note([], [3, 1])  # topic 0 grew a partition: nobody reported it yet
    assert (marks.partitions, marks.low()) == ([3, 1], HOLD_US)
