// Progress of a long command on stderr, when it is a terminal and not CI: the count, the total
// when known, the rate and the time left, redrawn in place at most a few times a second.
// Piped or in CI it writes nothing, so logs and captured output stay clean.

export interface Progress {
  /** The count so far (absolute). */
  update(count: number): void;
  done(): void;
}

const NONE: Progress = { update() {}, done() {} };

export function progressEnabled(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && !env.CI;
}

export function progress(what: string, total?: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!progressEnabled(stream)) return NONE;
  const start = Date.now();
  let last = 0;
  let count = 0;
  const draw = () => {
    const s = (Date.now() - start) / 1000;
    const rate = s > 0 ? count / s : 0;
    const of = total === undefined ? '' : ` / ${total} (${total > 0 ? Math.floor((100 * count) / total) : 100}%)`;
    const eta = total !== undefined && rate > 0 && count < total ? `, ETA ${duration((total - count) / rate)}` : '';
    stream.write(`\r\x1b[K${what}: ${count}${of}, ${Math.round(rate)}/s${eta}`);
  };
  return {
    update(n) {
      count = n;
      const now = Date.now();
      if (now - last >= 200) {
        last = now;
        draw();
      }
    },
    done() {
      draw();
      stream.write('\n');
    },
  };
}

function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
