"""What tests and benchmarks share: throwaway servers, the API server, NATS stream helpers, the
v1 log fixture and the multi-process topology. Tests import it as `harness.x` (pytest puts
tests/ on the path); the benchmarks, run from the repository root as `python -m bench.<name>`,
as `tests.harness.x`. Modules here import each other relatively so both work."""
