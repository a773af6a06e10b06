"""The ``edc-latency`` command: one subcommand per job, each defined in its own module.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``
and keeps heavy imports (faust, aiokafka) inside ``run`` so ``--help`` is fast.
A command returns 0 or raises; ``main`` is the one place that turns an error into
its exit status and its line on stderr, ``edc-latency <command>: <kind>: <message>``
(the table: agents/errors.py, README.md "Exit statuses").
"""

from __future__ import annotations

import argparse
import importlib
import sys

from agents.errors import INTERRUPTED, EdcLatencyError
from agents.release import version_text

COMMANDS = {
    "demo": ("agents.demo", "run the live pipeline on an embedded broker with a simulator"),
    "worker": ("agents.live.worker", "run a live worker against the configured Kafka cluster"),
    "replay": (
        "agents.audit.replay.command",
        "recompute figures from a file or the topics into a report",
    ),
    "export": ("agents.audit.export", "copy retained topics into an export file with a manifest"),
    "verify": ("agents.audit.verify", "check a chain of exports: digests, links, missing offsets"),
    "simulate": ("agents.sim.simulate", "write simulated EDC events as JSONL"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edc-latency",
        description="Data latency, backlog and query aging for clinical trials, from EDC to dashboard.",
    )
    parser.add_argument(
        "--version", action="version", version=version_text(),
        help="print the release, the Python and whether the core is compiled (as edc_build_info)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Import only the chosen command's module: the others may pull in heavy packages.
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except EdcLatencyError as error:
        if error.exit_status == EdcLatencyError.exit_status:
            raise  # unexpected: its traceback is what the operator needs to report it
        print(f"edc-latency {args.command}: {error.line()}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
