#!/usr/bin/env bash
# One study on a SLURM cluster: one array task per GPU, task 0 the coordinator (it sets the study
# up on the shared storage, enqueues it and works like the others), the rest --worker processes.
# Every task needs the same PostgreSQL database and MLflow server (docs/scaling.md)
# and one models folder on a shared filesystem (MODELS, default $RESULTS/models; the claims on
# the models are in the database); RESULTS may be each node's own disk.
#
#   STUDY=sde_ablation STORAGE=postgresql://USER@DBHOST/optuna TRACKING=http://MLFLOWHOST:5000 \
#   RESULTS=/tmp/results MODELS=/shared/models sbatch --array=0-7 scripts/slurm-array.sh \
#       scale=paper data=vbdmd data.root=/data/vbdmd
#
# Not run here (no SLURM on the development machines); the commands it runs are the tested ones
# (tests/scale/test_shared_stores.py, tests/scale/test_worker_kills.py).
#SBATCH --job-name=benchmark
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=48:00:00
#SBATCH --output=%x-%A_%a.out
set -euo pipefail
: "${STUDY:?set STUDY}" "${STORAGE:?set STORAGE}" "${TRACKING:?set TRACKING}" "${RESULTS:?set RESULTS}"
run=(python -m benchmark.run "study=$STUDY" --storage "$STORAGE" --tracking-uri "$TRACKING"
     --results "$RESULTS" --models "${MODELS:-$RESULTS/models}" --jobs 1 --no-report device=cuda "$@")
if [ "${SLURM_ARRAY_TASK_ID:-0}" = 0 ]; then
    exec "${run[@]}"
fi
# a worker joins once the coordinator has set the study up (--worker exits 3 before that)
for _ in $(seq 120); do
    if "${run[@]}" --worker; then exit 0; else rc=$?; fi
    [ "$rc" = 3 ] || exit "$rc"
    sleep 30
done
echo "error: the coordinator (array task 0) never set study $STUDY up on $STORAGE" >&2
exit 3
