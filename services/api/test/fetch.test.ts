import { describe, expect, it } from '@jest/globals';

import { isPrivateAddress } from '../src';

describe('isPrivateAddress', () => {
  it('flags loopback, private, link-local, CGNAT and multicast ranges', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      'not-an-ip',
    ]) {
      expect([address, isPrivateAddress(address)]).toEqual([address, true]);
    }
  });

  it('lets public addresses through', () => {
    for (const address of [
      '8.8.8.8',
      '172.32.0.1',
      '100.128.0.1',
      '2001:4860:4860::8888',
      '::ffff:1.1.1.1',
    ]) {
      expect([address, isPrivateAddress(address)]).toEqual([address, false]);
    }
  });
});
