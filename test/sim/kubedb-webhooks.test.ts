import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { startFast } from './helpers.js';

const NS = 'demo';
const PX = `/apis/kubedb.com/v1/namespaces/${NS}/perconaxtradbs`;
const OPS = `/apis/ops.kubedb.com/v1alpha1/namespaces/${NS}/perconaxtradbopsrequests`;
const issuerRef = { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' };

describe("KubeDB's webhooks in the simulator, as a default install runs them", () => {
  let sim: Simulator;
  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${sim.url}${path}`, {
      method,
      headers: { 'content-type': type },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as J };
  };
  const ops = (name: string, tls: J, database = 'wh-db') => ({
    apiVersion: 'ops.kubedb.com/v1alpha1',
    kind: 'PerconaXtraDBOpsRequest',
    metadata: { name },
    spec: { type: 'ReconfigureTLS', databaseRef: { name: database }, tls },
  });
  beforeAll(async () => {
    sim = await startFast();
    const created = await call('POST', PX, {
      apiVersion: 'kubedb.com/v1',
      kind: 'PerconaXtraDB',
      metadata: { name: 'wh-db' },
      spec: { version: '8.0.26', replicas: 3 },
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('registers validators.ops.kubedb.com for perconaxtradbopsrequests and their status', async () => {
    const { body } = await call(
      'GET',
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/validators.ops.kubedb.com',
    );
    expect(body.webhooks[0].rules[0].resources).toEqual([
      'perconaxtradbopsrequests',
      'perconaxtradbopsrequests/status',
    ]);
  });

  it('defaults spec.tls on a PerconaXtraDB write: an entry with a secretName per alias, existing ones kept in place', async () => {
    const patched = await call(
      'PATCH',
      `${PX}/wh-db`,
      {
        spec: {
          tls: { issuerRef, certificates: [{ alias: 'client', subject: { organizations: ['x'] } }] },
        },
      },
      'application/merge-patch+json',
    );

    expect(patched.status).toBe(200);
    expect(patched.body.spec.tls.certificates).toEqual([
      { alias: 'client', subject: { organizations: ['x'] }, secretName: 'wh-db-client-cert' },
      { alias: 'server', secretName: 'wh-db-server-cert' },
      { alias: 'metrics-exporter', secretName: 'wh-db-metrics-exporter-cert' },
    ]);
  });

  it('denies a ReconfigureTLS request with two kinds of change, or for a database that does not exist', async () => {
    const two = await call('POST', OPS, ops('wh-two', { remove: true, rotateCertificates: true }));
    const none = await call('POST', OPS, ops('wh-none', {}));
    const missing = await call('POST', OPS, ops('wh-missing', { rotateCertificates: true }, 'nowhere'));

    expect(two.status).toBe(400);
    expect(two.body.message).toMatch(
      /^admission webhook "perconaxtradbopsrequestwebhook\.validators\.ops\.kubedb\.com" denied the request: spec\.tls: .*more than 1 field/,
    );
    expect(none.body.message).toMatch(/no of incomplete reconfiguration is provided in TLS spec/);
    expect(missing.body.message).toMatch(/spec\.databaseRef demo\/nowhere, is invalid or not found/);
  });

  it('denies any change of an OpsRequest spec', async () => {
    expect((await call('POST', OPS, ops('wh-frozen', { rotateCertificates: true }))).status).toBe(201);

    const edit = await call(
      'PATCH',
      `${OPS}/wh-frozen`,
      { spec: { timeout: '1m' } },
      'application/merge-patch+json',
    );

    expect(edit.status).toBe(400);
    expect(edit.body.message).toMatch(/spec is immutable/);
  });

  it('resumes the database when any of its requests turns Successful or Failed, whoever paused it', async () => {
    const db = (await call('GET', `${PX}/wh-db`)).body;
    const paused = {
      type: 'Paused',
      status: 'True',
      reason: 'PausedBySomeoneElse',
      message: 'kubectl kubedb pause',
      lastTransitionTime: new Date().toISOString(),
    };
    await call('PUT', `${PX}/wh-db/status`, { ...db, status: { ...db.status, conditions: [paused] } });
    expect((await call('POST', OPS, ops('wh-done', { rotateCertificates: true }))).status).toBe(201);
    const progressing = await call(
      'PATCH',
      `${OPS}/wh-done/status`,
      { status: { phase: 'Progressing' } },
      'application/merge-patch+json',
    );
    expect(progressing.status).toBe(200);
    expect((await call('GET', `${PX}/wh-db`)).body.status.conditions).toEqual([paused]);

    await call(
      'PATCH',
      `${OPS}/wh-done/status`,
      { status: { phase: 'Failed' } },
      'application/merge-patch+json',
    );

    expect((await call('GET', `${PX}/wh-db`)).body.status.conditions ?? []).toEqual([]);
  });
});
