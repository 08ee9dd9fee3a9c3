"""The real-daemon helpers in tests/integration/daemons.py work, and what the real tools print.

These start a real OpenSSH server and a real one-node SLURM cluster (munge + slurmctld + slurmd) and
drive them with the real clients (ssh, rsync, sftp, sbatch, squeue, scontrol, scancel, sacct, and the
torque/PBS wrappers qsub, qstat, qdel from slurm-wlm-torque). The assertions double as a record of the
exact output formats the launchers have to parse (slurm-wlm 22.05, OpenSSH 9.2)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.daemons import DaemonError, SlurmCluster, SSHServer, parse_scontrol_line

pytestmark = pytest.mark.timeout(300)

SSH_BINARIES = ("sshd", "ssh", "ssh-keygen", "rsync", "sftp")
SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "sacct")
PBS_BINARIES = ("qsub", "qstat", "qdel")


def _missing(names) -> list[str]:
    return [n for n in names if shutil.which(n) is None and not os.access(f"/usr/sbin/{n}", os.X_OK)]


needs_ssh = pytest.mark.skipif(bool(_missing(SSH_BINARIES)),
                               reason=f"OpenSSH server/clients not installed (missing: {_missing(SSH_BINARIES)})")
needs_slurm = pytest.mark.skipif(bool(_missing(SLURM_BINARIES)) or os.geteuid() != 0,
                                 reason=f"SLURM + munge not installed or not root "
                                        f"(missing: {_missing(SLURM_BINARIES)})")
needs_pbs = pytest.mark.skipif(bool(_missing(PBS_BINARIES)),
                               reason=f"slurm-wlm-torque wrappers not installed (missing: {_missing(PBS_BINARIES)})")


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/bash\n" + body.lstrip("\n"))
    path.chmod(0o755)
    return path


def wait_until(predicate, timeout: float = 20, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


# ==========================================================================================================
# OpenSSH
# ==========================================================================================================

@pytest.fixture(scope="module")
def ssh_server():
    if _missing(SSH_BINARIES):
        pytest.skip(f"OpenSSH not installed (missing: {_missing(SSH_BINARIES)})")
    with SSHServer(env={"SLURM_CONF": "/etc/wb test/slurm.conf", "WB_GREETING": "hello"}) as server:
        yield server


@needs_ssh
def test_ssh_runs_a_command_and_sessions_see_setenv(ssh_server):
    t0 = time.monotonic()
    p = ssh_server.run('echo "$WB_GREETING|$SLURM_CONF|$USER"; echo to-stderr >&2; exit 7')
    assert p.returncode == 7  # the remote exit status comes back as ssh's own
    assert p.stdout == f"hello|/etc/wb test/slurm.conf|{ssh_server.user}\n"
    assert p.stderr == "to-stderr\n"
    assert time.monotonic() - t0 < 10
    # the same through a plain argv, as a launcher would build it
    p = subprocess.run([*ssh_server.ssh, ssh_server.alias, "printenv", "SLURM_CONF"], capture_output=True,
                       text=True, timeout=30)
    assert (p.returncode, p.stdout) == (0, "/etc/wb test/slurm.conf\n")
    assert ssh_server.config.read_text().startswith(f"Host {ssh_server.alias}\n")


@needs_ssh
def test_host_key_mismatch_and_unknown_host_are_refused(ssh_server, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wrong = ssh_server.write_known_hosts(tmp_path / "wrong_known_hosts", key_line=other)
    cfg = ssh_server.write_client_config(tmp_path / "wrong_config", known_hosts=wrong)
    p = subprocess.run(["ssh", "-F", str(cfg), ssh_server.alias, "echo", "should-not-run"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 255
    assert "should-not-run" not in p.stdout
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in p.stderr
    assert "Host key verification failed." in p.stderr

    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    cfg = ssh_server.write_client_config(tmp_path / "empty_config", known_hosts=empty)
    p = subprocess.run(["ssh", "-F", str(cfg), ssh_server.alias, "true"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 255
    assert f"No ED25519 host key is known for [127.0.0.1]:{ssh_server.port}" in p.stderr
    assert "Host key verification failed." in p.stderr
    assert empty.read_text() == ""  # StrictHostKeyChecking yes: nothing learned


@needs_ssh
def test_rsync_over_ssh_config_copies_a_folder(ssh_server, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40)
    dst = tmp_path / "remote dst"  # a space in the remote path: needs --protect-args / -s (rsync >= 3.0)
    p = subprocess.run(["rsync", "-a", "-s", "-e", ssh_server.rsh, f"{src}/", f"{ssh_server.alias}:{dst}/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (dst / "a.txt").read_text() == "alpha\n"
    assert (dst / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    # and back, the other direction
    back = tmp_path / "back"
    p = subprocess.run(["rsync", "-a", "-s", "-e", ssh_server.rsh, f"{ssh_server.alias}:{dst}/", f"{back}/"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()


@needs_ssh
def test_sftp_batch_uploads_a_file(ssh_server, tmp_path):
    local = tmp_path / "up.txt"
    local.write_text("uploaded by sftp\n")
    remote_dir = tmp_path / "remote"
    batch = tmp_path / "batch"
    batch.write_text(f"mkdir {remote_dir}\nput {local} {remote_dir}/up.txt\nls {remote_dir}\n")
    p = subprocess.run(["sftp", "-F", str(ssh_server.config), "-b", str(batch), ssh_server.alias],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (remote_dir / "up.txt").read_text() == "uploaded by sftp\n"
    # a failing batch command makes sftp -b exit 1
    batch.write_text(f"put {tmp_path / 'no-such-file'} {remote_dir}/x\n")
    p = subprocess.run(["sftp", "-F", str(ssh_server.config), "-b", str(batch), ssh_server.alias],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1


@needs_ssh
def test_drop_connections_kills_a_running_session_but_new_ones_work(tmp_path):
    with SSHServer(tmp_path / "sshd") as server:
        marker = f"wb-drop-{os.getpid()}"
        client = subprocess.Popen([*server.ssh, server.alias, f"exec bash -c 'exec -a {marker} sleep 30'"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            remote = wait_until(lambda: _pids_named(marker))
            assert server.connection_pids()
            killed = server.drop_connections()  # default: the remote command is left running, as on a real drop
            assert killed
            # The client sees the close at once (a dead peer without a close would hang it until a
            # keepalive timeout, far longer than this generous bound; no timing asserted on a busy machine)
            out, err = client.communicate(timeout=120)
            assert client.returncode == 255
            assert "closed by remote host" in err  # "Connection to 127.0.0.1 closed by remote host."
            # the killed connection processes are gone once the listener has reaped them (on a busy
            # machine that takes a while: waited for, not assumed)
            wait_until(lambda: server.connection_pids() == [], timeout=60)
            assert all(_pid_alive(p) for p in remote)  # orphaned, still running
            assert server.run("echo still-listening").stdout == "still-listening\n"
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        # a whole restart: refused while stopped, same port and host key after
        server.stop(kill_sessions=False)
        p = server.run("true")
        assert p.returncode == 255 and "Connection refused" in p.stderr
        server.restart()
        assert server.run("echo back").stdout == "back\n"
    # close() killed the orphaned remote command too
    wait_until(lambda: not any(_pid_alive(p) for p in remote), timeout=5)


@needs_ssh
def test_drop_connections_can_kill_the_sessions_too(tmp_path):
    with SSHServer(tmp_path / "sshd") as server:
        marker = f"wb-dropkill-{os.getpid()}"
        client = subprocess.Popen([*server.ssh, server.alias, f"exec bash -c 'exec -a {marker} sleep 30'"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        remote = wait_until(lambda: _pids_named(marker))
        server.drop_connections(kill_sessions=True)
        assert client.wait(10) == 255
        wait_until(lambda: not any(_pid_alive(p) for p in remote), timeout=5)


@needs_ssh
def test_sshd_start_failure_raises_with_the_log(tmp_path):
    with SSHServer(alias="wbtest") as running:
        # the same port twice: the second sshd cannot bind
        clash = SSHServer(tmp_path / "clash", port=running.port, start_timeout=5)
        with pytest.raises(DaemonError, match=r"(?s)sshd did not start.*Address already in use"):
            clash.start()
        clash.close()


def _pids_named(first_arg: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv0 = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if argv0 == first_arg:
                out.append(int(entry))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# ==========================================================================================================
# SLURM
# ==========================================================================================================

@pytest.fixture(scope="module")
def cluster():
    if _missing(SLURM_BINARIES) or os.geteuid() != 0:
        pytest.skip(f"SLURM + munge not installed or not root (missing: {_missing(SLURM_BINARIES)})")
    t0 = time.monotonic()
    with SlurmCluster() as c:
        c.start_seconds = time.monotonic() - t0
        yield c
    assert not [p for p in _all_pids_with_env(f"SLURM_CONF={c.conf}")], "processes left behind"


def _all_pids_with_env(entry: str) -> list[int]:
    want, out = entry.encode(), []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                if want in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") and _pid_alive(int(pid)):
                    out.append(int(pid))
            except OSError:
                pass
    return out


def sbatch(cluster, *args, cwd, env=None) -> str:
    p = cluster.run("sbatch", "--parsable", *args, cwd=cwd, env=env)
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"\d+\n", p.stdout), p.stdout  # --parsable: just "ID\n" (one cluster, no ";cluster")
    return p.stdout.strip()


@needs_slurm
def test_cluster_is_up_quickly_with_two_partitions(cluster):
    assert cluster.start_seconds < 20
    p = cluster.run("sinfo", "-h", "-o", "%P|%a|%T|%N")
    assert p.returncode == 0
    assert p.stdout.splitlines() == ["debug*|up|idle|localhost", "gpu|up|idle|localhost"]
    assert set(cluster.env) == {"SLURM_CONF"} and cluster.environ["SLURM_CONF"] == str(cluster.conf)


@needs_slurm
def test_sbatch_job_completes_and_sees_the_submitters_environment(cluster, tmp_path):
    script(tmp_path / "ok.sh", 'echo "out $SLURM_JOB_ID $WB_FROM_SUBMITTER $SLURM_JOB_PARTITION"; sleep 1\n')
    job = sbatch(cluster, "ok.sh", cwd=tmp_path, env={"WB_FROM_SUBMITTER": "yes"})
    [rec] = cluster.wait_job(job, timeout=30)
    assert rec["JobId"] == job
    assert rec["JobState"] == "COMPLETED"
    assert rec["ExitCode"] == "0:0"  # "<exit status>:<signal>"
    assert rec["Reason"] == "None"
    assert rec["Partition"] == "debug"
    assert rec["StdOut"] == str(tmp_path / f"slurm-{job}.out")
    # sbatch's default --export=ALL: the submitting process's environment reaches the job
    assert (tmp_path / f"slurm-{job}.out").read_text() == f"out {job} yes debug\n"
    # squeue only lists pending/running jobs by default: a finished job is an empty answer with exit 0 ...
    p = cluster.run("squeue", "-h", "-j", job, "-o", "%i|%T")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    # ... unless asked for all states (kept for MinJobAge=300 s)
    p = cluster.run("squeue", "-h", "-t", "all", "-j", job, "-o", "%i|%T|%r|%P|%j")
    assert p.stdout == f"{job}|COMPLETED|None|debug|ok.sh\n"


@needs_slurm
def test_sbatch_export_none_keeps_the_submitters_environment_out(cluster, tmp_path):
    script(tmp_path / "env.sh", 'echo "[$WB_FROM_SUBMITTER] [${SLURM_CONF:+conf}]"\n')
    job = sbatch(cluster, "--export=NONE", "-p", "gpu", "env.sh", cwd=tmp_path, env={"WB_FROM_SUBMITTER": "yes"})
    [rec] = cluster.wait_job(job, timeout=30)
    assert (rec["JobState"], rec["Partition"]) == ("COMPLETED", "gpu")
    assert (tmp_path / f"slurm-{job}.out").read_text() == "[] [conf]\n"  # SLURM_CONF is set by slurm itself


@needs_slurm
def test_failing_job_shows_failed_and_its_exit_code(cluster, tmp_path):
    script(tmp_path / "bad.sh", "echo oops >&2\nexit 3\n")
    job = sbatch(cluster, "bad.sh", cwd=tmp_path)
    [rec] = cluster.wait_job(job, timeout=30)
    assert (rec["JobState"], rec["ExitCode"], rec["Reason"]) == ("FAILED", "3:0", "NonZeroExitCode")
    assert (tmp_path / f"slurm-{job}.out").read_text() == "oops\n"  # stderr joins stdout by default
    p = cluster.run("scontrol", "show", "job", "-o", job)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 1
    assert re.search(r"(^| )JobState=FAILED Reason=NonZeroExitCode ", p.stdout)
    assert re.search(r" ExitCode=3:0 ", p.stdout)


@needs_slurm
def test_scancel_a_running_job_shows_cancelled(cluster, tmp_path):
    script(tmp_path / "long.sh", "sleep 60\n")
    job = sbatch(cluster, "long.sh", cwd=tmp_path)
    cluster.wait_job(job, timeout=30, states={"RUNNING"})
    p = cluster.run("squeue", "-h", "-j", job, "-o", "%i|%T|%r")
    assert p.stdout == f"{job}|RUNNING|None\n"
    p = cluster.run("scancel", job)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    [rec] = cluster.wait_job(job, timeout=20)
    assert (rec["JobState"], rec["ExitCode"]) == ("CANCELLED", "0:15")  # killed by SIGTERM (15)
    # scancel of a finished job and of a never-seen id: silent, exit 0
    assert cluster.run("scancel", job).returncode == 0
    p = cluster.run("scancel", "999999")
    assert (p.returncode, p.stderr) == (0, "")


@needs_slurm
def test_unknown_job_id_and_sacct_without_accounting(cluster):
    for cmd in (["scontrol", "show", "job", "-o", "999999"], ["squeue", "-h", "-j", "999999"]):
        p = cluster.run(*cmd)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", "slurm_load_jobs error: Invalid job id specified\n")
    assert cluster.jobs(999999) == []
    # no slurmdbd: every sacct prints one line on stderr and exits 1
    for cmd in (["sacct"], ["sacct", "-j", "1"], ["sacct", "-n", "-P", "-j", "1", "-o", "JobID,State,ExitCode"]):
        p = cluster.run(*cmd)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", "Slurm accounting storage is disabled\n")


@needs_slurm
def test_job_array_runs_each_task_with_its_index(cluster, tmp_path):
    script(tmp_path / "arr.sh", 'echo "task=$SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"; sleep 1\n')
    job = sbatch(cluster, "--array=0-2", "-o", "arr-%A_%a.out", "arr.sh", cwd=tmp_path)
    recs = cluster.wait_job(job, timeout=60)
    assert sorted(r["ArrayTaskId"] for r in recs) == ["0", "1", "2"]
    assert {r["ArrayJobId"] for r in recs} == {job}
    assert {r["JobState"] for r in recs} == {"COMPLETED"}
    assert {r["ExitCode"] for r in recs} == {"0:0"}
    # every task has its own raw JobId; the base id is one of them (the task that started last)
    assert job in {r["JobId"] for r in recs} and len({r["JobId"] for r in recs}) == 3
    for i in range(3):
        assert (tmp_path / f"arr-{job}_{i}.out").read_text() == f"task={i} of {job}\n"
    # tasks are addressed as ID_INDEX in scontrol / squeue
    [one] = cluster.jobs(f"{job}_1")
    assert (one["ArrayJobId"], one["ArrayTaskId"]) == (job, "1")
    p = cluster.run("squeue", "-h", "-t", "all", "-j", f"{job}_1", "-o", "%i|%F|%K|%T")
    assert p.stdout == f"{job}_1|{job}|1|COMPLETED\n"


@needs_slurm
def test_job_array_pending_tasks_and_scancel_of_one_task(cluster, tmp_path):
    script(tmp_path / "long.sh", "sleep 60\n")
    job = sbatch(cluster, f"--array=0-{cluster.cpus + 1}", "long.sh", cwd=tmp_path)
    wait_until(lambda: sum(r["JobState"] == "RUNNING" for r in cluster.jobs(job)) == cluster.cpus)
    # pending tasks are one record "ID_[a-b]" (JobId=ID ArrayTaskId=a-b) unless squeue -r
    p = cluster.run("squeue", "-h", "-j", job, "-o", "%i|%T")
    pending = [line for line in p.stdout.splitlines() if line.endswith("|PENDING")]
    assert pending == [f"{job}_[{cluster.cpus}-{cluster.cpus + 1}]|PENDING"]
    p = cluster.run("squeue", "-h", "-r", "-j", job, "-o", "%i|%T")
    assert len(p.stdout.splitlines()) == cluster.cpus + 2
    # scancel ID_INDEX cancels only that task
    assert cluster.run("scancel", f"{job}_0").returncode == 0
    [t0] = cluster.wait_job(f"{job}_0", timeout=20)
    assert t0["JobState"] == "CANCELLED"
    assert cluster.job_state(f"{job}_1") in ("RUNNING", "PENDING")
    # scancel ID cancels the rest, pending tasks included
    assert cluster.run("scancel", job).returncode == 0
    recs = cluster.wait_job(job, timeout=20)
    assert {r["JobState"] for r in recs} == {"CANCELLED"}


@needs_slurm
@needs_ssh
def test_slurm_commands_over_ssh_with_setenv_slurm_conf(cluster, tmp_path):
    """The real use: a launcher ssh-es to the login node and runs sbatch / scontrol there."""
    script(tmp_path / "remote.sh", 'echo "on $SLURMD_NODENAME via ${SSH_CONNECTION:+ssh}"\n')
    with SSHServer(tmp_path / "sshd", env=cluster.env) as server:
        p = server.run(f"cd {tmp_path} && sbatch --parsable remote.sh")
        assert p.returncode == 0, p.stderr
        job = p.stdout.strip()
        assert job.isdigit()
        cluster.wait_job(job, timeout=30)
        p = server.run("scontrol", "show", "job", "-o", job)
        rec = parse_scontrol_line(p.stdout.strip())
        assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0")
        # the job inherited the ssh session's environment (sbatch's default --export=ALL)
        assert (tmp_path / f"slurm-{job}.out").read_text() == "on localhost via ssh\n"


@needs_slurm
def test_parse_scontrol_line_keeps_values_with_spaces():
    rec = parse_scontrol_line("JobId=7 JobName=a b JobState=RUNNING Reason=None Command=/x y/run.sh WorkDir=/x y")
    assert rec == {"JobId": "7", "JobName": "a b", "JobState": "RUNNING", "Reason": "None",
                   "Command": "/x y/run.sh", "WorkDir": "/x y"}


@needs_slurm
def test_slurm_start_failure_raises_with_the_log(tmp_path):
    broken = SlurmCluster(extra_conf=["SelectType=select/no-such-plugin"], start_timeout=10)
    with pytest.raises(DaemonError, match=r"(?s)slurmctld .*select/no-such-plugin"):
        broken.start()
    broken.close()
    assert not _all_pids_with_env(f"SLURM_CONF={broken.conf}")


# ==========================================================================================================
# PBS / torque wrappers (qsub, qstat, qdel) on top of the same cluster
# ==========================================================================================================

def qsub(cluster, *args, cwd, env=None) -> str:
    p = cluster.run("qsub", *args, cwd=cwd, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.fullmatch(r"\d+\n", p.stdout), p.stdout  # just the id, like PBS
    return p.stdout.strip()


@needs_slurm
@needs_pbs
@pytest.mark.parametrize("options, sbatch_args", [
    ([], "-e job.sh.e%A -o job.sh.o%A"),
    (["-N", "myname"], "-e myname.e%A -o myname.o%A -J myname"),
    (["-q", "gpu"], "-e job.sh.e%A -o job.sh.o%A -p gpu"),
    (["-P", "proj"], "-e job.sh.e%A -o job.sh.o%A --wckey=proj"),
    (["-A", "acct"], "-e job.sh.e%A -o job.sh.o%A --account=acct"),
    (["-l", "walltime=00:10:00"], "-e job.sh.e%A -o job.sh.o%A -t10"),
    (["-l", "walltime=90"], "-e job.sh.e%A -o job.sh.o%A -t2"),  # bare number = seconds, rounded up to minutes
    (["-l", "select=1:ncpus=1"], "-e job.sh.e%A -o job.sh.o%A -N1 --mincpus=1"),
    (["-l", "nodes=1:ppn=1"], "-e job.sh.e%A -o job.sh.o%A -N1 -n1"),
    (["-l", "mem=100mb"], "-e job.sh.e%A -o job.sh.o%A --mem=100M"),
    # several resources: one comma-separated -l; with two -l options only the LAST one counts
    (["-l", "walltime=00:10:00,select=1:ncpus=2"], "-e job.sh.e%A -o job.sh.o%A -N1 --mincpus=2 -t10"),
    (["-l", "walltime=00:10:00", "-l", "select=1:ncpus=2"], "-e job.sh.e%A -o job.sh.o%A -N1 --mincpus=2"),
    (["-l", "nodes=1:ppn=2,walltime=1:00:00"], "-e job.sh.e%A -o job.sh.o%A -N1 -n2 -t60"),
    (["-l", "select=1:ncpus=1:ngpus=1"], "-e job.sh.e%A -o job.sh.o%A -N1 --mincpus=1"),  # ngpus: dropped
    (["-l", "nodes=1:ppn=1:gpus=1"], "-e job.sh.e%A -o job.sh.o%A -N1 -n1 --gpus-per-node=1"),
    (["-W", "depend=afterok:5"], "-e job.sh.e%A -o job.sh.o%A --dependency=afterok:5"),
    (["-N", "a b"], "-e a b.e%A -o a b.o%A -J a b"),  # not quoted: the shell will split it
    (["-j", "oe"], "-o job.sh.o%A"),
    (["-o", "/x/out.log"], "-e job.sh.e%A -o /x/out.log"),
    (["-e", "/x/err.log"], "-e /x/err.log -o job.sh.o%A"),
    (["-V"], "-e job.sh.e%A -o job.sh.o%A --export=all"),
    (["-v", "A=1,B"], "-e job.sh.e%A -o job.sh.o%A --export=none,A=1"),
    (["-J", "0-2"], "-e job.sh.e%A.%a -o job.sh.o%A.%a --array='0-2'"),
    (["-t", "0-2"], "-e job.sh.e%A.%a -o job.sh.o%A.%a --array='0-2'"),
    (["-h"], "-e job.sh.e%A -o job.sh.o%A -H"),
])
def test_qsub_translates_pbs_options_to_sbatch(cluster, tmp_path, options, sbatch_args):
    p = cluster.run("qsub", "--sbatchline", *options, "job.sh", cwd=tmp_path)
    assert (p.returncode, p.stdout) == (0, f"{shutil.which('sbatch')} {sbatch_args} job.sh\n")


@needs_slurm
@needs_pbs
def test_qsub_submits_with_pbs_options_and_writes_pbs_style_output_files(cluster, tmp_path):
    script(tmp_path / "job.sh", 'echo "out ${WB_FROM_SUBMITTER:-unset} ${PBS_JOBID:-no-pbs-vars}"; echo err >&2\n')
    env = {"WB_FROM_SUBMITTER": "yes"}
    plain = qsub(cluster, "job.sh", cwd=tmp_path, env=env)
    named = qsub(cluster, "-N", "myname", "-q", "gpu", "-l", "walltime=00:10:00,select=1:ncpus=1",
                 "job.sh", cwd=tmp_path, env=env)
    joined = qsub(cluster, "-j", "oe", "-o", str(tmp_path / "joined.log"), "-V", "-l", "nodes=1:ppn=1",
                  "job.sh", cwd=tmp_path, env=env)
    project = qsub(cluster, "-P", "proj", "-A", "acct", "job.sh", cwd=tmp_path, env=env)
    only_v = qsub(cluster, "-v", "OTHER=1", "job.sh", cwd=tmp_path, env=env)
    for job in (plain, named, joined, project, only_v):
        [rec] = cluster.wait_job(job, timeout=60)
        assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0")

    # PBS-style file names in the submission folder; no PBS_* variables in the job; without -V the
    # environment still reaches the job (the wrapper keeps sbatch's --export=ALL default)
    assert (tmp_path / f"job.sh.o{plain}").read_text() == "out yes no-pbs-vars\n"
    assert (tmp_path / f"job.sh.e{plain}").read_text() == "err\n"

    rec = cluster.jobs(named)[0]
    assert (rec["JobName"], rec["Partition"], rec["TimeLimit"], rec["MinCPUsNode"]) == \
        ("myname", "gpu", "00:10:00", "1")
    assert rec["NumNodes"] in ("1", "1-1")  # "1-1" while pending (the -N1 min-max), "1" once allocated
    assert (tmp_path / f"myname.o{named}").read_text() == "out yes no-pbs-vars\n"
    assert (tmp_path / f"myname.e{named}").read_text() == "err\n"

    assert (tmp_path / "joined.log").read_text() == "out yes no-pbs-vars\nerr\n"  # -j oe: stderr in -o file
    assert not list(tmp_path.glob(f"*.e{joined}"))
    assert cluster.jobs(joined)[0]["NumTasks"] == "1"

    rec = cluster.jobs(project)[0]
    assert rec["Account"] == "acct"  # -A: accepted as is (no accounting to check it against)
    assert "WCKey" not in rec  # -P becomes --wckey, silently dropped without TrackWCKey/accounting

    assert (tmp_path / f"job.sh.o{only_v}").read_text() == "out unset no-pbs-vars\n"  # -v: --export=none,...


@needs_slurm
@needs_pbs
def test_qsub_failures(cluster, tmp_path):
    script(tmp_path / "job.sh", "true\n")
    p = cluster.run("qsub", "-q", "nosuch", "job.sh", cwd=tmp_path)
    # sbatch's error comes back on stdout (not stderr), wrapped, with sbatch's exit status
    assert p.returncode == 1 and p.stderr == ""
    assert p.stdout.startswith("There was an error running the Slurm sbatch command.\nThe command was:\n")
    assert "sbatch: error: invalid partition specified: nosuch" in p.stdout
    assert "Batch job submission failed: Invalid partition name specified" in p.stdout

    p = cluster.run("qsub", "-l", "walltime=bogus", "job.sh", cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (255, "", "Invalid time limit specified (bogus)\n")

    p = cluster.run("qsub", "-l", f"select=1:ncpus={cluster.cpus + 2}", "job.sh", cwd=tmp_path)
    assert p.returncode == 1 and "CPU count per node can not be satisfied" in p.stdout

    p = cluster.run("qsub", cwd=tmp_path)  # no script
    assert p.returncode == 2 and "Usage:" in p.stdout + p.stderr

    # more nodes than exist is accepted, and then pends forever
    job = qsub(cluster, "-l", "nodes=2:ppn=1", "job.sh", cwd=tmp_path)
    rec = wait_until(lambda: [r for r in cluster.jobs(job) if r["Reason"] != "None"])[0]
    assert rec["JobState"] == "PENDING" and rec["Reason"] in ("PartitionNodeLimit", "PartitionConfig")
    assert cluster.run("qdel", job).returncode == 0


@needs_slurm
@needs_pbs
def test_pbs_directives_in_the_script(cluster, tmp_path):
    # sbatch itself reads #PBS lines (next to #SBATCH ones; a #PBS -N even beats an #SBATCH -J), so they
    # work through both commands
    script(tmp_path / "d.sh", "#PBS -N dirname\n#PBS -q gpu\n#PBS -l walltime=00:05:00\n#PBS -A acct\n"
                              "echo out; echo err >&2\n")
    by_qsub = qsub(cluster, "d.sh", cwd=tmp_path)
    by_sbatch = sbatch(cluster, "d.sh", cwd=tmp_path)
    for job in (by_qsub, by_sbatch):
        [rec] = cluster.wait_job(job, timeout=60)
        assert (rec["JobName"], rec["Partition"], rec["TimeLimit"], rec["Account"], rec["JobState"]) == \
            ("dirname", "gpu", "00:05:00", "acct", "COMPLETED")
    # output names: qsub always passes -o/-e NAME.o%A; sbatch uses its own default
    assert (tmp_path / f"d.sh.o{by_qsub}").read_text() == "out\n"  # script name, not the #PBS -N name
    assert (tmp_path / f"slurm-{by_sbatch}.out").read_text() == "out\nerr\n"

    # #PBS -o / -e / -j are honoured by sbatch but overridden by qsub's own -o/-e
    script(tmp_path / "o.sh", f"#PBS -o {tmp_path}/dout.log\n#PBS -e {tmp_path}/derr.log\necho out; echo err >&2\n")
    by_sbatch = sbatch(cluster, "o.sh", cwd=tmp_path)
    by_qsub = qsub(cluster, "o.sh", cwd=tmp_path)
    for job in (by_sbatch, by_qsub):
        cluster.wait_job(job, timeout=60)
    assert (tmp_path / "dout.log").read_text() == "out\n" and (tmp_path / "derr.log").read_text() == "err\n"
    assert (tmp_path / f"o.sh.o{by_qsub}").read_text() == "out\n"

    # #PBS -J (array) works; #PBS -P does not exist for sbatch: the submission fails
    script(tmp_path / "a.sh", '#PBS -J 0-1\necho "i=$SLURM_ARRAY_TASK_ID"\n')
    job = sbatch(cluster, "a.sh", cwd=tmp_path)
    recs = cluster.wait_job(job, timeout=60)
    assert sorted(r["ArrayTaskId"] for r in recs) == ["0", "1"]
    script(tmp_path / "p.sh", "#PBS -P proj\ntrue\n")
    p = cluster.run("sbatch", "p.sh", cwd=tmp_path)
    assert p.returncode == 1
    assert p.stderr == "sbatch: invalid option -- 'P'\nsbatch: error: Unrecognized command line parameter ?\n"
    p = cluster.run("qsub", "p.sh", cwd=tmp_path)
    assert p.returncode == 1 and "sbatch: invalid option -- 'P'" in p.stdout


@needs_slurm
@needs_pbs
def test_qstat_and_qdel_for_queued_running_and_finished_jobs(cluster, tmp_path):
    script(tmp_path / "long.sh", "sleep 60\n")
    script(tmp_path / "quick.sh", "exit 4\n")
    held = qsub(cluster, "-h", "long.sh", cwd=tmp_path)  # -h: held, so it stays queued
    running = qsub(cluster, "long.sh", cwd=tmp_path)
    done = qsub(cluster, "quick.sh", cwd=tmp_path)
    cluster.wait_job(running, timeout=30, states={"RUNNING"})
    cluster.wait_job(done, timeout=30)
    assert cluster.jobs(held)[0]["Reason"] == "JobHeldUser"

    header = ("Job id              Name             Username        Time Use S Queue          \n"
              "------------------- ---------------- --------------- -------- - ---------------\n")
    for job, name, letter in ((held, "long.sh", "Q"), (running, "long.sh", "R"), (done, "quick.sh", "C")):
        p = cluster.run("qstat", job)
        assert p.returncode == 0
        assert p.stdout == header + f"{job:<19} {name:<16} {'root':<15} 00:00:00 {letter} {'debug':<15}\n"
        p = cluster.run("qstat", "-f", job)
        assert p.returncode == 0
        assert p.stdout.startswith(f"Job Id:\t{job}\n\tJob_Name = {name}\n\tJob_Owner = root@localhost\n"
                                   f"\tjob_state = {letter}\n\tqueue = debug\n")
        assert "exit" not in p.stdout.lower()  # no exit status anywhere in qstat -f: use scontrol for it
        # no time limit reads as a huge number, not "unlimited": INFINITE (71582788:15:00), or for a job
        # already running, slurmctld's one-year horizon (8760:00:00)
        walltime = re.search(r"\tResource_List\.walltime = (\d+):(\d\d):(\d\d)\n", p.stdout)
        assert walltime and int(walltime.group(1)) >= 8760, p.stdout
    assert cluster.jobs(done)[0]["ExitCode"] == "4:0"
    # plain qstat lists every job slurm still remembers, header first
    p = cluster.run("qstat")
    assert p.returncode == 0 and p.stdout.startswith(header)
    assert {line.split()[0] for line in p.stdout.splitlines()[2:]} >= {held, running, done}

    # unknown id: no output at all, exit status 153
    assert (cluster.run("qstat", "999999").returncode, cluster.run("qstat", "999999").stdout) == (153, "")
    assert cluster.run("qstat", "-f", "999999").returncode == 153

    # qdel: silent exit 0 on success; silent exit 1 for finished or unknown jobs
    for job in (held, running):
        p = cluster.run("qdel", job)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    for job in (held, running):
        assert cluster.wait_job(job, timeout=20)[0]["JobState"] == "CANCELLED"
        assert cluster.run("qstat", job).stdout.splitlines()[2].split()[4] == "C"
    for job in (done, running, "999999"):
        p = cluster.run("qdel", job)
        assert (p.returncode, p.stdout, p.stderr) == (1, "", "")


@needs_slurm
@needs_pbs
def test_qsub_arrays_and_how_qstat_qdel_address_them(cluster, tmp_path):
    script(tmp_path / "arr.sh", 'echo "i=$SLURM_ARRAY_TASK_ID"\n')
    job = qsub(cluster, "-J", "0-2", "arr.sh", cwd=tmp_path)  # qsub prints the base id
    recs = cluster.wait_job(job, timeout=60)
    assert sorted(r["ArrayTaskId"] for r in recs) == ["0", "1", "2"]
    for i in range(3):
        assert (tmp_path / f"arr.sh.o{job}.{i}").read_text() == f"i={i}\n"
        assert (tmp_path / f"arr.sh.e{job}.{i}").read_text() == ""
    # qstat knows only raw job ids: the tasks show as separate jobs; "ID_1" matches nothing
    p = cluster.run("qstat")
    listed = {line.split()[0] for line in p.stdout.splitlines()[2:]}
    assert {r["JobId"] for r in recs} <= listed
    assert not any("_" in jid or "[" in jid for jid in listed)
    assert cluster.run("qstat", f"{job}_1").returncode == 153

    # qdel ID_INDEX is read as the number ID (perl numeric conversion): it cancels the WHOLE array
    script(tmp_path / "long.sh", "sleep 60\n")
    job = qsub(cluster, "-t", "0-3", "long.sh", cwd=tmp_path)
    wait_until(lambda: any(r["JobState"] == "RUNNING" for r in cluster.jobs(job)))
    p = cluster.run("qdel", f"{job}_1")
    assert p.returncode == 0
    assert f'Argument "{job}_1" isn\'t numeric' in p.stderr
    recs = cluster.wait_job(job, timeout=20)
    assert {r["JobState"] for r in recs} == {"CANCELLED"}
    # the tasks that never started stay one record, e.g. ArrayTaskId=2-3
    assert sum(len(range(int(r["ArrayTaskId"].split("-")[0]), int(r["ArrayTaskId"].split("-")[-1]) + 1))
               for r in recs) == 4
