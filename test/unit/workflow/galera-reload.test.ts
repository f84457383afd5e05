import { describe, expect, it } from 'vitest';
import { galeraReload } from '../../../functions/model/reload.js';

describe("Galera's TLS reload, decided from the provider's own options", () => {
  it.each([
    [
      'TLS on, a build with socket.ssl_reload',
      'socket.ssl = YES; socket.ssl_cert = /c; socket.ssl_key = /k; socket.ssl_reload = 1',
      'reload',
    ],
    [
      'TLS on, Galera 4.7 (no socket.ssl_reload)',
      'socket.ssl = YES; socket.ssl_cert = /c; socket.ssl_key = /k',
      'unsupported',
    ],
    [
      'socket.ssl_cert/key alone turn it on (init_use_ssl)',
      'socket.ssl_cert = /c; socket.ssl_key = /k; socket.ssl_reload = 1',
      'reload',
    ],
    ['explicitly off despite the files', 'socket.ssl = NO; socket.ssl_cert = /c; socket.ssl_key = /k', 'off'],
    ['no TLS options at all', 'base_port = 4567; gcache.size = 128M', 'off'],
    ['nothing reported', '', 'off'],
  ])('%s: %s', (_why, options, expected) => {
    expect(galeraReload(options)).toBe(expected);
  });
});
