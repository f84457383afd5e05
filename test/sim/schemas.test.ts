import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../local/sim/index.js';
import type { J } from '../../local/sim/store.js';
import { startFast } from './helpers.js';

const NS = 'demo';
const PX = `/apis/kubedb.com/v1/namespaces/${NS}/perconaxtradbs`;
const OPS = `/apis/ops.kubedb.com/v1alpha1/namespaces/${NS}/perconaxtradbopsrequests`;
const CERTS = `/apis/cert-manager.io/v1/namespaces/${NS}/certificates`;
const BINDINGS = `/apis/appcatalog.appscode.com/v1alpha1/namespaces/${NS}/appbindings`;

describe("The API server's schemas for the KubeDB, cert-manager and AppBinding kinds", () => {
  let sim: Simulator;
  const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${sim.url}${path}`, {
      method,
      headers: { 'content-type': type },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as J };
  };
  beforeAll(async () => {
    // The API server's own checks (CRD schemas), without KubeDB's webhooks (kubedb-webhooks.test.ts).
    sim = await startFast({ kubedbWebhooks: false });
  });
  afterAll(async () => {
    await sim.stop();
  });

  it('prunes fields the PerconaXtraDB CRD does not declare, without a word, and fills its defaults', async () => {
    const r = await call('POST', PX, {
      apiVersion: 'kubedb.com/v1',
      kind: 'PerconaXtraDB',
      metadata: { name: 'schema-px' },
      spec: {
        version: '8.0.40',
        replicas: 3,
        sparkle: true,
        tls: {
          issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'i' },
          renewBefore: '720h',
          certificates: [{ alias: 'server', privateKey: { encoding: 'PKCS8', algorithm: 'ECDSA' } }],
        },
      },
    });

    expect(r.status).toBe(201);
    expect(r.body.spec).not.toHaveProperty('sparkle');
    expect(r.body.spec.tls).not.toHaveProperty('renewBefore');
    expect(r.body.spec.tls.certificates[0].privateKey).toEqual({ encoding: 'PKCS8' });
    expect(r.body.spec.healthChecker).toEqual({ failureThreshold: 1, periodSeconds: 10, timeoutSeconds: 10 });
  });

  it('refuses with 422 a type or enum violation, naming every field', async () => {
    const r = await call('POST', PX, {
      apiVersion: 'kubedb.com/v1',
      kind: 'PerconaXtraDB',
      metadata: { name: 'schema-bad' },
      spec: { version: '8.0.40', replicas: 'three', storageType: 'Cloudy', requireSSL: 'yes' },
    });

    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
    expect(r.body.message).toMatch(/^PerconaXtraDB\.kubedb\.com "schema-bad" is invalid: /);
    expect(r.body.message).toMatch(/spec\.replicas: Invalid value: "three": must be of type integer/);
    expect(r.body.message).toMatch(/spec\.storageType: Unsupported value: "Cloudy"/);
    expect(r.body.message).toMatch(/spec\.requireSSL: Invalid value: "yes"/);
    expect(r.body.details.causes.map((c: J) => c.field)).toEqual(
      expect.arrayContaining(['spec.replicas', 'spec.storageType', 'spec.requireSSL']),
    );
    expect(r.body.details.causes.find((c: J) => c.field === 'spec.storageType').reason).toBe(
      'FieldValueNotSupported',
    );
  });

  it('ratchets as Kubernetes 1.30+ does: an object already invalid can be written where its invalid part is unchanged', async () => {
    // Stored as a looser, older CRD would have let it through (fixtures are not refused).
    sim.store.create({
      apiVersion: 'ops.kubedb.com/v1alpha1',
      kind: 'PerconaXtraDBOpsRequest',
      metadata: { name: 'schema-old', namespace: NS },
      spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, apply: 'Sometimes' },
    });
    const annotate = await call(
      'PATCH',
      `${OPS}/schema-old`,
      { metadata: { annotations: { a: '1' } } },
      'application/merge-patch+json',
    );
    const status = await call(
      'PATCH',
      `${OPS}/schema-old/status`,
      { status: { phase: 'Failed' } },
      'application/merge-patch+json',
    );
    const other = await call(
      'PATCH',
      `${OPS}/schema-old`,
      { spec: { apply: 'Never' } },
      'application/merge-patch+json',
    );

    expect(annotate.status).toBe(200);
    expect(status.status).toBe(200);
    expect(other.status).toBe(422);
    expect(other.body.message).toMatch(/spec\.apply: Unsupported value: "Never"/);
  });

  it('defaults an OpsRequest (apply IfReady, maxRetries 1) and refuses apply: Sometimes', async () => {
    const base = {
      apiVersion: 'ops.kubedb.com/v1alpha1',
      kind: 'PerconaXtraDBOpsRequest',
      spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotateCertificates: true } },
    };
    const ok = await call('POST', OPS, { ...base, metadata: { name: 'schema-ok' } });
    const bad = await call('POST', OPS, {
      ...base,
      metadata: { name: 'schema-sometimes' },
      spec: { ...base.spec, apply: 'Sometimes' },
    });

    expect(ok.status).toBe(201);
    expect(ok.body.spec).toMatchObject({ apply: 'IfReady', maxRetries: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toMatch(
      /spec\.apply: Unsupported value: "Sometimes": supported values: "IfReady", "Always"/,
    );
  });

  it('checks a status write too: an OpsRequest phase the CRD does not know is refused', async () => {
    const r = await call(
      'PATCH',
      `${OPS}/schema-ok/status`,
      { status: { phase: 'Done' } },
      'application/merge-patch+json',
    );

    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/status\.phase: Unsupported value: "Done"/);
  });

  it('refuses a Certificate without secretName or with a usage cert-manager does not have', async () => {
    const r = await call('POST', CERTS, {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: 'schema-cert' },
      spec: { issuerRef: { name: 'i' }, usages: ['teleportation'] },
    });

    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/spec\.secretName: Required value/);
    expect(r.body.message).toMatch(/spec\.usages\[0\]: Unsupported value: "teleportation"/);
  });

  it('refuses an AppBinding caBundle that is not base64, and prunes what a merge patch adds beside it', async () => {
    const binding = {
      apiVersion: 'appcatalog.appscode.com/v1alpha1',
      kind: 'AppBinding',
      metadata: { name: 'schema-bind' },
      spec: { clientConfig: { service: { name: 'db', port: 3306, scheme: 'tcp' } } },
    };
    expect((await call('POST', BINDINGS, binding)).status).toBe(201);

    const bad = await call(
      'PATCH',
      `${BINDINGS}/schema-bind`,
      { spec: { clientConfig: { caBundle: '-----BEGIN CERTIFICATE-----' } } },
      'application/merge-patch+json',
    );
    const extra = await call(
      'PATCH',
      `${BINDINGS}/schema-bind`,
      { spec: { clientConfig: { caBundle: 'Q0E=', caBundles: ['x'] } } },
      'application/merge-patch+json',
    );

    expect(bad.status).toBe(422);
    expect(bad.body.message).toMatch(/spec\.clientConfig\.caBundle: Invalid value.*must be base64-encoded/);
    expect(extra.status).toBe(200);
    expect(extra.body.spec.clientConfig).toEqual({
      caBundle: 'Q0E=',
      service: { name: 'db', port: 3306, scheme: 'tcp' },
    });
  });
});
