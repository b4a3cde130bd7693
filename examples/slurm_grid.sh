#!/usr/bin/env bash
# Worked example: the paper's study (4 architectures x 7 methods x 5 sparsities x 3 data sets x 3 seeds,
# plus the dense baselines) pruned, trained and measured on a SLURM cluster through dask-jobqueue.
#
# NOT TESTED by the test suite: it needs a SLURM cluster, GPUs and the CIFAR-10/100 and Tiny-ImageNet files.
# The batch layer it relies on is tested with a dask LocalCluster (tests/test_batch.py); the SLURM part is
# dask-jobqueue's SLURMCluster, configured from --cluster-options.
#
# Run it on a login node (the driver is light: it submits tasks and writes the table as rows arrive):
#   pip install 'topometrics[cluster]'
#   bash examples/slurm_grid.sh            # resumable: run it again after an interruption
set -euo pipefail

DATA=${DATA:-$HOME/data}          # holds cifar-10-batches-py/, cifar-100-python/, tiny-imagenet-200/
OUT=${OUT:-$HOME/topometrics-study}
JOBS=${JOBS:-16}                  # SLURM jobs = dask workers, one GPU each

# 1. Prune and train every network (1,260 trainings of 160 / 100 epochs): one task per run, one GPU per task.
#    Each SLURM job starts one dask worker with the resource GPU=1; --gpus-per-task 1 makes the scheduler place
#    one training per worker.  Checkpoints and results.csv are written under $OUT/grid (a shared file system).
topometrics grid \
  --archs conv6 resnet20 resnet32 wrn28_2 \
  --methods dense snip grasp synflow prospr uniform er erk \
  --sparsities 0.6 0.8 0.9 0.95 0.98 \
  --datasets cifar10 cifar100 tinyimagenet \
  --seeds 0 1 2 \
  --data-root "$DATA" --train --device cuda \
  --out "$OUT/grid" \
  --cluster slurm -j "$JOBS" --gpus-per-task 1 \
  --cluster-options "cores=4 processes=1 memory=32GB walltime=24:00:00 queue=gpu \
job_extra_directives='[\"--gres=gpu:1\"]' worker_extra_args='[\"--resources\", \"GPU=1\"]'"

# 2. Measure every trained checkpoint (CPU jobs; the largest graphs need tens of GB, see the memory guard).
topometrics metrics "$OUT"/grid/checkpoints/*/*/*/*.pt \
  -o "$OUT/metrics.csv" \
  --cluster slurm -j "$JOBS" \
  --cluster-options "cores=8 processes=1 memory=64GB walltime=12:00:00 queue=cpu"

# 3. Regress accuracy on the topometrics and rank the methods (one machine is enough).
topometrics analyze "$OUT/metrics.csv" --out "$OUT/analysis"
