import { policyCommand } from './policy';

describe('probefleet policy', () => {
  it('has its six sub-commands, each a leaf (none carries another under it)', () => {
    const cmd = policyCommand();
    expect(cmd.commands.map((c) => c.name()).sort()).toEqual(['apply', 'delete', 'get', 'keygen', 'list', 'status']);
    for (const c of cmd.commands) expect([c.name(), c.commands.map((s) => s.name())]).toEqual([c.name(), []]);
  });
});
