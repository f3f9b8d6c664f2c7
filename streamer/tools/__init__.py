"""Developer tools: benchmarks and measurements that are not part of the daemon."""
