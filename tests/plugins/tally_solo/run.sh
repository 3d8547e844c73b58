#!/usr/bin/env bash
# tally_solo: the tally fixture (../tally/run.sh) under a manifest with concurrency_safe: false.
exec "${BASH_SOURCE%/*}/../tally/run.sh"
