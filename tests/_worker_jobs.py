"""Functions the sandbox tests run inside worker processes."""

import os
import time


def echo(context, value):
    return value


def sleep(context, seconds):
    time.sleep(seconds)
    return "slept"


def exit_hard(context):
    os._exit(3)


def segfault(context):
    import ctypes

    ctypes.string_at(0)


def allocate(context, gib):
    return len(bytearray(gib * 2**30))


def raise_value_error(context):
    raise ValueError("bad things\nsecond line")


def system_exit(context):
    raise SystemExit(2)


def ask_twice(context):
    return [context.ask("first"), context.ask("second")]


def ask_invalid(context):
    return context.ask("invalid")


def thread_env(context):
    return os.environ.get("OMP_NUM_THREADS"), os.getpid()


def memo_counts(context, paths):
    """How often the memo's factory ran while loading each path in turn, twice."""
    calls = []
    for path in paths:
        for _ in range(2):
            context.load(path)
            context.memo("rows", lambda: calls.append(path) or len(context.load(path)))
    return calls


def env_value(context, variable):
    return os.environ.get(variable)
