"""One dynamic partition per image file."""

from __future__ import annotations

import dagster as dg

IMAGES_PARTITIONS_NAME = "images"
images_partitions = dg.DynamicPartitionsDefinition(name=IMAGES_PARTITIONS_NAME)

# Partitions per run: one run costs seconds and ~100 MB, so each run processes a batch.
# Larger batches amortize more; smaller ones show progress sooner and lose less on a retry.
PARTITIONS_PER_RUN = 25
batch_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)
