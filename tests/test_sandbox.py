"""The worker pool: calls, questions back, limits, and recovery from dead workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from text2ml_jupyter.errors import CandidateError
from text2ml_jupyter.sandbox import Limits, WorkerFailure, WorkerPool

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), saved or ""])
    try:
        with WorkerPool(1, tmp_path_factory.mktemp("scratch"), Limits(memory_mb=2048)) as pool:
            yield pool
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = saved


def call(pool, name, timeout=30, **kwargs):
    return pool.call(f"_worker_jobs:{name}", kwargs, deadline=time.monotonic() + timeout,
                     on_ask=lambda q: f"answer to {q}" if q != "invalid" else 1 / 0)


def test_call_returns_value_and_runs_in_another_process(pool):
    assert call(pool, "echo", value={"a": [1, 2]}) == {"a": [1, 2]}
    threads, pid = call(pool, "thread_env")
    assert pid != os.getpid()
    assert threads == "1"  # numeric libraries single-threaded: parallelism is across workers
    assert set(call(pool, "thread_pools").values()) == {1}


def test_a_worker_given_threads_runs_its_numeric_libraries_on_them(tmp_path, monkeypatch):
    """One worker with a thread per core (large data, ``engine.default_workers``): forked
    from a server whose thread pools started with one thread, it still gets its threads."""
    monkeypatch.setenv("PYTHONPATH",
                       os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    with WorkerPool(1, tmp_path, Limits(memory_mb=2048, threads=2)) as two:
        assert call(two, "thread_env")[0] == "2"
        pools = call(two, "thread_pools")
    assert "openmp" in pools and set(pools.values()) == {2}


def test_questions_are_answered_by_the_caller(pool):
    assert call(pool, "ask_twice") == ["answer to first", "answer to second"]


def test_a_failing_answer_becomes_a_candidate_error(pool):
    with pytest.raises(CandidateError, match="ZeroDivisionError"):
        call(pool, "ask_invalid")


def test_exceptions_become_short_reasons(pool):
    with pytest.raises(CandidateError, match=r"^ValueError: bad things$"):
        call(pool, "raise_value_error")
    with pytest.raises(CandidateError, match=r"called sys.exit\(2\)"):
        call(pool, "system_exit")
    assert call(pool, "echo", value=1) == 1  # the worker survived both


def test_timeout_kills_and_replaces_the_worker(pool):
    started, before = time.monotonic(), pool.replaced
    with pytest.raises(WorkerFailure, match="time limit") as info:
        call(pool, "sleep", timeout=1, seconds=30)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 5
    assert pool.replaced == before + 1  # replaced at once, not on the next call
    assert call(pool, "echo", value="alive") == "alive"
    assert pool.replaced == before + 1


def test_after_a_stop_the_worker_is_replaced_only_when_needed(pool):
    before = pool.replaced
    with pytest.raises(WorkerFailure):
        pool.call("_worker_jobs:sleep", {"seconds": 30}, deadline=time.monotonic() + 30,
                  should_stop=lambda: True)
    assert pool.replaced == before
    assert call(pool, "echo", value="again") == "again"
    assert pool.replaced == before + 1


def test_close_returns_at_once_and_workers_exit(tmp_path):
    pool = WorkerPool(2, tmp_path)
    pool.warm()
    processes = [w.process for w in pool._workers]
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 1
    for process in processes:
        assert process.wait(timeout=10) is not None


def test_the_pool_starts_without_waiting_for_the_fork_server(monkeypatch, tmp_path):
    """WorkerPool() returns at once and its workers are forked on first use, so the
    caller's work before the first test (reading the task, an LLM's reading of it)
    overlaps the fork server's imports in a fresh process instead of waiting for them."""
    import threading

    from text2ml_jupyter import _forkserver

    server_ready = threading.Event()
    real_get_server = _forkserver.get_server

    def get_server_once_ready():
        server_ready.wait()  # a fork server still importing its libraries
        return real_get_server()

    monkeypatch.setenv("PYTHONPATH", str(HERE))
    monkeypatch.setattr(_forkserver, "get_server", get_server_once_ready)
    built = []
    constructor = threading.Thread(
        target=lambda: built.append(WorkerPool(2, tmp_path / "scratch")), daemon=True)
    constructor.start()
    constructor.join(timeout=30)
    server_ready.set()  # frees the constructor too, if it was waiting
    assert built, "WorkerPool() waited for the fork server"
    with built[0] as pool:
        assert pool._workers == [None, None]  # nothing forked yet
        assert call(pool, "echo", value=3) == 3
        pool.warm()
        assert all(w is not None and w.alive for w in pool._workers)


@pytest.mark.parametrize("job, reason", [("exit_hard", "exit code 3"),
                                         ("segfault", "signal SIGSEGV")])
def test_a_dying_worker_is_reported_and_replaced(pool, job, reason):
    with pytest.raises(WorkerFailure, match=reason) as info:
        call(pool, job)
    assert info.value.kind == "crash"
    assert call(pool, "echo", value=2) == 2


_FORGED_MESSAGE = """
import os, pickle, stat, struct

class Payload:
    def __reduce__(self):
        return (open, ({marker!r}, "w"))

def main():
    body = pickle.dumps(("result", Payload()))
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack("!i", len(body)) + body)
        except OSError:
            pass
    return "plain"
"""


def test_candidate_code_cannot_send_the_caller_a_pickle_that_runs(pool, tmp_path):
    """Candidate code can write its own bytes to the worker's end of the connection; the
    caller reads only plain values from it, so a forged pickle calls nothing there."""
    marker = tmp_path / "ran-in-the-caller"
    with pytest.raises(WorkerFailure, match="something other than plain values") as info:
        call(pool, "as_candidate", source=_FORGED_MESSAGE.format(marker=str(marker)))
    assert info.value.kind == "crash"
    assert not marker.exists()
    assert call(pool, "echo", value=[1.5, "x", b"y", {"n": None}]) == [1.5, "x", b"y",
                                                                      {"n": None}]
    import numpy as np

    array = call(pool, "echo", value=np.arange(4.0))
    assert isinstance(array, np.ndarray) and array.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_memory_limit(pool):
    with pytest.raises(CandidateError, match="memory limit"):
        call(pool, "allocate", gib=4)
    assert call(pool, "echo", value=3) == 3


def test_stop_request_ends_a_call(pool):
    stop_at = time.monotonic() + 0.5
    with pytest.raises(WorkerFailure) as info:
        pool.call("_worker_jobs:sleep", {"seconds": 30}, deadline=time.monotonic() + 30,
                  should_stop=lambda: time.monotonic() > stop_at)
    assert info.value.kind == "stopped"


def test_time_limit_starts_after_a_replacement_worker_is_ready(pool, tmp_path, monkeypatch):
    # the replacement interpreter takes 1.5 s to start (sitecustomize runs at start-up)
    (tmp_path / "sitecustomize.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]]))
    with pytest.raises(WorkerFailure):
        call(pool, "exit_hard")  # replaced at once, by a slow starter
    monkeypatch.undo()
    # a 1 s limit would not cover the start-up; it counts from readiness instead
    assert pool.call("_worker_jobs:echo", {"value": 5}, deadline=time.monotonic() + 60,
                     time_limit=1.0) == 5
    with pytest.raises(WorkerFailure, match="time limit"):  # and it still limits the call
        pool.call("_worker_jobs:sleep", {"seconds": 30}, deadline=time.monotonic() + 60,
                  time_limit=1.0)


def test_memo_is_made_once_per_dataset(pool, tmp_path):
    import pandas as pd

    first, second = tmp_path / "a.pkl", tmp_path / "b.pkl"
    pd.DataFrame({"x": [1, 2]}).to_pickle(first)
    pd.DataFrame({"x": [1, 2, 3]}).to_pickle(second)
    made = call(pool, "memo_counts", paths=[str(first), str(second)])
    assert made == [str(first), str(second)]  # once each; dropped when the data changed


def test_workers_never_see_secrets_from_the_environment(tmp_path, monkeypatch):
    """Candidate code is untrusted: an API key in the caller's environment must not be
    readable by it (it could print it into a test error, or send it away)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-secret")
    monkeypatch.setenv("TEXT2ML_HARMLESS", "visible")
    monkeypatch.setenv("PYTHONPATH",
                       os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    with WorkerPool(1, tmp_path, Limits(memory_mb=2048)) as own:
        assert call(own, "env_value", variable="TEXT2ML_HARMLESS") == "visible"
        assert call(own, "env_value", variable="OPENAI_API_KEY") is None
        assert call(own, "env_value", variable="MY_SERVICE_TOKEN") is None


# ------------------------------------------------------------------ the audit hook

def test_writes_outside_the_scratch_folder_are_refused(pool, tmp_path):
    outside = tmp_path / "outside.txt"
    with pytest.raises(CandidateError, match=r"^blocked: tried to write .*outside\.txt'?, "
                                             r"outside the run's scratch folder"):
        call(pool, "write_file", path=str(outside))
    assert not outside.exists()
    # relative paths and temporary files land in the scratch folder, which is allowed
    assert call(pool, "write_file", path="inside.txt") == "inside.txt"
    assert (pool.scratch / "inside.txt").read_text() == "written"
    assert Path(call(pool, "temp_file")).parent == pool.scratch / "tmp"


def test_a_refusal_the_code_caught_still_fails_the_call(pool):
    import socket

    with socket.socket() as server:  # a real listener: only the hook stands in the way
        server.bind(("127.0.0.1", 0))
        server.listen()
        with pytest.raises(CandidateError, match=r"^blocked: tried to use the network"):
            call(pool, "swallow_connect", port=server.getsockname()[1])


def test_programs_are_refused(pool):
    with pytest.raises(CandidateError, match=r"^blocked: tried to start a program "
                                             r"\(subprocess\.Popen"):
        call(pool, "run_program")


def test_printing_without_end_is_cut_off(pool):
    before = (pool.scratch / "worker-0.log").stat().st_size
    with pytest.raises(CandidateError, match="printed more than 1 MB"):
        call(pool, "shout", megabytes=100)
    assert (pool.scratch / "worker-0.log").stat().st_size - before < 2_000_000
    assert call(pool, "shout", megabytes=0) == "printed"  # a fresh allowance per call


def test_libraries_native_calls_still_work(pool):
    """threadpoolctl (KMeans) and OpenMP models call native code through ctypes; only
    candidate code is refused that."""
    assert call(pool, "fit_forest") > 0.9


@pytest.mark.parametrize("source, refused", [
    ("import sys\ndef main():\n    return sys._getframe(1).f_locals\n", "sys._getframe"),
    (("import sys\ndef main():\n    try:\n        raise ValueError\n    except ValueError:\n"
      "        return sys.exc_info()[2].tb_frame.f_back.f_locals\n"), "object.__getattr__"),
    ("import numpy\ndef main():\n    return numpy.ctypeslib.ctypes.string_at(0)\n",
     "ctypes.string_at"),
])
def test_candidate_code_cannot_reach_the_workers_frames_or_native_calls(pool, source, refused):
    """The way to the worker's own state (its frames) and to native memory is closed to
    candidate code; the same calls from library code stay allowed (the pool's own jobs)."""
    with pytest.raises(CandidateError, match=rf"^blocked: tried to .*\({refused}\)"):
        call(pool, "as_candidate", source=source)
    assert call(pool, "as_candidate", source="def main():\n    return 'fine'\n") == "fine"


# ---------------------------------------------------------------- the fork server

def _fresh_server(monkeypatch):
    """Start a new fork server, so it sees the environment the test set up."""
    from text2ml_jupyter import _forkserver

    if _forkserver._server is not None:
        _forkserver._server.close()
    monkeypatch.setattr(_forkserver, "_server", None)
    return _forkserver.get_server()


def test_workers_are_forks_of_the_warm_server(monkeypatch, tmp_path):
    from text2ml_jupyter._forkserver import ForkedProcess
    from text2ml_jupyter.sandbox import hide_from_workers

    monkeypatch.setenv("PYTHONPATH", str(HERE))
    monkeypatch.setenv("TEXT2ML_TEST_API_TOKEN", "sk-not-for-workers")
    monkeypatch.setenv("TEXT2ML_TEST_HIDDEN", "hidden-by-name")
    hide_from_workers("TEXT2ML_TEST_HIDDEN")
    server = _fresh_server(monkeypatch)
    with WorkerPool(2, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        facts = [call(pool, "process_facts") for _ in range(4)]
        workers = [w for w in pool._workers if w is not None]
        assert all(isinstance(w.process, ForkedProcess) for w in workers)
    for fact in facts:
        assert fact["ppid"] == server.process.pid  # forked by the server
        assert fact["sid"] == fact["pid"]  # in its own session: Ctrl-C reaches the caller only
        assert Path(fact["cwd"]) == (tmp_path / "scratch").resolve() == Path(fact["path0"])
        assert fact["env"]["TMPDIR"] == str((tmp_path / "scratch" / "tmp").resolve())
        for secret in ("sk-not-for-workers", "hidden-by-name"):
            # neither in os.environ nor in the environment the process was started with
            assert secret not in str(fact["env"]) and secret not in fact["initial_env"]


def test_a_dead_fork_server_is_replaced_and_its_workers_still_report(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    server = _fresh_server(monkeypatch)
    with WorkerPool(1, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        assert call(pool, "echo", value=1) == 1
        server.process.kill()
        server.process.wait(timeout=10)
        # the running worker is independent of the server: it still answers
        assert call(pool, "echo", value=2) == 2
        # its death is still reported as a crash (the server can no longer say how)
        with pytest.raises(WorkerFailure, match="crashed|ended") as info:
            call(pool, "exit_hard")
        assert info.value.kind == "crash"
        # the replacement comes from a new server
        facts = call(pool, "process_facts")
    from text2ml_jupyter import _forkserver

    assert _forkserver._server is not server and not _forkserver._server.dead
    assert facts["ppid"] == _forkserver._server.process.pid


def test_the_fork_server_exits_with_its_caller(tmp_path):
    import subprocess
    import sys

    script = ("import sys; from pathlib import Path\n"
              "from text2ml_jupyter.sandbox import WorkerPool\n"
              "from text2ml_jupyter import _forkserver\n"
              "pool = WorkerPool(1, Path(sys.argv[1]))\n"
              "pool.warm()\n"
              "print(_forkserver._server.process.pid, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    server_pid = int(done.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(server_pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{server_pid}/stat") as f:
            if f.read().split()[2] == "Z":
                break  # exited; a zombie until its parent (gone) is reaped
        time.sleep(0.1)
    else:
        pytest.fail("the fork server outlived its caller")


def test_warm_runs_an_exercise_on_every_worker_and_survives_its_failure(monkeypatch, tmp_path):
    """warm(exercise=...) runs the call once on each worker (testing.warm_up pays the
    first-use costs there before anything is timed); a failing exercise replaces no one."""
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    with WorkerPool(2, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        marks = pool.scratch / "marks"
        marks.mkdir(parents=True)
        pool.warm(exercise=("_worker_jobs:note_pid", {"folder": str(marks)}))
        pids = {worker.process.pid for worker in pool._workers}
        assert {int(mark.name) for mark in marks.iterdir()} == pids and len(pids) == 2
        pool.warm(exercise=("_worker_jobs:raise_value_error", {}))
        assert {worker.process.pid for worker in pool._workers} == pids
        assert pool.replaced == 0 and call(pool, "echo", value=1) == 1


def test_retired_workers_exit_and_come_back_when_needed(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    with WorkerPool(2, tmp_path / "scratch", Limits(memory_mb=2048)) as pool:
        pool.warm()
        first = [w.process.pid for w in pool._workers]
        pool.retire_idle(keep=1)
        assert pool._workers[1] is None and pool._workers[0].process.pid == first[0]
        # the kept worker serves the next call; a second one at once gets a new worker
        assert call(pool, "process_facts")["pid"] == first[0]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(first[1], 0)
                with open(f"/proc/{first[1]}/stat") as f:
                    if f.read().split()[2] == "Z":
                        break
            except (ProcessLookupError, FileNotFoundError):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the retired worker did not exit")
        pids = set()
        import threading

        threads = [threading.Thread(target=lambda: pids.add(
            call(pool, "sleep_and_pid", seconds=0.5)["pid"])) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert first[0] in pids and len(pids) == 2 and first[1] not in pids
        assert pool.replaced == 0  # retiring is not a failure
