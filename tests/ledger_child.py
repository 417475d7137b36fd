"""One collect run against a ledger, in its own process, optionally killed with SIGKILL at a chosen point.

    python -m tests.ledger_child LEDGER INBOX [--validator V] [--batch N] [--kill KIND:ARG:N] [--hold SECONDS]

KIND is ``place`` (after the N-th archive copy is published, before the ledger
records it), ``fsync`` (at the N-th fsync of a new archive copy), ``sql`` (ARG is
the start of an SQL statement; just before the N-th such statement runs, i.e.
inside its transaction), ``migrate`` (inside the migration's transaction) or ``backup`` (the migration's copy of
the ledger made under its temporary name, before it is moved to its own).
``--hold`` keeps the ledger open that long before starting (lock tests).
Prints one JSON line when the run finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _nth(n: int, fn: Callable[..., Any], before: bool = False) -> Callable[..., Any]:
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == n:
            _die()
        out = fn(*args, **kwargs)
        if not before and calls[0] == n:
            _die()
        return out
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ledger")
    ap.add_argument("inbox")
    ap.add_argument("--validator", default="v1")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--kill", default="")
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--wait", type=float, default=10.0)
    args = ap.parse_args()

    from xltemplate.ledger import Ledger, LedgerError, RunInfo, archive, schema

    from .ledger_helpers import SPEC, finish, validate_pending

    kind, _, rest = args.kill.partition(":")
    arg, _, count = rest.rpartition(":")
    if kind == "place":
        archive._place = _nth(int(count), archive._place)
    elif kind == "fsync":
        archive._fsync = _nth(int(count), archive._fsync, before=True)
    elif kind == "migrate":
        step = schema.MIGRATIONS[-1]
        schema.MIGRATIONS = (*schema.MIGRATIONS[:-1], schema.Migration(step.version, step.what, _nth(1, step.apply)))
    elif kind == "backup":
        schema._usual_mode = _nth(int(count), schema._usual_mode, before=True)

    try:
        ledger = Ledger.open(args.ledger, create=True, wait=args.wait, purpose="ledger_child")
    except LedgerError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}, ensure_ascii=False))
        sys.exit(2)
    print(json.dumps({"opened": os.getpid()}), flush=True)
    time.sleep(args.hold)
    if kind == "sql":
        seen = [0]

        def trace(statement: str) -> None:
            if statement.lstrip().startswith(arg):
                seen[0] += 1
                if seen[0] == int(count):
                    _die()
        ledger.conn.set_trace_callback(trace)
    files = sorted(str(p) for p in Path(args.inbox).rglob("*") if p.is_file())
    run = ledger.begin_run(RunInfo(args.validator, SPEC, inputs=(args.inbox,)))
    intake = ledger.ingest(run, files, batch=args.batch)
    read = validate_pending(ledger, run)
    outcome = finish(ledger, run)
    print(json.dumps({"run": run.id, "seen": len(intake.seen), "new": len(intake.new), "read": read,
                      "decisions": {d.unit_key: d.sha256 for d in outcome.decisions},
                      "interrupted": ledger.interrupted, "recovered": len(ledger.recovered)}))
    ledger.close()


if __name__ == "__main__":
    main()
