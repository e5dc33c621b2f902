// The agent as one executable (Node single executable application) runs without the repository:
// built by `npm run build:agent-binary`, copied alone to a temp dir, it answers `doctor --json`.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..');

describe('single-file agent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probefleet-binary-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds, and runs doctor --json away from the repository', async () => {
    const built = join(dir, 'build', 'probefleet-agent');
    await run('bash', [join(repo, 'deploy/systemd/build-agent-binary.sh'), built], { cwd: repo, timeout: 300000 });
    const alone = join(dir, 'probefleet-agent');
    copyFileSync(built, alone);
    expect(statSync(alone).mode & 0o111).not.toBe(0);

    const { stdout } = await run(alone, ['doctor', '--json'], { cwd: dir, timeout: 30000 });
    const report = JSON.parse(stdout) as { kernelRelease: string; tracefs: string | null; btf: { present: boolean } };
    expect(report.kernelRelease).toMatch(/^\d+\.\d+/);
    expect(report.tracefs).toBe('/sys/kernel/tracing');
    expect(report.btf.present).toBe(true);
    const version = await run(alone, ['--version'], { cwd: dir });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
