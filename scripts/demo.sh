#!/usr/bin/env bash
# The main job end to end on built-in synthetic data: creates .venv, installs, runs `forecasting demo`.
EXTRAS="" source "$(dirname "$0")/_venv.sh"
exec forecasting demo "$@"
