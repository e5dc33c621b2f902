// Upper bounds of the event contract, each taken from the source of its value (the kernel's own
// buffers, the tracefs grammar, DNS), so that an event over one is refused as malformed (and
// dead-lettered) rather than stored. libs/tracefs imports the tracefs limits from here: one copy.

/** TASK_COMM_LEN (include/linux/sched.h) is 16 bytes with the NUL: a comm holds at most 15 bytes. */
export const TASK_COMM_LEN = 16;
/**
 * comm, in the kernel's bytes. The agent's own spellings (`<idle>`, `<...>`, from the kernel's
 * trace_find_cmdline) fit too.
 */
export const MAX_COMM_BYTES = TASK_COMM_LEN - 1;
/** A DNS name (RFC 1035: 253 characters in text form); the agent's host is one, or a node name. */
export const MAX_HOST_BYTES = 253;
/** struct new_utsname fields are char[__NEW_UTS_LEN + 1] with __NEW_UTS_LEN 64: `uname -r`, `uname -m`. */
export const MAX_UTSNAME_BYTES = 64;
export const MAX_KERNEL_RELEASE_BYTES = MAX_UTSNAME_BYTES;
export const MAX_ARCH_BYTES = MAX_UTSNAME_BYTES;

// tracefs (kernel/trace/trace.h, trace_probe.h): event and group names are below MAX_EVENT_NAME_LEN.
export const MAX_EVENT_NAME_LEN = 64;
/** A group or event name: MAX_EVENT_NAME_LEN with its NUL. */
export const MAX_NAME_LEN = MAX_EVENT_NAME_LEN - 1;
/** A probe is `group/event`. */
export const MAX_PROBE_NAME_LEN = 2 * MAX_NAME_LEN + 1;
/** MAX_TRACE_ARGS: fetch args of one probe. */
export const MAX_TRACE_ARGS = 128;
/** MAX_ARRAY_LEN: elements of an array fetch type. */
export const MAX_ARRAY_LEN = 64;
/** MAX_ARG_NAME_LEN (trace_probe.h): the kernel refuses longer fetch-arg names. */
export const MAX_ARG_NAME_LEN = 32;
/** MAX_STRING_SIZE = PATH_MAX, NUL included: a `string`/`ustring` fetch holds at most 4095 bytes. */
export const MAX_STRING_ARG_BYTES = 4096 - 1;
/** KSYM_NAME_LEN (6.1+: 512, NUL included) and MODULE_NAME_LEN (64 - sizeof(long), NUL included). */
export const KSYM_NAME_LEN = 512;
export const MODULE_NAME_LEN = 56;
/**
 * A kprobe's target `[MOD:]SYM` or a tracepoint's `group:event`, whichever is longer. The offset
 * travels as its own field.
 */
export const MAX_SYMBOL_LEN = Math.max(MODULE_NAME_LEN - 1 + 1 + KSYM_NAME_LEN - 1, MAX_PROBE_NAME_LEN);
/**
 * A line written to kprobe_events: trace_parse_run_command reads WRITE_BUFSIZE (4096) at a time and
 * refuses a line that does not fit with its newline and NUL ("Should be less than 4094").
 */
export const MAX_DEFINITION_LEN = 4096 - 2;
/** The agent's version (package.json, semver): ours, generous for pre-release and build tags. */
export const MAX_AGENT_VERSION_BYTES = 64;
/**
 * agent.stopped reason: a signal name, `completed`, `reader stopped`, or `error: ` and a message,
 * which may quote a definition line and the kernel's error_log entry (itself under a page).
 */
export const MAX_REASON_BYTES = 2 * 4096;
/**
 * capabilities: what discovery found, a handful of names, the longest `tracepoint:group:event`.
 * 32 leaves room for new probes of discovery without letting an array grow unbounded.
 */
export const MAX_CAPABILITIES = 32;
export const MAX_CAPABILITY_LEN = 'tracepoint:'.length + MAX_PROBE_NAME_LEN;
/** agent.heartbeat counters: the agent's own metric names (about ten), camelCase identifiers. */
export const MAX_COUNTERS = 64;
export const MAX_COUNTER_NAME_LEN = 64;

/** Bytes of `s` in UTF-8 (a lone surrogate counts as the 3 bytes of U+FFFD it would be written as). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/** Whether `s` takes at most `max` bytes in UTF-8, without counting when its length decides. */
export function fitsUtf8(s: string, max: number): boolean {
  if (s.length > max) return false;
  return s.length * 3 <= max || utf8Length(s) <= max;
}

/**
 * The fewest kernel bytes `s` can have been decoded from. The agent decodes kernel text (comm, string
 * fetch args) as UTF-8, where each invalid byte becomes U+FFFD: so a U+FFFD counts as one byte, and
 * every other character as its UTF-8 bytes. At most 3 × the kernel's bound in UTF-8, whatever the bytes.
 */
export function kernelTextLength(s: string): number {
  let n = utf8Length(s);
  for (let i = s.indexOf('\ufffd'); i !== -1; i = s.indexOf('\ufffd', i + 1)) n -= 2;
  return n;
}

/** Whether `s` fits a kernel buffer of `max` bytes (see kernelTextLength). */
export function fitsKernelText(s: string, max: number): boolean {
  if (s.length > max) return false;
  return s.length * 3 <= max || kernelTextLength(s) <= max;
}

// The owner of a socket (probe.hit `owner`), from /proc/<pid>/cgroup and the container runtimes.
/** A cgroup path is a path in cgroupfs: PATH_MAX (4096) with its NUL. */
export const MAX_CGROUP_BYTES = 4096 - 1;
/**
 * A container id: 64 hex digits for docker, containerd, CRI-O and podman; a systemd unit name
 * (the "container" of a service) is at most UNIT_NAME_MAX = 256 bytes with its NUL.
 */
export const MAX_CONTAINER_ID_BYTES = 256 - 1;
/** A pod's namespace is a DNS label (RFC 1123: 63), its name a DNS subdomain (253). */
export const MAX_POD_NAMESPACE_BYTES = 63;
export const MAX_POD_NAME_BYTES = 253;
