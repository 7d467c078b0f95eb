"""ansible-playbook runs without paying Python's start and Ansible's imports every time.

A server process imports ansible-playbook's code once (about 0.8 s of CPU, a third of a bad-input
case refused at the check stage), then forks a child per request; the child runs exactly what the
`ansible-playbook` script runs (`ansible.cli.playbook.main(argv)`) with the request's arguments,
working directory and stdout/stderr files, and its exit code is the run's. Nothing else differs
from a fresh `ansible-playbook` process: the configuration comes from the same environment (the
server is started with the environment every run gets), inventories, playbook, plugins and
collections are loaded by the child as the CLI always loads them, and output goes to the same
callbacks. Used by tests/lab/test_bad_inputs.py for its 142 refused runs.

Server: `python playbook_forkserver.py` reads one JSON request per line on stdin
({"argv": [...], "cwd": DIR, "out": FILE, "err": FILE, "timeout": S}) and answers one JSON line
{"rc": N, "seconds": S} per request, one request at a time. Client: `ForkServer(env)`.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time


def _child(req):
    rc = 250
    try:
        os.setsid()  # its own process group: a timeout kills the run and every worker it forked
        os.chdir(req['cwd'])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(req['out'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(req['err'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.argv = list(req['argv'])
        from ansible.cli.playbook import main

        try:
            main(list(req['argv']))
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # reported on the run's stderr, never lost
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(rc)


def serve():
    # what every run imports first (the `ansible-playbook` script's own imports and the executor)
    import ansible.cli.playbook
    import ansible.executor.playbook_executor
    import ansible.executor.task_executor
    import ansible.plugins.callback.default
    import ansible.plugins.strategy.linear  # noqa: F401

    requests = sys.stdin
    answers = sys.stdout
    for line in requests:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(req)
        deadline = t0 + float(req.get('timeout', 600))
        status = None
        while status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = st
            elif time.monotonic() > deadline:
                os.killpg(pid, signal.SIGKILL)
                status = os.waitpid(pid, 0)[1]
            else:
                time.sleep(0.02)
        rc = os.waitstatus_to_exitcode(status)
        answers.write(json.dumps({'rc': rc, 'seconds': time.monotonic() - t0}) + '\n')
        answers.flush()


class ForkServer:
    """One server process; run() is one ansible-playbook run (callers serialise their own use)."""

    def __init__(self, env):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )

    def run(self, argv, cwd, out, err, timeout=600):
        """Like subprocess.run(argv, cwd=cwd) with stdout/stderr into the files OUT and ERR: its rc."""
        self.proc.stdin.write(json.dumps({'argv': argv, 'cwd': cwd, 'out': out, 'err': err,
                                          'timeout': timeout}) + '\n')
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f'the ansible-playbook fork server ended (rc={self.proc.poll()})')
        return json.loads(line)['rc']

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == '__main__':
    serve()
