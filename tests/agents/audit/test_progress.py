"""The replay's progress bar: on stderr when enabled, nothing at all otherwise."""

from __future__ import annotations

from agents.audit.replay.progress import Progress


def test_the_bar_shows_bytes_read_of_the_file_and_the_lines_on_stderr(capsys):
    import threading

    before = set(threading.enumerate())  # another test's may still be ending: not the bar's
    progress = Progress(1000, enabled=True)
    progress.show(10, 500)
    # No thread of its own (tqdm's monitor): the replay forks after this.
    assert not set(threading.enumerate()) - before
    progress.done(20, 1000)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "100%" in captured.err and "20 lines" in captured.err


def test_reading_topics_counts_lines(capsys):
    progress = Progress(0, enabled=True)
    progress.done(1234, 0)
    assert "1234" in capsys.readouterr().err.replace(",", "")


def test_a_disabled_bar_writes_nothing_but_remembers_the_bytes_read(capsys):
    progress = Progress(1000, enabled=False)
    progress.show(10, 500)
    progress.done(20, 1000)
    assert progress.read == 1000
    assert capsys.readouterr() == ("", "")
