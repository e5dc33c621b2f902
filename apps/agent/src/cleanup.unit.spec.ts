import { spawnSync } from 'node:child_process';
import { instanceDirId, isStale } from './cleanup';

describe('leftover instances', () => {
  const uuid = '0f8e7d6c-5b4a-4392-8170-000000000001';

  it('names the tracing instance after its owner pid', () => {
    expect(instanceDirId(uuid, 4242)).toBe(`4242-${uuid}`);
  });

  it('keeps the instance of a live process and takes those of gone ones, unnamed ones and our own pid', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid as number;
    expect(isStale(`probefleet-${process.ppid}-${uuid}`)).toBe(false);
    expect(isStale(`probefleet-${gone}-${uuid}`)).toBe(true);
    expect(isStale(`probefleet-${uuid}`)).toBe(true);
    expect(isStale(`probefleet-${process.pid}-${uuid}`)).toBe(true);
  });
});
