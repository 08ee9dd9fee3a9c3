"""Launch targets. Each prepares a run folder's command, submits it, reports status, and
cancels it; followers tail the run's events into the store. Local runs today; ssh, slurm,
pbs and multi-process arrive behind the same functions."""
