"""Launch targets behind one interface: prepare (render the command or batch script) → submit
→ status → follow → cancel, for local, ssh, slurm and pbs.

  targets.py     parse `launch.target` (local, ssh:HOST, slurm[:HOST], pbs[:HOST])
  commands.py    the training command (python or accelerate launch) and the shell prelude
  batch.py       sbatch / PBS scripts, scheduler states, submit and cancel commands
  supervisor.py  `python -m workbench.launch.supervisor RUN_DIR`: runs the trainer, records its exit
  agent.py       the job side: start, submit, state, tail, cancel (in-process here, over ssh remotely)
  hosts.py       where the agent runs: this machine, or an ssh host (upload with rsync or sftp)
  launcher.py    create run folders and submit them; cancel
  follow.py      mirror remote event files, ingest into the store, settle the final status
"""
