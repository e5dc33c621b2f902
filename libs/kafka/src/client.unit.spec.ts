import { clientKind, DEFAULT_CLIENT, OLD_NODE_CLIENT } from './client';

describe('clientKind (KAFKA_CLIENT)', () => {
  it('takes either client by name', () => {
    expect(clientKind('kafkajs', '20.19.0')).toBe('kafkajs');
    expect(clientKind('kafkajs', '24.22.3')).toBe('kafkajs');
    expect(clientKind('platformatic', '24.22.3')).toBe('platformatic');
    expect(clientKind('platformatic', '22.22.0')).toBe('platformatic');
  });

  it('unset or empty: the default, platformatic, where the Node runs it (>= 22.22), kafkajs on an older Node', () => {
    // undefined takes KAFKA_CLIENT from the environment (CI sets it for a tier): unset it here.
    const saved = process.env['KAFKA_CLIENT'];
    delete process.env['KAFKA_CLIENT'];
    try {
      for (const value of [undefined, '', ' ']) {
        for (const node of ['24.22.3', '23.0.0', '22.22.0']) expect(clientKind(value, node)).toBe('platformatic');
        for (const node of ['22.21.1', '20.19.0']) expect(clientKind(value, node)).toBe('kafkajs');
      }
    } finally {
      if (saved !== undefined) process.env['KAFKA_CLIENT'] = saved;
    }
    expect(DEFAULT_CLIENT).toBe('platformatic');
    expect(OLD_NODE_CLIENT).toBe('kafkajs');
  });

  it('refuses another name, naming the variable and the choices', () => {
    expect(() => clientKind('rdkafka', '24.22.3')).toThrow('KAFKA_CLIENT must be one of kafkajs, platformatic, not "rdkafka"');
  });

  it('refuses platformatic on a Node it does not support, saying what to do instead', () => {
    for (const node of ['20.20.2', '22.21.1']) {
      expect(() => clientKind('platformatic', node)).toThrow(
        `KAFKA_CLIENT=platformatic needs Node >= 22.22 (@platformatic/kafka 2.x); this is Node ${node}: use KAFKA_CLIENT=kafkajs, or Node 24 (scripts/node24.sh)`,
      );
    }
  });
});
