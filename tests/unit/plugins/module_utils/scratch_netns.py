"""Run a command in a network namespace of its own (and a private mount namespace), then end
whatever it left there (wireguard-go daemonizes) by pid and delete the namespace."""
import contextlib
import os
import secrets
import shutil
import signal
import subprocess

import pytest


def require(*tools):
    """Skip unless root, the tools and /dev/net/tun are there."""
    if os.geteuid() != 0:
        pytest.skip('needs root (network and mount namespaces)')
    for tool in ('ip', 'unshare', 'mount', *tools):
        if shutil.which(tool) is None:
            pytest.skip(f'{tool} is not installed')
    if not os.path.exists('/dev/net/tun'):
        pytest.skip('no /dev/net/tun')


def run(argv, timeout):
    """argv inside a fresh namespace; returns (returncode, stdout bytes, stderr bytes)."""
    netns = 'wgt' + secrets.token_hex(4)
    subprocess.run(['ip', 'netns', 'add', netns], check=True)
    proc = None
    try:
        proc = subprocess.Popen(['ip', 'netns', 'exec', netns, 'unshare', '--mount', '--propagation',
                                 'private', *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        # anything left in our namespace was started by this test: end it by pid
        pids = subprocess.run(['ip', 'netns', 'pids', netns], capture_output=True, text=True,
                              check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(['ip', 'netns', 'del', netns], check=False)
