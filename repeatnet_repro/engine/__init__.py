"""Training machinery: loop, checkpoints, run records, tracking, optimisers and schedules."""
