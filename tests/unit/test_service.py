"""vmha/cmd/service.py: a stop signal ends the process promptly."""

import subprocess
import sys
import textwrap


def _run(code):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)


def test_a_busy_worker_thread_does_not_keep_the_process_alive():
    """A recovery's worker thread (not a daemon) still busy after the stop
    would hold the interpreter at exit: the process exits anyway."""
    done = _run('''
        import os, signal, threading, time
        from vmha.cmd import service
        threading.Thread(target=time.sleep, args=(600,)).start()
        def loop(stop):
            os.kill(os.getpid(), signal.SIGTERM)
            stop.wait()
        raise SystemExit(service.run('test-loop', loop, grace=0.5))
    ''')
    assert done.returncode == 0, done.stderr


def test_a_loop_that_raises_exits_1():
    done = _run('''
        from vmha.cmd import service
        def loop(stop):
            raise RuntimeError('boom')
        raise SystemExit(service.run('test-loop', loop, grace=0.5))
    ''')
    assert done.returncode == 1, done.stderr
