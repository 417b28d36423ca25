"""Local stand-in servers that behave like the real APIs, for tests and benchmarks."""
