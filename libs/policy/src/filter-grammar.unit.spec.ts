import { FilterDefinitionError, renderFilter, validateFilterLine, type FilterComparison } from './filter-grammar';

const eq = (field: string, value: number | bigint): FilterComparison => ({ field, op: '==', value });

describe('filter grammar', () => {
  it('renders a conjunction of alternatives', () => {
    expect(renderFilter([[eq('sport', 80), eq('dport', 80)], [eq('family', 2)]])).toBe('(sport == 80 || dport == 80) && family == 2');
    expect(renderFilter([[{ field: 'flags', op: '&', value: 0xffff_ffff_ffffn }]])).toBe('flags & 281474976710655');
    expect(renderFilter([])).toBe('');
  });

  it.each([
    ['a field carrying an operator', [[eq('sport || 1', 1)]]],
    ['a field with a newline', [[eq('sport\ndport', 1)]]],
    ['an unknown operator', [[{ field: 'sport', op: '=~', value: 1 }]]],
    ['a string value', [[{ field: 'comm', op: '==', value: '"x" || 1' }]]],
    ['a fractional value', [[eq('sport', 1.5)]]],
    ['an unsafe number', [[eq('sport', 2 ** 60)]]],
    ['a value beyond 64 bits', [[eq('sport', 1n << 64n)]]],
    ['an empty alternative', [[]]],
  ])('refuses %s', (_what, expr) => {
    expect(() => renderFilter(expr as never)).toThrow(FilterDefinitionError);
  });

  it('checks any line by the grammar: one expression of `field op integer` terms, nothing else', () => {
    for (const ok of ['sport == 1', '(sport == 1 || dport == 2) && family == 10', 'x & 4', 'a != -1']) expect(() => validateFilterLine(ok)).not.toThrow();
    for (const bad of ['sport == 1\ndport == 2', 'sport == 1 &&', '(sport == 1', 'sport == 1)', 'comm == "x"', 'comm ~ "*x*"', 'sport == 1 dport == 2', 'sport', '!sport == 1', 'sport == 0x10', 'sport == 1; echo'])
      expect(() => validateFilterLine(bad)).toThrow(FilterDefinitionError);
  });
});
