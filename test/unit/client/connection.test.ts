import { describe, expect, it } from 'vitest';
import { Sluice } from '../../../src/client/index.js';

describe('client connection options', () => {
  it('refuses a flow-control window outside HTTP/2 bounds before connecting, naming the option', () => {
    for (const flowControlWindowBytes of [1024, 2 ** 31, 1.5]) {
      expect(() => new Sluice({ brokers: ['127.0.0.1:1'], flowControlWindowBytes })).toThrow(/flowControlWindowBytes must be an integer from 65535/);
    }
    expect(() => new Sluice({ brokers: ['127.0.0.1:1'], flowControlWindowBytes: 65_535 })).not.toThrow();
  });
});
