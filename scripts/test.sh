#!/usr/bin/env bash
# The whole test suite: creates .venv, installs the project with [dev,spark], runs ruff, mypy,
# import-linter (the layer contracts in pyproject.toml) and pytest.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not slow"`).
EXTRAS="dev,spark" source "$(dirname "$0")/_venv.sh"
echo "== ruff"; ruff check forecasting tests benchmarks && ruff format --check forecasting tests benchmarks
echo "== mypy"; mypy
echo "== import-linter"; lint-imports --no-cache | tail -n 6
# two pytest workers, a test file each at a time (a file's fixtures, a Spark cluster or a
# fitted predictor, are built once): many tests wait on subprocesses, a JVM or a server
# each worker gets its share of the cores for LightGBM's OpenMP threads: threads that wait spin,
# so two workers of two threads each on two cores made a fit up to six times slower
workers="${PYTEST_WORKERS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / workers > 0 ? $(nproc) / workers : 1 ))}"
echo "== pytest"; exec python -m pytest -n "$workers" --dist loadfile "$@"
