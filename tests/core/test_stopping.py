"""A stopped `dvc` stops its stage: `python -m pipeline` under a stand-in for DVC (a parent that
runs `$SHELL -c <cmd>` with DVC_STAGE set, as dvc/stage/run.py does) ends within seconds of
that parent's SIGTERM, with one line and no traceback, whether the shell execs the command or
waits for it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.__main__ import main
from pipeline.core import stopping

from ..conftest import ROOT

# The stage: `python -m pipeline schema` whose work is a long sleep (a stand-in module, so the
# child imports little); it says when it is running.
CHILD = """
import os, runpy, sys, time, types
fake = types.ModuleType("pipeline.stages.schema")
def schema_command(*args):
    print(os.getpid(), flush=True)
    time.sleep(60)
fake.schema_command = schema_command
sys.modules["pipeline.stages.schema"] = fake
sys.argv = ["pipeline", "schema"]
runpy.run_module("pipeline", run_name="__main__")
"""
# DVC's part: the stage under the shell, DVC_STAGE in the stage's environment only.
DVC = (
    "import os, subprocess, sys; "
    "subprocess.run(['/bin/sh', '-c', sys.argv[1]], env={**os.environ, 'DVC_STAGE': 'train'})"
)


@pytest.mark.skipif(sys.platform != "linux", reason="/proc and a POSIX shell")
def test_a_stage_stops_when_the_dvc_running_it_is_terminated(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != stopping.DVC_ENV}
    env["PYTHONPATH"] = str(ROOT)
    stage = f"{sys.executable} {child}"
    runs = {  # bash execs a lone command (dash does not); a shell waits for a list
        "exec": f"exec {stage}",
        "waits": f"{stage}; echo status $? >&2",
    }
    dvcs = {
        name: subprocess.Popen(
            [sys.executable, "-c", DVC, cmd],
            cwd=ROOT,  # params.yaml
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, cmd in runs.items()
    }
    stages = [int(dvc.stdout.readline()) for dvc in dvcs.values()]  # running
    try:
        began = time.monotonic()
        for dvc in dvcs.values():
            dvc.send_signal(signal.SIGTERM)
        for name, dvc in dvcs.items():
            # the pipes reach their end once every process holding them (the stage too) is gone
            _, err = dvc.communicate(timeout=10)
            assert dvc.returncode == -signal.SIGTERM
            assert "error: schema: stopped by SIGTERM, as the dvc that ran it has stopped" in err
            assert "Traceback" not in err, f"{name}: {err}"
        assert "status 143" in err  # the shell that waited saw the stage's status
        assert time.monotonic() - began < 2 + 2 * stopping.WATCH_SECONDS
    finally:
        for pid in stages:  # none is left, unless this failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_a_command_as_ctrl_c_does(monkeypatch, capsys):
    def interrupted(*args):
        raise stopping.Stopped(signal.SIGTERM)

    monkeypatch.setattr("pipeline.stages.schema.schema_command", interrupted)
    assert main(["schema"]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == (
        "error: schema: stopped by SIGTERM; no output is left half-written\n"
    )
