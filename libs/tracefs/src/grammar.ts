// The grammars of what is written to tracefs (kprobe_events lines, filters) are pure and live in
// libs/policy, which validates policies and configs with them; tracefs writes what they render.
export {
  buildKprobeLine,
  buildRemoveLine,
  FILTER_OPS,
  FilterDefinitionError,
  isValidKprobeLine,
  KprobeDefinitionError,
  MAX_FILTER_LENGTH,
  parseKprobeLine,
  renderFilter,
  validateFilterLine,
  validateKprobeDefinition,
  X86_64_REGISTERS,
  type FetchArg,
  type FilterComparison,
  type FilterExpression,
  type FilterOp,
  type KprobeDefinition,
  type ProbeKind,
} from '@probefleet/policy';
