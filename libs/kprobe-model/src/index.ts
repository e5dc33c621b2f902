export { KPROBE_HASH_BITS, KPROBE_TABLE_SIZE, hashPtr, kprobeBucket } from './hash';
export { INT3, DUPLICATE_WINDOW, initialState, type HostState, type KprobeSite, type ModelState, type ProbeState, type Recent, type StreamState } from './state';
export { applyToHost, evolve, evolveHit, hostAfterBoot, type Evolution } from './evolve';
export { hydrateHost, savedProbes, type SavedProbe } from './hydrate';
export { ARMED_BYTE, ENDBR64, NOP5, REL32_INSN_SIZE } from './mechanism';
export { decide, resolveSymbol, type Command, type CommandSource, type Decision, type KernelImage, type KernelSymbol } from './decide';
export { checkInvariants, hostSnapshot, snapshot, type HostSnapshot, type ModelSnapshot, type ProbeSnapshot } from './snapshot';
export { createReplay, replay, type Replay, type ReplayFailure, type ReplayOutcome } from './replay';
