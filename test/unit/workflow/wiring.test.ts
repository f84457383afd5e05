import { describe, expect, it } from 'vitest';
import {
  applyWiring,
  type PodTemplate,
  readWiring,
  restoreWiring,
  snapshotWiring,
  type TlsWiring,
} from '../../../functions/model/wiring.js';

const base = (): PodTemplate => ({
  metadata: { labels: { app: 'x' } },
  spec: {
    containers: [
      {
        name: 'perconaxtradb',
        args: ['--defaults-file=/etc/mysql/my.cnf'],
        env: [{ name: 'CLUSTER_NAME', value: 'db' }],
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
      },
      { name: 'px-coordinator', args: ['run'] },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
  },
});

const secrets = {
  server: 'db-server-cert',
  client: 'db-client-cert',
  'metrics-exporter': 'db-metrics-exporter-cert',
};
const on = (requireSSL: boolean): TlsWiring => ({ enabled: true, requireSSL, secretNames: secrets });
const off: TlsWiring = { enabled: false, requireSSL: false, secretNames: secrets };

describe('Pod template TLS wiring', () => {
  it('adds the three secret volumes and mounts, SSL_ENABLED and the ssl args, as KubeDB renders them', () => {
    const { template, changed } = applyWiring(base(), on(true));
    expect(changed).toBe(true);
    const c = template.spec.containers[0]!;
    expect(template.spec.volumes?.map((v) => v.name)).toEqual([
      'data',
      'tls-server-config',
      'tls-client-config',
      'tls-metrics-exporter-config',
    ]);
    expect(template.spec.volumes?.[1]).toEqual({
      name: 'tls-server-config',
      secret: {
        secretName: 'db-server-cert',
        items: [
          { key: 'ca.crt', path: 'ca.crt' },
          { key: 'tls.crt', path: 'tls.crt' },
          { key: 'tls.key', path: 'tls.key' },
        ],
      },
    });
    expect(c.volumeMounts).toContainEqual({
      name: 'tls-client-config',
      mountPath: '/etc/mysql/certs/client',
    });
    expect(c.env).toContainEqual({ name: 'SSL_ENABLED', value: 'true' });
    expect(c.args).toEqual([
      '--defaults-file=/etc/mysql/my.cnf',
      '--ssl-capath=/etc/mysql/certs/server',
      '--ssl-ca=/etc/mysql/certs/server/ca.crt',
      '--ssl-cert=/etc/mysql/certs/server/tls.crt',
      '--ssl-key=/etc/mysql/certs/server/tls.key',
      '--require-secure-transport=ON',
    ]);
    expect(template.spec.containers[1]).toEqual(base().spec.containers[1]);
  });

  it.each([
    {
      why: 'requireSSL off drops only --require-secure-transport',
      from: on(true),
      to: on(false),
      changed: true,
    },
    { why: 'the same wiring twice changes nothing', from: on(true), to: on(true), changed: false },
    { why: 'requireSSL on adds --require-secure-transport', from: on(false), to: on(true), changed: true },
  ])('$why', ({ from, to, changed }) => {
    const wired = applyWiring(base(), from).template;
    const out = applyWiring(wired, to);
    expect(out.changed).toBe(changed);
    expect(out.template.spec.containers[0]!.args?.includes('--require-secure-transport=ON')).toBe(
      to.requireSSL,
    );
    if (!changed) expect(out.template).toBe(wired);
  });

  it('replaces TLS volumes, mounts and env where they are (upsert by name), without moving them', () => {
    const wired = applyWiring(base(), on(true)).template;
    const moved = structuredClone(wired);
    // Someone's volume after ours, and our env variable first: upsert keeps both places.
    moved.spec.volumes!.push({ name: 'extra', emptyDir: {} });
    moved.spec.containers[0]!.env = [...moved.spec.containers[0]!.env!].reverse();
    const out = applyWiring(moved, on(true));
    expect(out.changed).toBe(false);
    const renamed = applyWiring(moved, { ...on(true), secretNames: { ...secrets, server: 'other-cert' } });
    expect(renamed.template.spec.volumes?.map((v) => v.name)).toEqual(moved.spec.volumes?.map((v) => v.name));
  });

  it('removing TLS removes exactly what adding put there', () => {
    const wired = applyWiring(base(), on(true)).template;
    const { template, changed } = applyWiring(wired, off);
    expect(changed).toBe(true);
    expect(template).toEqual(base());
  });

  it('reads the wiring back from a template', () => {
    expect(readWiring(base())).toBeUndefined();
    expect(readWiring(applyWiring(base(), on(true)).template)).toEqual(on(true));
  });

  it('restores a snapshot taken before the change', () => {
    const snap = snapshotWiring(base());
    const wired = applyWiring(base(), on(false)).template;
    const { template, changed } = restoreWiring(wired, snap);
    expect(changed).toBe(true);
    expect(template).toEqual(base());
    expect(restoreWiring(base(), snap).changed).toBe(false);
  });
});
