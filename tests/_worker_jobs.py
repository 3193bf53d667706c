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
            context.memo("rows", lambda path=path: calls.append(path) or len(context.load(path)))
    return calls


def env_value(context, variable):
    return os.environ.get(variable)


def write_file(context, path):
    with open(path, "w") as handle:
        handle.write("written")
    return path


def swallow_connect(context, port):
    """Connects to a local port and hides the refusal: the call must still fail."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return "hidden"
    return "connected"


def run_program(context):
    import subprocess

    return subprocess.run(["true"], check=False).returncode


def shout(context, megabytes):
    print("x" * (megabytes * 1_000_000))
    return "printed"


def temp_file(context):
    import tempfile

    with tempfile.NamedTemporaryFile("w", delete=False) as handle:
        handle.write("scratch")
    return handle.name


def fit_forest(context):
    """Library code that uses native calls of its own (threadpoolctl) must keep working."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.ensemble import HistGradientBoostingClassifier

    X = np.random.default_rng(0).normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    return float(HistGradientBoostingClassifier(max_iter=10).fit(X, y).score(X, y))


def as_candidate(context, source):
    """Run ``main()`` of ``source`` compiled as candidate code (the guard tells candidate
    frames by their file name)."""
    namespace = {}
    exec(compile(source, "<candidate test.job>", "exec"), namespace)  # noqa: S102
    return namespace["main"]()


def process_facts(context):
    """What a test needs to know about the worker process it runs in."""
    import sys

    with open("/proc/self/environ", "rb") as f:
        initial = f.read().decode(errors="replace")
    return {"pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
            "cwd": os.getcwd(), "initial_env": initial, "env": dict(os.environ),
            "path0": sys.path[0]}


def sleep_and_pid(context, seconds):
    time.sleep(seconds)
    return {"pid": os.getpid()}


def thread_pools(context):
    """The threads each numeric library (OpenMP, OpenBLAS) would use: {library: threads}."""
    from threadpoolctl import threadpool_info

    return {info["internal_api"]: info["num_threads"] for info in threadpool_info()}


def note_pid(context, folder):
    """Leave a file named after this worker's pid in ``folder`` (inside the scratch)."""
    with open(os.path.join(folder, str(os.getpid())), "w") as f:
        f.write("warmed")
