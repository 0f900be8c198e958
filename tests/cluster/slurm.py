"""A one-node Slurm cluster on this machine, for tests that submit real jobs.

:func:`one_node_cluster` starts munged, slurmctld and slurmd as children of the test, each in the foreground
(so that the pid the test holds is the daemon's own), with every file they use under one folder: the munge key,
socket, seed and pid file, ``slurm.conf``, the controller's state, the node's spool, pid files and logs; the
daemons listen on free ports. Clients reach the cluster through ``SLURM_CONF`` in :attr:`Cluster.env`. When the
block ends, even by an exception, the jobs are cancelled, the daemons stopped by their pids, and any process a
job left behind is killed; one left behind after a block that went well fails it.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.processes import alive

__all__ = ["Cluster", "ClusterError", "missing_prerequisites", "one_node_cluster"]

#: the programs a cluster needs: the daemons (Debian installs them in /usr/sbin) and the clients tests call
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
NODE = "vicheck1"
#: a unix socket's path must fit in sockaddr_un (108 bytes with its NUL)
_SOCKET_PATH_MAX = 107
#: job states after which a job never runs again
FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"})


class ClusterError(AssertionError):
    """The cluster did not start or misbehaved; the message ends with the tails of the daemons' logs."""


def _program(name: str) -> str | None:
    # /usr/sbin is not on every PATH, and the daemons live there
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def missing_prerequisites() -> list[str]:
    """Why a cluster cannot start on this machine, one reason each ([] when it can)."""
    why = []
    if os.geteuid() != 0:
        why.append("not root (slurmd starts each job as its user, which only root can do)")
    absent = [name for name in (*DAEMONS, *CLIENTS) if _program(name) is None]
    if absent:
        why.append(f"{', '.join(absent)} not installed (Debian: apt-get install slurm-wlm munge)")
    return why


@dataclass
class Cluster:
    """A running one-node cluster: ``env`` is this process's environment with ``SLURM_CONF`` pointing at it."""

    root: Path
    conf: Path
    env: dict[str, str]
    daemons: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, list[Path]] = field(default_factory=dict)

    def run(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client against this cluster; ``ClusterError`` (with the logs) when it fails."""
        try:
            done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise self.error(f"{' '.join(argv)} did not answer within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise self.error(f"{' '.join(argv)} exited with {done.returncode}: {done.stdout}{done.stderr}")
        return done

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller knows, finished ones included (``MinJobAge`` keeps them), as its fields."""
        out = self.run("scontrol", "--oneliner", "show", "job").stdout
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]

    def wait_for_jobs(self, deadline: float, on_wait: Callable[[], None] | None = None) -> list[dict[str, str]]:
        """Wait until every job has finished, or ``ClusterError`` at ``deadline`` (``time.monotonic``); calls
        ``on_wait`` between polls (to check on work running beside the jobs)."""
        while True:
            jobs = self.jobs()
            if all(job.get("JobState") in FINISHED for job in jobs):
                return jobs
            self.check_alive()
            if time.monotonic() > deadline:
                states = ", ".join(f"{j.get('JobId')}: {j.get('JobState')} ({j.get('Reason')})" for j in jobs)
                raise self.error(f"jobs still not finished at the deadline: {states}")
            if on_wait is not None:
                on_wait()
            time.sleep(1.0)

    def check_alive(self) -> None:
        """``ClusterError`` when a daemon has ended."""
        for name, process in self.daemons.items():
            if process.poll() is not None:
                raise self.error(f"{name} (pid {process.pid}) ended with status {process.returncode}")

    def error(self, message: str, lines: int = 25) -> ClusterError:
        """``message`` followed by the last ``lines`` of each daemon's log."""
        return ClusterError(message + "\n" + self.log_tails(lines))

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for name, paths in self.logs.items():
            for path in paths:
                try:
                    text = path.read_text(errors="replace").splitlines()[-lines:]
                except OSError:
                    continue
                if text:
                    parts.append(f"--- {name}: {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) or "(no daemon wrote a log)"


def _free_port() -> int:
    # on every address, as the daemons bind; the port is free again when the socket closes
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _memory_mib() -> int:
    """What slurmd will find (MemTotal), less a margin: a node configured with more is drained."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.9)
    return 1024


def _config(root: Path, munge_socket: Path) -> str:
    host = socket.gethostname().split(".")[0]  # slurmctld runs only where its SlurmctldHost is the hostname
    cpus = len(os.sched_getaffinity(0))
    true = shutil.which("true") or "/bin/true"
    return f"""# a one-node cluster for tests (tests/cluster/slurm.py): every file under {root}
ClusterName=vicheck
SlurmctldHost={host}(127.0.0.1)
SlurmUser={pwd.getpwuid(os.geteuid()).pw_name}
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
SlurmctldDebug=info
SlurmdDebug=info
MailProg={true}
# no control groups: processes are tracked by parentage and tasks are not bound to CPUs
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# CPUs are the consumable resource: jobs of one CPU each share the node
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# a job whose dependency can no longer be met is cancelled at once instead of pending forever
SchedulerParameters=kill_invalid_depend
ReturnToService=2
# finished jobs stay visible to scontrol while the test reads their states
MinJobAge=3600
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={_memory_mib()} State=UNKNOWN
PartitionName=main Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def _wait(what: str, ready: Callable[[], bool], cluster: Cluster, deadline: float) -> None:
    while not ready():
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise cluster.error(f"the cluster did not start: {what}")
        time.sleep(0.2)


def _connects(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _node_state(cluster: Cluster) -> str:
    done = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--nodes", NODE, "--format", "%T"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@contextmanager
def one_node_cluster(root: Path, *, start_timeout: float = 30.0) -> Iterator[Cluster]:
    """Start a one-node cluster with every file under ``root`` and yield it once its node is idle (see the
    module's docstring); ``ClusterError`` with the daemons' logs when it does not start in ``start_timeout``."""
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(mode=0o755, exist_ok=True)
    munge_socket = root / "munge" / "socket"
    if len(os.fsencode(munge_socket)) > _SOCKET_PATH_MAX:
        raise ClusterError(f"{munge_socket} is too long for a unix socket: start the cluster in a shorter folder")
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)  # munged refuses a key that others can read
    conf = root / "slurm.conf"
    conf.write_text(_config(root, munge_socket))
    # without the settings of any other cluster this process may run under (a CI job inside a Slurm job)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env["SLURM_CONF"] = str(conf)
    cluster = Cluster(root, conf, env)
    deadline = time.monotonic() + start_timeout
    succeeded = False
    try:
        commands = {
            # --force: munged refuses to run as root without it
            "munged": [
                "munged",
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={munge_socket}",
                f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--seed-file={root / 'munge' / 'munged.seed'}",
            ],
            "slurmctld": ["slurmctld", "-D", "-f", str(conf)],
            "slurmd": ["slurmd", "-D", "-f", str(conf), "-N", NODE],
        }
        for name, argv in commands.items():
            stderr = root / f"{name}.stderr"
            cluster.logs[name] = [stderr, *([root / f"{name}.log"] if name != "munged" else [])]
            with stderr.open("wb") as err:
                # a session of its own: a ^C at the terminal reaches the test, which stops the daemon itself
                cluster.daemons[name] = subprocess.Popen(
                    [_program(argv[0]) or argv[0], *argv[1:]],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    start_new_session=True,
                )
            if name == "munged":
                _wait("munged's socket accepts no connection", lambda: _connects(munge_socket), cluster, deadline)
        _wait(f"node {NODE} is not idle", lambda: _node_state(cluster) == "idle", cluster, deadline)
        yield cluster
        succeeded = True
    finally:
        left = _shut_down(cluster)
        if left and succeeded:
            raise cluster.error("processes outlived their jobs (killed): " + "; ".join(left))


def _shut_down(cluster: Cluster) -> list[str]:
    """Cancel every job, stop the daemons by their pids, kill what jobs left; returns what was left, if any."""
    ctld = cluster.daemons.get("slurmctld")
    if ctld is not None and ctld.poll() is None:
        user = pwd.getpwuid(os.geteuid()).pw_name
        with suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["scancel", "--user", user], env=cluster.env, capture_output=True, timeout=30, check=False)
            # cancelled jobs are signalled by slurmd: give it a moment before it stops
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _running_jobs(cluster):
                time.sleep(0.5)
    for name in reversed(list(cluster.daemons)):  # slurmd, then slurmctld, then munged (both need it)
        _stop(cluster.daemons[name])
    return _kill_job_processes(cluster.conf)


def _running_jobs(cluster: Cluster) -> bool:
    done = subprocess.run(
        ["squeue", "--noheader", "--format", "%i"], env=cluster.env, capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def _stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def _kill_job_processes(conf: Path) -> list[str]:
    """Kill, by pid, every process that carries this cluster's ``SLURM_CONF`` in its environment (slurmstepd
    and what a job started): the daemons are stopped by now, so any such process outlived its cluster."""
    marker = b"\0SLURM_CONF=" + os.fsencode(conf) + b"\0"
    found: dict[int, str] = {}
    for environ in Path("/proc").glob("[0-9]*/environ"):
        pid = int(environ.parent.name)
        try:
            if pid != os.getpid() and marker in b"\0" + environ.read_bytes():
                command = (environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found[pid] = f"pid {pid}: {command.strip()[:200]}"
        except OSError:
            continue  # ended while being read, or not ours to read
    for pid in found:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in found):
        time.sleep(0.1)
    return list(found.values())
