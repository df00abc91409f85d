"""Running the generated suite: the runner (sharding, the pytest subprocess), the pytest plugin
that records per-test results, the warm server and the run history."""
