"""The test suite; a package only so that `tests.harness` imports from the repository root (bench)."""
