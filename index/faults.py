"""Fault injection for tests: stop or fail the index writer at a named stage.

Off unless `NEWSQA_FAULT` (the `fault` setting) is given, as `ACTION@STAGE` or
`ACTION@STAGE#N` (the Nth time the stage is reached, for stages that repeat):

- `stop`: the writer sends itself SIGSTOP, so a test can see it stand still at
  exactly that point and kill it there with a real SIGKILL;
- `kill`: the writer sends itself SIGKILL;
- `enospc`: writing fails there as on a full disk (OSError ENOSPC).

The stages are `IndexWriter.STAGES`.
"""

import errno
import os
import signal
import sys
from collections.abc import Callable

ACTIONS = ("stop", "kill", "enospc")


def parse(spec: str) -> tuple[str, str, int]:
    """(action, stage, occurrence) of a fault spec; ValueError names what is wrong."""
    action, sep, rest = spec.partition("@")
    stage, _, nth = rest.partition("#")
    if not sep or action not in ACTIONS or not stage:
        raise ValueError(f"fault {spec!r}: expected ACTION@STAGE[#N] with ACTION one of {', '.join(ACTIONS)}")
    if nth and not (nth.isdigit() and int(nth) > 0):
        raise ValueError(f"fault {spec!r}: N must be a positive whole number")
    return action, stage, int(nth or 1)


def stage_hook(spec: str | None, stages: tuple[str, ...]) -> Callable[[str], None] | None:
    """The writer's `on_stage` callback that acts out `spec`, or None when there is no fault."""
    if not spec:
        return None
    action, target, occurrence = parse(spec)
    if target not in stages:
        raise ValueError(f"fault {spec!r}: unknown stage {target!r}; stages: {', '.join(stages)}")
    seen = 0

    def hook(stage: str) -> None:
        nonlocal seen
        if stage != target:
            return
        seen += 1
        if seen != occurrence:
            return
        sys.stderr.write(f"newsqa: fault {spec} reached (pid {os.getpid()})\n")
        sys.stderr.flush()
        if action == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        elif action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"(fault {spec})")

    return hook
