-- Issue 18: how the kernel armed each kprobe, as the agent read it from debugfs kprobes/list
-- (probe.armed's mechanism, probe.state's flags). NULL mechanism: not reported (tracepoints, hosts
-- without debugfs, rows from before this migration). post_handler: a kprobe the optimizer leaves alone.
ALTER TABLE probes
  ADD COLUMN mechanism text CHECK (mechanism IN ('int3', 'ftrace', 'optimized')),
  ADD COLUMN post_handler boolean NOT NULL DEFAULT false,
  ADD COLUMN disabled boolean NOT NULL DEFAULT false,
  ADD COLUMN gone boolean NOT NULL DEFAULT false;
