import { decodeEvent, scanHit, type DecodeFailure } from '@probefleet/events';
import { evolve, evolveHit, type Evolution } from './evolve';
import { initialState, type ModelState } from './state';

/** `line` is 1-based. `invalid`: the line is not a valid event; `violation`: a valid event the model refuses. */
export type ReplayFailure =
  | { ok: false; kind: 'invalid'; line: number; failure: DecodeFailure }
  | { ok: false; kind: 'violation'; line: number; reason: string };

/** `events`: events applied; `duplicates`: exact repeats skipped. */
export type ReplayOutcome = { ok: true; state: ModelState; events: number; duplicates: number } | ReplayFailure;

export interface Replay {
  /** Feeds the next NDJSON line (blank lines are skipped but counted); returns the failure that ends the replay. */
  feed(line: string): ReplayFailure | undefined;
  /** The outcome so far: the first failure, or the state. */
  finish(): ReplayOutcome;
}

/** Incremental replay, for line sources that arrive piecewise (files, streams). */
export function createReplay(state: ModelState = initialState()): Replay {
  let line = 0;
  let events = 0;
  let duplicates = 0;
  let failed: ReplayFailure | undefined;
  return {
    feed(text) {
      if (failed !== undefined) return failed;
      line++;
      // Cheap blank test first: an event line starts with '{'.
      if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return undefined;
      // Hits are nearly all of a stream: scanned without JSON.parse when spelled as encodeEvent spells them.
      const hit = scanHit(text);
      let evolution: Evolution;
      if (hit !== undefined) evolution = evolveHit(state, hit);
      else {
        const decoded = decodeEvent(text);
        if (!decoded.ok) return (failed = { ok: false, kind: 'invalid', line, failure: decoded });
        evolution = evolve(state, decoded.value);
      }
      if (!evolution.ok) return (failed = { ok: false, kind: 'violation', line, reason: evolution.reason });
      if (evolution.duplicate) duplicates++;
      else events++;
      return undefined;
    },
    finish() {
      return failed ?? { ok: true, state, events, duplicates };
    },
  };
}

/** Folds NDJSON lines of any number of interleaved hosts and streams into the model. */
export function replay(lines: Iterable<string>): ReplayOutcome {
  const run = createReplay();
  for (const line of lines) if (run.feed(line) !== undefined) break;
  return run.finish();
}
