"""The engine: plans, steps, executors, limits, the endpoint pool, stage 5, the split, the run directory
and publishing. It reads the configuration (config/) and never the interface."""
