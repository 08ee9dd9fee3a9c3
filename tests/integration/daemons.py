"""Real daemons for integration tests: an OpenSSH server and a one-node SLURM cluster (with munge).

Stdlib only; nothing here imports workbench or pytest. Both helpers are context managers::

    with SSHServer(env={"SLURM_CONF": cluster.conf}) as server:
        subprocess.run(["ssh", "-F", server.config, server.alias, "echo", "hi"])

    with SlurmCluster() as cluster:
        subprocess.run(["sbatch", "--parsable", "job.sh"], env=cluster.environ)

Every file (keys, configs, state, logs, sockets) lives in a private temporary folder that is removed on
close. A daemon that does not come up within `start_timeout` seconds raises DaemonError with the tail of
its log. Closing kills everything the helper started (daemons, ssh sessions, slurm jobs and their
slurmstepd processes), found through /proc, so no process is left behind.

Requirements: Linux (/proc), `sshd`/`ssh-keygen` for SSHServer; root plus `munged`, `slurmctld`,
`slurmd` (and the slurm client commands) for SlurmCluster.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["DaemonError", "SSHServer", "SlurmCluster", "free_port", "parse_scontrol_line", "TERMINAL_JOB_STATES"]

# Slurm job states after which a job will not change any more (scontrol's JobState values).
TERMINAL_JOB_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
    "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED",
})


class DaemonError(RuntimeError):
    """A daemon failed to start (or a helper command failed); the message carries the log tail."""


# ----------------------------------------------------------------------------------------------------------
# small process / file helpers
# ----------------------------------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host` (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _require(name: str) -> str:
    path = _find_binary(name)
    if path is None:
        raise DaemonError(f"{name!r} not found on PATH (nor in /usr/sbin, /sbin)")
    return path


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"({path}: no log)"
    return "\n".join(text.splitlines()[-lines:])


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> tuple[int, str, str, int] | None:
    """(ppid, comm, state, starttime) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    lpar, rpar = raw.find("("), raw.rfind(")")
    comm = raw[lpar + 1:rpar]
    rest = raw[rpar + 2:].split()
    # rest[0] = state, rest[1] = ppid, rest[19] = starttime (field 22 of stat)
    return int(rest[1]), comm, rest[0], int(rest[19])


def _all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _proc_table() -> dict[int, tuple[int, str, str, int]]:
    table = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st is not None:
            table[pid] = st
    return table


def _descendants(root: int, table: dict | None = None) -> list[int]:
    """All descendants of `root` (not root itself), parents before children."""
    table = _proc_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1:
        out.add(pid)
        st = _stat(pid)
        if st is None:
            break
        pid = st[0]
    return out


def _alive(pid: int, starttime: int | None = None) -> bool:
    st = _stat(pid)
    if st is None or st[2] in ("Z", "X"):  # zombies count as gone (PID 1 here may never reap them)
        return False
    return starttime is None or st[3] == starttime


def _kill(pids, sig=signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _wait_gone(pids, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pids = list(pids)
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return True
        time.sleep(0.05)
    return not [p for p in pids if _alive(p)]


def _pids_with_env(needle: str) -> list[int]:
    """Live processes whose environment holds the exact entry `needle` ("NAME=value"), except this
    process and its ancestors."""
    want = needle.encode()
    spare = _ancestors(os.getpid())
    out = []
    for pid in _all_pids():
        if pid in spare:
            continue
        try:
            entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if want in entries and _alive(pid):
            out.append(pid)
    return out


def _terminate(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """SIGTERM a child, SIGKILL it after `timeout`, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_for(predicate, timeout: float, interval: float = 0.1, alive=None) -> bool:
    """Poll `predicate` until true (True) or timeout (False); stop early (False) if `alive()` turns false."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if alive is not None and not alive():
            return bool(predicate())
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _quote_conf(value: str) -> str:
    """Quote one ssh(d)_config argument."""
    if any(c in value for c in '"\n\r'):
        raise ValueError(f"cannot put {value!r} into an ssh config file")
    return f'"{value}"' if (not value or any(c.isspace() for c in value)) else value


# ----------------------------------------------------------------------------------------------------------
# OpenSSH server
# ----------------------------------------------------------------------------------------------------------

class _Daemon:
    """`with Daemon(...) as d:` starts it, and closes it (also when the start fails)."""

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()


class SSHServer(_Daemon):
    """A real OpenSSH server on 127.0.0.1, key-only, plus a client config for `ssh -F`.

    Constructor (nothing starts until start() / `with`):
        SSHServer(workdir=None, *, alias="wbtest", env=None, port=None, user=None,
                  start_timeout=20.0, extra_sshd_config=())
      workdir: folder for keys/configs/logs (default: a fresh temp folder, removed by close()).
      alias:   the Host name defined in the client config (`ssh -F server.config wbtest CMD`).
      env:     {NAME: VALUE} every session gets (sshd_config `SetEnv`), e.g. {"SLURM_CONF": ...}.
      port:    fixed port (default: a free one, picked once and kept across restart()).
      user:    login user (default: the current user).

    Attributes: workdir, alias, user, port, env, config (client ssh_config Path), known_hosts,
      identity (client private key), host_key (server private key), host_key_line (the server public key
      "ssh-ed25519 AAAA..."), authorized_keys, sshd_config, log (sshd log Path), pid (listener pid or None),
      ssh (argv prefix: ["ssh", "-F", config]), rsh (string for `rsync -e`), running (property), tag (every
      session also gets WB_TEST_SSHD=<tag>, which close() uses to find and kill leftover remote processes).

    Methods: start(), stop(kill_sessions=True), restart(kill_sessions=False), drop_connections(
      kill_sessions=False), connection_pids(), run(*remote, **kw), write_client_config(path, known_hosts=...,
      alias=...), write_known_hosts(path, key_line=None), log_tail(lines), close().
    """

    def __init__(self, workdir: str | os.PathLike | None = None, *, alias: str = "wbtest",
                 env: dict[str, str] | None = None, port: int | None = None, user: str | None = None,
                 start_timeout: float = 20.0, extra_sshd_config: tuple[str, ...] | list[str] = ()):
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.alias = alias
        self.user = user or _current_user()
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.port = port
        self.start_timeout = start_timeout
        self.extra_sshd_config = list(extra_sshd_config)
        self.tag = uuid.uuid4().hex  # every session carries WB_TEST_SSHD=<tag>: close() finds leftovers by it
        self.proc: subprocess.Popen | None = None
        self._prepared = False
        self._orphans: list[tuple[int, int]] = []  # (pid, starttime) left running by drop_connections()

    # -- paths ------------------------------------------------------------------------------------------
    def _paths(self):
        w = self.workdir
        self.host_key = w / "ssh_host_ed25519_key"
        self.identity = w / "id_ed25519"
        self.authorized_keys = w / "authorized_keys"
        self.known_hosts = w / "known_hosts"
        self.sshd_config = w / "sshd_config"
        self.config = w / "ssh_config"
        self.log = w / "sshd.log"
        self.pid_file = w / "sshd.pid"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def ssh(self) -> list[str]:
        """argv prefix for the client: ssh -F CONFIG (then the alias and the remote command)."""
        return ["ssh", "-F", str(self.config)]

    @property
    def rsh(self) -> str:
        """The remote shell string for `rsync -e` / `scp -S`-like options."""
        return f"ssh -F {self.config}"

    # -- setup ------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._prepared:
            return
        self._sshd = _require("sshd")
        keygen = _require("ssh-keygen")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="wbsshd-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._paths()
        for key, comment in ((self.host_key, "wbtest-host"), (self.identity, "wbtest-client")):
            if not key.exists():
                subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                               check=True, capture_output=True)
        self.host_key_line = " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])
        self.authorized_keys.write_text(Path(f"{self.identity}.pub").read_text())
        if self.port is None:
            self.port = free_port()
        self.write_known_hosts(self.known_hosts)
        self.write_client_config(self.config)
        self._write_sshd_config()
        self._prepared = True

    def _write_sshd_config(self) -> None:
        lines = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {_quote_conf(str(self.host_key))}",
            f"PidFile {_quote_conf(str(self.pid_file))}",
            f"AuthorizedKeysFile {_quote_conf(str(self.authorized_keys))}",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {self.user}",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 100",
            "MaxSessions 100",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ]
        setenv = {**self.env, "WB_TEST_SSHD": self.tag}
        lines.append("SetEnv " + " ".join(f"{k}={_quote_conf(v)}" for k, v in setenv.items()))
        lines += self.extra_sshd_config
        self.sshd_config.write_text("\n".join(lines) + "\n")

    def write_known_hosts(self, path: str | os.PathLike, key_line: str | None = None) -> Path:
        """Write a known_hosts file for this server; `key_line` ("ssh-ed25519 AAAA...") overrides the
        real host key (to test a host key mismatch)."""
        path = Path(path)
        path.write_text(f"[127.0.0.1]:{self.port} {key_line or self.host_key_line}\n")
        return path

    def write_client_config(self, path: str | os.PathLike, *, known_hosts: str | os.PathLike | None = None,
                            alias: str | None = None, extra: tuple[str, ...] | list[str] = ()) -> Path:
        """Write an ssh_config (for `ssh -F path`) with a Host block for this server. Host keys are checked
        strictly against `known_hosts` (default: the server's real key)."""
        path = Path(path)
        lines = [
            f"Host {alias or self.alias}",
            "  HostName 127.0.0.1",
            f"  Port {self.port}",
            f"  User {self.user}",
            f"  IdentityFile {_quote_conf(str(self.identity))}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {_quote_conf(str(known_hosts or self.known_hosts))}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  CheckHostIP no",
            "  UpdateHostKeys no",
            "  BatchMode yes",
            "  PasswordAuthentication no",
            "  KbdInteractiveAuthentication no",
            "  ConnectTimeout 10",
            "  ControlMaster no",
            "  ControlPath none",
            "  LogLevel ERROR",
            *(f"  {e}" for e in extra),
        ]
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> SSHServer:
        if self.running:
            return self
        self._prepare()
        try:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
        except PermissionError:
            pass
        check = subprocess.run([self._sshd, "-t", "-f", str(self.sshd_config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise DaemonError(f"sshd rejected {self.sshd_config}:\n{check.stderr}")
        offset = self.log.stat().st_size if self.log.exists() else 0  # restart(): only read the new part
        logf = open(self.log, "a")
        try:
            self.proc = subprocess.Popen([self._sshd, "-D", "-e", "-f", str(self.sshd_config)],
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        finally:
            logf.close()
        atexit.register(self.close)  # never leave a server behind, even if the caller forgets close()
        listening = f"Server listening on 127.0.0.1 port {self.port}"
        ok = _wait_for(lambda: listening in _read_from(self.log, offset),
                       self.start_timeout, alive=lambda: self.proc.poll() is None)
        if not ok:
            rc = self.proc.poll()
            _terminate(self.proc)
            raise DaemonError(f"sshd did not start on 127.0.0.1:{self.port} within {self.start_timeout}s "
                              f"(exit status {rc}); log {self.log}:\n{self.log_tail()}")
        return self

    def connection_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        if not self.running:
            return []
        table = _proc_table()
        return [pid for pid, (ppid, *_r) in table.items() if ppid == self.proc.pid]

    def drop_connections(self, kill_sessions: bool = False) -> list[int]:
        """Cut every current client connection, leaving the listener up: new connections still work.

        Kills (SIGKILL) the per-connection sshd processes, so clients see the connection close (ssh exits
        255), like a network drop. With kill_sessions=False the remote commands themselves are left running
        (as after a real drop; close() still kills them); with True they are killed too. Returns the pids
        killed."""
        if not self.running:
            return []
        table = _proc_table()
        killed, keep = [], []
        for conn in self.connection_pids():
            tree = [conn] + _descendants(conn, table)
            for pid in tree:
                if kill_sessions or table.get(pid, (0, ""))[1] == "sshd" or pid == conn:
                    killed.append(pid)
                else:
                    keep.append(pid)
        _kill(killed)
        self._orphans += [(p, table[p][3]) for p in keep if p in table]
        _wait_gone(killed, 5)
        return killed

    def stop(self, kill_sessions: bool = True) -> None:
        """Stop the listener and drop every connection (killing their remote commands unless
        kill_sessions=False)."""
        if self.proc is None:
            return
        if self.running:
            self.drop_connections(kill_sessions=kill_sessions)
        _terminate(self.proc)
        self.proc = None
        if kill_sessions:
            self._kill_leftovers()

    def restart(self, kill_sessions: bool = False) -> SSHServer:
        """stop() then start() again on the same port with the same host key (known_hosts stays valid)."""
        self.stop(kill_sessions=kill_sessions)
        return self.start()

    def _kill_leftovers(self) -> None:
        pids = [p for p, t in self._orphans if _alive(p, t)]
        pids += _pids_with_env(f"WB_TEST_SSHD={self.tag}")
        _kill(pids)
        _wait_gone(pids, 5)
        self._orphans = []

    def close(self) -> None:
        """Stop everything (sessions included) and remove the temp folder if this object made it."""
        atexit.unregister(self.close)
        self.stop(kill_sessions=True)
        self._kill_leftovers()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- use --------------------------------------------------------------------------------------------
    def run(self, *remote: str, timeout: float = 60, check: bool = False, input: str | None = None,
            options: tuple[str, ...] | list[str] = ()) -> subprocess.CompletedProcess:
        """ssh -F CONFIG [options] ALIAS REMOTE... -> CompletedProcess (text)."""
        proc = subprocess.run([*self.ssh, *options, self.alias, *remote], capture_output=True, text=True,
                              timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise DaemonError(f"ssh {' '.join(remote)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines) if self.workdir is not None else ""

    def __repr__(self) -> str:
        return f"SSHServer(alias={self.alias!r}, port={self.port}, running={self.running})"


def _current_user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


# ----------------------------------------------------------------------------------------------------------
# SLURM one-node cluster
# ----------------------------------------------------------------------------------------------------------

_SCONTROL_FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w/:.]*)=")


def parse_scontrol_line(line: str) -> dict[str, str]:
    """One `scontrol show ... -o` line -> {field: value}. Values may hold spaces (Command=, Comment=)."""
    fields, matches = {}, list(_SCONTROL_FIELD.finditer(line))
    for m, nxt in zip(matches, matches[1:] + [None]):
        fields[m.group(1)] = line[m.end():nxt.start() if nxt else len(line)].strip()
    return fields


class SlurmCluster(_Daemon):
    """A real one-node SLURM cluster (munged + slurmctld + slurmd) in a temp folder. Needs root.

    Constructor (nothing starts until start() / `with`):
        SlurmCluster(workdir=None, *, cluster_name="wbtest", partitions=("debug", "gpu"), cpus=None,
                     real_memory=1000, min_job_age=300, kill_wait=5, start_timeout=20.0, extra_conf=())
      workdir:    folder for everything (default: a fresh short temp folder under /tmp, removed by close();
                  keep the path short: slurmd and munged put unix sockets in it).
      partitions: partition names; the first is Default=YES. All hold the one node "localhost".
      cpus:       CPUs of the node (default: what `slurmd -C` detects, else os.cpu_count()).

    Attributes: workdir, conf (slurm.conf Path), state_dir (slurmctld's StateSaveLocation), env
      ({"SLURM_CONF": conf}: what client commands need besides PATH), environ (os.environ without
      SLURM_*/SBATCH_*/SALLOC_*/SRUN_*/PBS_* variables, plus env: pass as `env=` to subprocess), cpus,
      partitions, cluster_name, munge_socket, munge_key, logs ({name: Path}), procs ({name: Popen}),
      node ("localhost").

    Methods: start(), stop(), close(), run(*argv, **kw), jobs(job_id) -> list[dict] (scontrol show job -o,
      [] if unknown), wait_job(job_id, timeout=60) -> list[dict] (until every record is terminal),
      job_state(job_id), cancel_all(), log_tail(name, lines).
    """

    node = "localhost"

    def __init__(self, workdir: str | os.PathLike | None = None, *, cluster_name: str = "wbtest",
                 partitions: tuple[str, ...] | list[str] = ("debug", "gpu"), cpus: int | None = None,
                 real_memory: int = 1000, min_job_age: int = 300, kill_wait: int = 5,
                 start_timeout: float = 20.0, extra_conf: tuple[str, ...] | list[str] = ()):
        if not partitions:
            raise ValueError("need at least one partition")
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self.cluster_name = cluster_name
        self.partitions = list(partitions)
        self.cpus = cpus
        self.real_memory = real_memory
        self.min_job_age = min_job_age
        self.kill_wait = kill_wait
        self.start_timeout = start_timeout
        self.extra_conf = list(extra_conf)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.env: dict[str, str] = {}
        self.environ: dict[str, str] = {}
        self._prepared = False

    # -- setup ------------------------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self._prepared:
            return
        if os.geteuid() != 0:
            raise DaemonError("SlurmCluster needs root (slurmd runs jobs as their user, munged as root)")
        self._bin = {name: _require(name) for name in ("munged", "slurmctld", "slurmd", "sinfo", "scontrol")}
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="wbslurm-", dir="/tmp"))
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        os.chmod(w, 0o755)
        for sub in ("munge", "state", "spool", "log"):
            (w / sub).mkdir(mode=0o755, exist_ok=True)
            os.chmod(w / sub, 0o755)  # munged refuses a socket folder writable by group/other
        self.munge_socket = w / "munge" / "munge.socket"
        self.munge_key = w / "munge" / "munge.key"
        if not self.munge_key.exists():
            self.munge_key.write_bytes(os.urandom(1024))
        os.chmod(self.munge_key, 0o400)
        self.conf = w / "slurm.conf"
        self.state_dir = w / "state"  # slurmctld's StateSaveLocation: each job's script and environment
        self.logs = {"munged": w / "log" / "munged.log", "slurmctld": w / "log" / "slurmctld.log",
                     "slurmd": w / "log" / "slurmd.log"}
        if self.cpus is None:
            self.cpus = _detected_cpus(self._bin["slurmd"])
        self._write_conf()
        self.env = {"SLURM_CONF": str(self.conf)}
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_", "SCONTROL_",
                                     "SACCT_", "PBS_"))}
        self.environ = {**base, **self.env}
        self._prepared = True

    def _write_conf(self) -> None:
        w = self.workdir
        ctld_port, d_port = free_port(), free_port()
        while d_port == ctld_port:
            d_port = free_port()
        lines = [
            f"ClusterName={self.cluster_name}",
            "SlurmctldHost=localhost",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={d_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.state_dir}",
            f"SlurmdSpoolDir={w / 'spool'}",
            f"SlurmctldPidFile={w / 'slurmctld.pid'}",
            f"SlurmdPidFile={w / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.logs['slurmctld']}",
            f"SlurmdLogFile={self.logs['slurmd']}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            f"MinJobAge={self.min_job_age}",
            f"KillWait={self.kill_wait}",
            "ReturnToService=2",
            "InactiveLimit=0",
            "Waittime=0",
            "SlurmdTimeout=60",
            "MessageTimeout=10",
            *self.extra_conf,
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.real_memory} State=UNKNOWN",
        ]
        for i, name in enumerate(self.partitions):
            default = "YES" if i == 0 else "NO"
            lines.append(f"PartitionName={name} Nodes={self.node} Default={default} MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")

    # -- lifecycle --------------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = self.workdir / "log" / f"{name}.out"
        with open(out, "a") as f:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                    env={**self.environ}, start_new_session=True)
        self.procs[name] = proc
        return proc

    def _fail(self, name: str, what: str) -> None:
        proc = self.procs.get(name)
        rc = proc.poll() if proc else None
        logs = []
        for path in (self.workdir / "log" / f"{name}.out", self.logs.get(name)):
            if path is not None and path.exists() and path.stat().st_size:
                logs.append(f"--- {path}:\n{_tail(path)}")
        self.stop()
        raise DaemonError(f"{name} {what} within {self.start_timeout}s (exit status {rc}).\n" + "\n".join(logs))

    def start(self) -> SlurmCluster:
        if self.procs:
            return self
        self._prepare()
        atexit.register(self.close)  # never leave daemons or jobs behind, even if the caller forgets close()
        t = self.start_timeout
        munged = self._spawn("munged", [
            self._bin["munged"], "--foreground", f"--socket={self.munge_socket}", f"--key-file={self.munge_key}",
            f"--pid-file={self.workdir / 'munge' / 'munged.pid'}", f"--log-file={self.logs['munged']}",
            f"--seed-file={self.workdir / 'munge' / 'munged.seed'}", "--num-threads=2"])
        if not _wait_for(lambda: self.munge_socket.exists(), t, alive=lambda: munged.poll() is None):
            self._fail("munged", "did not create its socket")

        ctld = self._spawn("slurmctld", [self._bin["slurmctld"], "-D", "-f", str(self.conf)])
        def ctld_up() -> bool:
            p = self._quiet("scontrol", "ping")
            return p.returncode == 0 and "UP" in p.stdout

        if not _wait_for(ctld_up, t, interval=0.2, alive=lambda: ctld.poll() is None):
            self._fail("slurmctld", "did not answer `scontrol ping`")

        slurmd = self._spawn("slurmd", [self._bin["slurmd"], "-D", "-N", self.node, "-f", str(self.conf)])
        if not _wait_for(lambda: self.node_state() == "idle", t, interval=0.2,
                         alive=lambda: slurmd.poll() is None and ctld.poll() is None):
            self._fail("slurmd", f"did not bring node {self.node} to idle (sinfo says {self.node_state()!r})")
        return self

    def node_state(self) -> str:
        p = self._quiet("sinfo", "-h", "-N", "-n", self.node, "-o", "%T")
        return p.stdout.strip().splitlines()[0] if p.returncode == 0 and p.stdout.strip() else ""

    def cancel_all(self, timeout: float = 20.0) -> None:
        """scancel every job and wait until none is running or completing."""
        ids = self._quiet("squeue", "-h", "-o", "%A").stdout.split()
        if ids:
            self._quiet("scancel", *sorted(set(ids)))
            _wait_for(lambda: not self._quiet("squeue", "-h", "-t", "RUNNING,COMPLETING,PENDING,CONFIGURING",
                                              "-o", "%A").stdout.strip(), timeout, interval=0.2)

    def stop(self) -> None:
        """Cancel all jobs, stop slurmd, slurmctld and munged, and kill any leftover job process."""
        if not self.procs:
            return
        ctld, slurmd = self.procs.get("slurmctld"), self.procs.get("slurmd")
        if ctld is not None and ctld.poll() is None and slurmd is not None and slurmd.poll() is None:
            try:
                self.cancel_all(timeout=self.kill_wait + 10)
            except Exception:  # never let cleanup fail
                pass
        for name in ("slurmd", "slurmctld"):
            _terminate(self.procs.get(name), timeout=10)
        # slurmstepd daemonizes (parent: init), and jobs may have left children: all carry our SLURM_CONF.
        leftovers = _pids_with_env(f"SLURM_CONF={self.conf}")
        _kill(leftovers)
        _wait_gone(leftovers, 5)
        _terminate(self.procs.get("munged"), timeout=10)
        self.procs = {}

    def close(self) -> None:
        """stop() and remove the temp folder if this object made it."""
        atexit.unregister(self.close)
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- use --------------------------------------------------------------------------------------------
    def _quiet(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, env=self.environ, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            return subprocess.CompletedProcess(list(argv), 255, "", str(e))

    def run(self, *argv: str, timeout: float = 60, check: bool = False, cwd: str | os.PathLike | None = None,
            env: dict[str, str] | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run a client command (sbatch, squeue, qsub, ...) against this cluster -> CompletedProcess (text)."""
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env={**self.environ, **(env or {})}, input=input)
        if check and proc.returncode != 0:
            raise DaemonError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def jobs(self, job_id: str | int) -> list[dict[str, str]]:
        """`scontrol show job -o ID` as a list of field dicts (one per array task); [] for an unknown id."""
        p = self._quiet("scontrol", "show", "job", "-o", str(job_id))
        if p.returncode != 0:
            return []
        return [parse_scontrol_line(line) for line in p.stdout.splitlines() if line.strip()]

    def job_state(self, job_id: str | int) -> str | None:
        recs = self.jobs(job_id)
        return recs[0].get("JobState") if recs else None

    def wait_job(self, job_id: str | int, timeout: float = 60,
                 states: frozenset[str] | set[str] = TERMINAL_JOB_STATES) -> list[dict[str, str]]:
        """Poll until every record of the job is in `states` (default: terminal); returns the records."""
        last: list[dict[str, str]] = []

        def done() -> bool:
            nonlocal last
            last = self.jobs(job_id)
            return bool(last) and all(r.get("JobState") in states for r in last)

        if not _wait_for(done, timeout, interval=0.25):
            got = [(r.get("JobId"), r.get("JobState")) for r in last]
            raise DaemonError(f"job {job_id} not in {sorted(states)} after {timeout}s: {got}\n"
                              f"--- slurmctld:\n{self.log_tail('slurmctld', 15)}")
        return last

    def log_tail(self, name: str = "slurmctld", lines: int = 40) -> str:
        path = self.logs.get(name)
        return _tail(path, lines) if path else ""

    def __repr__(self) -> str:
        return f"SlurmCluster(conf={getattr(self, 'conf', None)}, running={bool(self.procs)})"


def _detected_cpus(slurmd: str) -> int:
    """CPUs as slurmd itself counts them (`slurmd -C`), so the node registers instead of draining."""
    try:
        out = subprocess.run([slurmd, "-C"], capture_output=True, text=True, timeout=20).stdout
        m = re.search(r"\bCPUs=(\d+)", out)
        if m:
            return int(m.group(1))
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.cpu_count() or 1
