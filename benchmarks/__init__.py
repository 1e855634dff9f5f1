"""Benchmarks: streams (split / permuted / rotated), specs, the resumable grid runner, reports and paper configs."""
