#!/usr/bin/env -S node --max-semi-space-size=64
// Stays in the source tree so npm links the command at install time, before the first build.
// A young generation of 64 MiB lets a stored batch's objects die young instead of being promoted:
// measured in bench/ingest, 14 % less CPU per stored event (notes in bench/results/ingest.json).
require('../dist/cli.js');
