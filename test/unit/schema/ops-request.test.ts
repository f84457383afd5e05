import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  applyDefaults,
  BY_NAME_INPUT_SCHEMA,
  consoleInputSchema,
  formatSchemaError,
  OPS_REQUEST_CRD_SCHEMA,
  RECOVER_INPUT_SCHEMA,
  reconfigureTlsSpecSchema,
  validateValue,
} from '../../../functions/model/schema/index.js';

const samples = [
  'add-tls',
  'rotate',
  'update',
  'change-issuer',
  'require-ssl-off',
  'require-ssl-on',
  'remove-tls',
].map((n) => parseAllDocuments(readFileSync(`k8s/samples/pxcops-${n}.yaml`, 'utf8'))[0]!.toJSON());

const specErrors = (spec: unknown) =>
  validateValue(reconfigureTlsSpecSchema(), spec, { path: 'spec', unknownFields: 'reject' }).map(
    formatSchemaError,
  );

describe('The PerconaXtraDBOpsRequest schema', () => {
  it.each(samples.map((s) => [s.metadata.name, s]))(
    'accepts the sample %s, as KubeDB’s CRD would',
    (_, s) => {
      expect(validateValue(OPS_REQUEST_CRD_SCHEMA, s)).toEqual([]);
      expect(specErrors(s.spec)).toEqual([]);
    },
  );

  it('defaults apply to IfReady and maxRetries to 1, like the API server with KubeDB’s CRD', () => {
    expect(
      applyDefaults(OPS_REQUEST_CRD_SCHEMA, {
        spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' } },
      }),
    ).toMatchObject({
      spec: { apply: 'IfReady', maxRetries: 1 },
    });
  });

  it.each([
    {
      why: 'a database named by a list',
      spec: {
        type: 'ReconfigureTLS',
        databaseRef: { name: ['sample-pxc'] },
        tls: { rotateCertificates: true },
      },
      error: 'spec.databaseRef.name: Invalid value: ["sample-pxc"]: must be of type string',
    },
    {
      why: 'no database name',
      spec: { type: 'ReconfigureTLS', databaseRef: {}, tls: { rotateCertificates: true } },
      error: 'spec.databaseRef.name: Required value',
    },
    {
      why: 'a database name that is not a DNS-1123 label',
      spec: {
        type: 'ReconfigureTLS',
        databaseRef: { name: 'Sample_PXC' },
        tls: { rotateCertificates: true },
      },
      error: 'spec.databaseRef.name: Invalid value: "Sample_PXC": must be a DNS-1123 label',
    },
    {
      why: 'rotateCertificates as a string',
      spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotateCertificates: 'yes' } },
      error: 'spec.tls.rotateCertificates: Invalid value: "yes": must be of type boolean',
    },
    {
      why: 'an unknown apply policy',
      spec: {
        type: 'ReconfigureTLS',
        databaseRef: { name: 'db' },
        apply: 'Sometimes',
        tls: { remove: true },
      },
      error: 'spec.apply: Unsupported value: "Sometimes": supported values: "IfReady", "Always"',
    },
    {
      why: 'a secretName that is not an object name',
      spec: {
        type: 'ReconfigureTLS',
        databaseRef: { name: 'db' },
        tls: { certificates: [{ alias: 'server', secretName: '../px-ca' }] },
      },
      error: 'spec.tls.certificates[0].secretName: Invalid value: "../px-ca": must be a DNS-1123 subdomain',
    },
    {
      why: 'an issuerRef without a name',
      spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { issuerRef: { kind: 'Issuer' } } },
      error: 'spec.tls.issuerRef.name: Required value',
    },
    {
      why: 'a field KubeDB does not have',
      spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotate: true } },
      error: 'spec.tls.rotate: Forbidden: field not declared in schema',
    },
  ])('refuses $why', ({ spec, error }) => {
    expect(specErrors(spec).join('\n')).toContain(error);
  });

  it('bounds every list: one certificate per alias, 100 names per certificate, 16 values per subject field', () => {
    const cert = (alias: string, extra: Record<string, unknown> = {}) => ({ alias, ...extra });
    const spec = (certificates: unknown[]) => ({
      type: 'ReconfigureTLS',
      databaseRef: { name: 'db' },
      tls: { rotateCertificates: true, certificates },
    });
    const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));

    expect(specErrors(spec(['server', 'client', 'metrics-exporter'].map((a) => cert(a))))).toEqual([]);
    expect(specErrors(spec(['server', 'client', 'metrics-exporter', 'extra'].map((a) => cert(a))))).toEqual([
      'spec.tls.certificates: Too many: 4 items: must have at most 3 items',
    ]);
    expect(specErrors(spec([cert('server', { dnsNames: many(100, (i) => `n${i}.demo.svc`) })]))).toEqual([]);
    for (const field of ['dnsNames', 'ipAddresses', 'emailAddresses', 'uris'])
      expect(specErrors(spec([cert('server', { [field]: many(101, (i) => `x${i}`) })])), field).toContain(
        `spec.tls.certificates[0].${field}: Too many: 101 items: must have at most 100 items`,
      );
    expect(
      specErrors(spec([cert('server', { subject: { organizations: many(17, (i) => `o${i}`) } })])),
    ).toEqual([
      'spec.tls.certificates[0].subject.organizations: Too many: 17 items: must have at most 16 items',
    ]);
  });
});

describe('The execution input schemas', () => {
  const check = (schema: Parameters<typeof validateValue>[0], input: unknown) =>
    validateValue(schema, input, { unknownFields: 'reject' }).map(formatSchemaError);

  it('accepts every console sample and the by-name sample', () => {
    for (const n of ['add-tls', 'rotate', 'update', 'change-issuer', 'require-ssl-off', 'remove-tls']) {
      expect(
        check(consoleInputSchema(), JSON.parse(readFileSync(`events/console/${n}.json`, 'utf8'))),
        n,
      ).toEqual([]);
    }
    expect(
      check(
        BY_NAME_INPUT_SCHEMA,
        JSON.parse(readFileSync('events/console/run-existing-pxops-rotate.json', 'utf8')),
      ),
    ).toEqual([]);
  });

  it.each([
    {
      why: 'a namespace of a million characters, without echoing it',
      schema: BY_NAME_INPUT_SCHEMA,
      input: { namespace: 'a'.repeat(1_000_000), opsRequest: 'r' },
      error: /^namespace: Too long: "a{100}"… \(1000000 characters\): may not be more than 63 characters$/,
    },
    {
      why: 'a namespace that is a number',
      schema: BY_NAME_INPUT_SCHEMA,
      input: { namespace: 7, opsRequest: 'r' },
      error: /^namespace: Invalid value: 7: must be of type string$/,
    },
    {
      why: 'tls as a list',
      schema: consoleInputSchema(),
      input: { namespace: 'demo', database: 'db', tls: [] },
      error: /^tls: Invalid value: \[\]: must be of type object$/,
    },
    {
      why: 'a recovery naming an execution with a slash',
      schema: RECOVER_INPUT_SCHEMA,
      input: { recover: { execution: 'a/b' } },
      error: /^recover\.execution: Invalid value: "a\/b": should match/,
    },
  ])('refuses $why', ({ schema, input, error }) => {
    const errors = check(schema, input);
    expect(errors[0]).toMatch(error);
    expect(errors.join('; ').length).toBeLessThan(400);
  });
});
