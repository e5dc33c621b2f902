#!/usr/bin/env node
// Stays in the source tree so npm links the command at install time, before the first build.
require('../dist/main.js');
