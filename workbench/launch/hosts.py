"""Where a run's agent runs: this machine (direct calls) or an ssh host (`ssh HOST bash -lc
'... python -m workbench.launch.agent ...'`, uploads with rsync or sftp).

ssh is OpenSSH itself: host aliases, keys, agents, jump hosts and host-key checking are the
user's ~/.ssh/config (or $WORKBENCH_SSH_CONFIG), exactly as for a plain `ssh HOST`. BatchMode
is on: a host that would ask for a password or an unknown host key is refused, not hung on.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.launch import agent
from workbench.launch.argv import Launch, home_path, prelude_lines


class HostUnreachable(Exception):
    """ssh could not connect (exit status 255): the run may be fine; try again later."""


class LocalHost:
    name = "this machine"
    remote = False

    def job_dir(self, run_dir: Path) -> str:
        return str(run_dir)

    def probe(self, job_dir: str) -> dict[str, Any]:
        return agent.probe(Path(job_dir))

    def start(self, job_dir: str) -> dict[str, Any]:
        return agent.start(Path(job_dir))  # the environment is inherited as it is

    def submit(self, job_dir: str, scheduler: str) -> dict[str, Any]:
        return agent.submit(Path(job_dir), scheduler)

    def resume(self, job_dir: str, scheduler: str = "") -> dict[str, Any]:
        return agent.resume(Path(job_dir), scheduler)

    def submit_array(self, job_dirs: list[str]) -> list[dict[str, Any]]:
        return agent.submit_array([Path(d) for d in job_dirs])

    def state(self, job_dir: str) -> dict[str, Any]:
        return agent.state(Path(job_dir))

    def states(self, job_dirs: list[str], timeout: float) -> list[dict[str, Any]]:
        return agent.states([Path(d) for d in job_dirs], timeout)

    def tail(self, job_dir: str, offsets: dict[str, int], marks: dict | None = None) -> tuple[dict[str, Any], bytes]:
        return {"state": agent.state(Path(job_dir)), "files": [], "complete": True}, b""  # files are here already

    def cancel(self, job_dir: str, sig: str = "SIGTERM") -> dict[str, Any]:
        return agent.cancel(Path(job_dir), sig)


def ssh_options() -> list[str]:
    opts = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=10",
            "-o", "ServerAliveCountMax=3"]
    config = os.environ.get("WORKBENCH_SSH_CONFIG")
    if config:
        opts = ["-F", config, *opts]
    if os.environ.get("WORKBENCH_SSH_MULTIPLEX", "1") != "0":
        # One connection reused for the follower's polls (a new ssh handshake each second is slow
        # on real networks). A dead master is replaced by the next command.
        sockets = Path.home() / ".ssh"
        sockets.mkdir(mode=0o700, exist_ok=True)
        opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={sockets}/wb-%C", "-o", "ControlPersist=60"]
    return opts


def remote_dir(workdir: str, run_id: str) -> str:
    """The run folder on the remote host: relative paths are relative to the remote home."""
    base = workdir[2:] if workdir.startswith("~/") else ("." if workdir == "~" else workdir)
    return f"{base.rstrip('/') or '/'}/runs/{run_id}"


class SshHost:
    remote = True

    def __init__(self, host: str, launch: Launch):
        self.name, self.launch = host, launch

    def job_dir(self, run_dir: Path) -> str:
        return remote_dir(self.launch.workdir, run_dir.name)

    def forwarded_env(self) -> dict[str, str]:
        return {n: os.environ[n] for n in self.launch.forward_env if n in os.environ}

    def remote_command(self, command: str, job_dir: str, *args: str) -> str:
        script = prelude_lines(self.launch) + [
            f"exec {home_path(self.launch.python)} -m workbench.launch.agent "
            + shlex.join([command, job_dir, *args])]
        # bash -l: clusters define `module` and PATH in login profiles. One line joined with &&:
        # the login shell that reads it may be csh, which allows no newline inside quotes.
        return "bash -lc " + shlex.quote(" && ".join(script))

    def call(self, command: str, job_dir: str, *args: str, request: dict | None = None,
             timeout: float = 120) -> tuple[dict[str, Any], bytes]:
        argv = ["ssh", *ssh_options(), "--", self.name, self.remote_command(command, job_dir, *args)]
        body = json.dumps({"env": self.forwarded_env(), **(request or {})})
        try:
            p = subprocess.run(argv, input=body.encode(), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise HostUnreachable(f"{self.name}: no answer within {timeout:.0f} s") from None
        except FileNotFoundError:
            raise UserError("ssh is not installed on this machine (the OpenSSH client: apt-get install "
                            "openssh-client)") from None
        err = p.stderr.decode(errors="replace").strip()
        if p.returncode == 255:
            raise HostUnreachable(f"{self.name}: {err.splitlines()[-1] if err else 'ssh failed'}")
        # Login profiles may print banners first: the reply starts after the agent's marker line.
        _, marker, rest = p.stdout.partition(agent.REPLY_MARKER)
        line, _, data = rest.partition(b"\n")
        try:
            if not marker:
                raise ValueError("no reply")
            reply = json.loads(line)
        except ValueError:
            last = err.splitlines()[-1] if err else line.decode(errors="replace")[:200]
            raise UserError(f"{self.name}: cannot run workbench there ({last}); set launch.python, launch.venv, "
                            "launch.conda_env or launch.modules so that `python -m workbench` works on it") from None
        if isinstance(reply, dict) and "error" in reply:
            raise UserError(f"{self.name}: {reply['error']}")
        return reply, data

    def probe(self, job_dir: str, model_source: str = "") -> dict[str, Any]:
        return self.call("probe", job_dir, request={"model_source": model_source, "container": self.launch.container,
                                                    "workdir": self.launch.workdir})[0]

    def start(self, job_dir: str) -> dict[str, Any]:
        return self.call("start", job_dir)[0]

    def submit(self, job_dir: str, scheduler: str) -> dict[str, Any]:
        return self.call("submit", job_dir, scheduler)[0]

    def resume(self, job_dir: str, scheduler: str = "") -> dict[str, Any]:
        return self.call("resume", job_dir, *((scheduler,) if scheduler else ()))[0]

    def submit_array(self, job_dirs: list[str]) -> list[dict[str, Any]]:
        return self.call("submit_array", job_dirs[0], request={"run_dirs": job_dirs})[0]["jobs"]

    def state(self, job_dir: str) -> dict[str, Any]:
        return self.call("state", job_dir)[0]

    def states(self, job_dirs: list[str], timeout: float) -> list[dict[str, Any]]:
        """Many runs' states in one ssh round trip, all of it within `timeout` seconds (the scheduler
        there gets half of them); HostUnreachable past it."""
        return self.call("states", job_dirs[0], request={"run_dirs": job_dirs, "timeout": timeout / 2},
                         timeout=timeout)[0]["states"]

    def tail(self, job_dir: str, offsets: dict[str, int], marks: dict | None = None) -> tuple[dict[str, Any], bytes]:
        # `marks` beside `offsets`: an older agent reads the offsets alone (agent.tail)
        return self.call("tail", job_dir, request={"offsets": offsets, "marks": marks or {}}, timeout=300)

    def cancel(self, job_dir: str, sig: str = "SIGTERM") -> dict[str, Any]:
        return self.call("cancel", job_dir, request={"signal": sig})[0]

    def upload(self, files: dict[str, Path], job_dir: str, remote_has_rsync: bool) -> str:
        """Copy {relative name: local file} into the remote run folder. Returns the tool used."""
        with tempfile.TemporaryDirectory(prefix="wb-upload-") as tmp:
            staging = Path(tmp)
            for rel, src in files.items():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.symlink_to(Path(src).resolve())
            use_rsync = remote_has_rsync and shutil.which("rsync") and os.environ.get("WORKBENCH_UPLOAD") != "sftp"
            if use_rsync:
                # --protect-args: the remote path reaches rsync as one argument, never through a shell
                argv = ["rsync", "-a", "--copy-links", "--protect-args", "-e", shlex.join(["ssh", *ssh_options()]),
                        f"{staging}/", f"{self.name}:{job_dir}/"]
                tool = "rsync"
            else:
                batch_file = staging / ".upload.sftp"  # not itself uploaded: only `files` are put
                lines = [f"put {_sftp_quote(str(staging / rel))} {_sftp_quote(job_dir + '/' + rel)}" for rel in files]
                batch_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
                argv = ["sftp", *ssh_options(), "-b", str(batch_file), "--", self.name]
                tool = "sftp"
            try:
                p = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
            except FileNotFoundError:
                raise UserError(f"{tool} is not installed on this machine (needed to upload the run folder)") from None
            if p.returncode != 0:
                err = (p.stderr.strip() or p.stdout.strip() or f"exit status {p.returncode}").splitlines()[-1]
                if p.returncode == 255:
                    raise HostUnreachable(f"{self.name}: upload failed: {err}")
                raise UserError(f"{self.name}: upload with {tool} failed: {err}")
        return tool


def _sftp_quote(path: str) -> str:
    # sftp's batch parser: inside double quotes, backslash escapes " and \ (no newlines: the
    # schema refuses control characters in launch.workdir).
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def host_for(target, launch: Launch):
    return SshHost(target.host, launch) if target.remote else LocalHost()


def ssh_host_aliases(config: Path | None = None) -> list[str]:
    """Concrete `Host` aliases of the user's ssh config (patterns with * ? ! left out), for
    choosing a target; `Include` files are followed."""
    path = config or Path(os.environ.get("WORKBENCH_SSH_CONFIG") or Path.home() / ".ssh" / "config")
    found: list[str] = []

    def read(p: Path, depth: int) -> None:
        if depth > 8 or not p.is_file():
            return
        for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split("#", 1)[0].replace("=", " ").split()
            if len(words) < 2:
                continue
            key = words[0].lower()
            if key == "host":
                found.extend(w for w in words[1:] if not any(c in w for c in "*?!") and w not in found)
            elif key == "include":
                for pattern in words[1:]:
                    base = Path(pattern).expanduser()
                    base = base if base.is_absolute() else p.parent / base
                    for inc in sorted(base.parent.glob(base.name)):
                        read(inc, depth + 1)

    read(path, 0)
    return found


def host_of_run(run_dir: Path) -> tuple[LocalHost | SshHost, str]:
    """The host that manages an existing run, from its run.json and frozen recipe."""
    from workbench.launch.targets import parse_target
    from workbench.recipe import load_recipe
    from workbench.rundir import RECIPE, read_run_meta

    meta = read_run_meta(run_dir)
    target = parse_target(meta.get("target", "local"))
    if target.host is None:
        return LocalHost(), str(run_dir)
    launch = load_recipe(run_dir / RECIPE).launch
    host = SshHost(target.host, launch)
    return host, meta.get("job_dir") or host.job_dir(run_dir)
