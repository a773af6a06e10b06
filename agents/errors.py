"""Every failure the project names, one kind per exit status: the table of README.md.

``EdcLatencyError`` is the root. Each kind below carries its exit status, a short
name and the one-line meaning the README's "Exit statuses" table shows (a test
keeps the two equal). A module raises one of these kinds, or a subclass kept beside
the code that raises it (``UndecodableBatch`` in agents/kafka/codecs.py), so a
caller catches the kind it can act on and nothing else. ``agents/cli.py`` is the one
place that turns an error into its status and its line on stderr; a worker that
must stop from inside the Kafka loop exits with its error's status the same way
(``LiveApp.stop_fatally``). ``streams/`` stays free of these: its ``StateError`` is a
``ValueError`` that the agents catch.
"""

from __future__ import annotations

from typing import ClassVar

OK = 0
INTERRUPTED = 130  # the shell's convention for SIGINT: 128 + 2


class EdcLatencyError(Exception):
    """A failure of ours that no kind below describes: a bug, shown with its traceback."""

    exit_status: ClassVar[int] = 1
    kind: ClassVar[str] = "unexpected error"
    meaning: ClassVar[str] = (
        "a failure nobody named (a bug, or a process killed under us): the traceback says where"
    )

    def one_line(self) -> str:
        """The message on one line: a message of several lines is joined, each problem kept."""
        parts = [part.strip() for part in str(self).splitlines() if part.strip()]
        text = parts[0] if parts else self.kind
        for part in parts[1:]:
            text += (" " if text.endswith(":") else "; ") + part
        return text

    def line(self) -> str:
        """``<kind>: <message>``, what the command prints and the worker logs."""
        return f"{self.kind}: {self.one_line()}"


class ConfigurationError(EdcLatencyError):
    """Configuration that cannot work; the message lists each problem on its own line."""

    exit_status = 2  # argparse's own status for bad arguments: the same meaning
    kind = "configuration"
    meaning = (
        "bad arguments or settings, a file they name that cannot be read, "
        "or TLS or SASL settings the brokers refuse"
    )


class UndecodableInput(EdcLatencyError):
    """Input that no reader can decode: it needs an operator, not a retry."""

    exit_status = 3
    kind = "input not decodable"
    meaning = (
        "a Kafka record batch that no codec decodes (unknown codec, corrupt data, bad CRC); "
        "nothing is committed past it"
    )


class NotCovered(EdcLatencyError):
    """The input lacks part of what was asked; what was written stays, with its caveats."""

    exit_status = 4
    kind = "not covered"
    meaning = (
        "the input does not cover what was asked: `replay --require-complete` with the audited "
        "period not covered, or `export --previous` with offsets gone; the output is written"
    )


class BrokerUnreachable(EdcLatencyError):
    """The brokers did not answer as configured (the worker waits ``startup_timeout``)."""

    exit_status = 5
    kind = "broker unreachable"
    meaning = (
        "the brokers did not answer (the worker waits `startup_timeout`; a TLS or SASL "
        "mismatch with the listener looks the same), or the demo's embedded broker did not start"
    )


class VerificationFailed(EdcLatencyError):
    """A chain of exports that does not hold: each problem was printed on its own line."""

    exit_status = 6
    kind = "verification failed"
    meaning = (
        "`verify`: a digest, a link or the offsets of a chain of exports do not hold "
        "(one line per problem)"
    )


class ShardsNotRestored(EdcLatencyError):
    """A worker could not restore the shards it was given, after every retry."""

    exit_status = 7
    kind = "shards not restored"
    meaning = "the worker could not restore the shards it was given, after every retry, and stopped"


class StopNotFinished(EdcLatencyError):
    """A worker's stop that could not finish in time; it left without a clean leave."""

    exit_status = 8
    kind = "stop not finished"
    meaning = (
        "the worker's stop did not finish within 0.8 × `session_timeout` (broker unreachable?); "
        "it exited without leaving its group"
    )


KINDS: tuple[type[EdcLatencyError], ...] = (
    EdcLatencyError,
    ConfigurationError,
    UndecodableInput,
    NotCovered,
    BrokerUnreachable,
    VerificationFailed,
    ShardsNotRestored,
    StopNotFinished,
)


def exit_statuses() -> list[tuple[int, str, str]]:
    """(status, kind, meaning) for every status a command can end with, in order."""
    return [
        (OK, "ok", "the command did what was asked"),
        *((kind.exit_status, kind.kind, kind.meaning) for kind in KINDS),
        (
            INTERRUPTED,
            "interrupted",
            "Ctrl-C stopped `replay`, `export`, `verify` or `simulate` before it finished "
            "(the worker and the demo stop cleanly, with 0)",
        ),
    ]
