/**
 * The PerconaXtraDBOpsRequest (ops.kubedb.com/v1alpha1) schema as KubeDB publishes it, and the
 * stricter view of it this project checks a ReconfigureTLS request against.
 *
 * Source: the CustomResourceDefinition `perconaxtradbopsrequests.ops.kubedb.com`, file
 * `charts/kubedb-crds/crds/ops.kubedb.com_perconaxtradbopsrequests.yaml` of github.com/kubedb/installer
 * (commit b6016c628e641a5d65f313c8dfb9b3921ec923b9; the same text is generated into
 * `crds/ops.kubedb.com_perconaxtradbopsrequests.yaml` of github.com/kubedb/apimachinery), copied field
 * for field. `spec.maxRetries` and the `RotateAuth` type come from KubeDB's newer Go types
 * (`MaxRetries int32` with `+kubebuilder:default=1` in apimachinery's ops request specs), so
 * requests written for newer KubeDB releases are not refused for them.
 *
 * Written as a literal (no YAML parsed at cold start). `OPS_REQUEST_CRD_SCHEMA` is the published
 * schema (what an API server with KubeDB's CRD prunes, defaults and validates with);
 * `reconfigureTlsSpecSchema()` adds what Kubernetes itself requires of the names a request
 * carries, and length bounds, where the CRD says only "string".
 */

import { CERTIFICATE_ALIASES } from '../types.js';
import { KMAPI_CERTIFICATE_SCHEMA, KMAPI_CONDITION_SCHEMA, KMAPI_ISSUER_REF_SCHEMA } from './kmapi.js';
import { refineSchema } from './transform.js';
import type { Schema } from './types.js';

const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

const quantity: Schema = {
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  pattern: QUANTITY_PATTERN,
  'x-kubernetes-int-or-string': true,
};

const resources: Schema = {
  type: 'object',
  properties: {
    claims: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      'x-kubernetes-list-map-keys': ['name'],
      'x-kubernetes-list-type': 'map',
    },
    limits: { type: 'object', additionalProperties: quantity },
    requests: { type: 'object', additionalProperties: quantity },
  },
};

/** `spec.tls` of the request (KubeDB's TLSSpec plus rotateCertificates, remove, requireSSL). */
export const OPS_REQUEST_TLS_SCHEMA: Schema = {
  type: 'object',
  properties: {
    certificates: { type: 'array', items: KMAPI_CERTIFICATE_SCHEMA },
    issuerRef: KMAPI_ISSUER_REF_SCHEMA,
    remove: { type: 'boolean' },
    requireSSL: { type: 'boolean' },
    rotateCertificates: { type: 'boolean' },
  },
};

export const OPS_REQUEST_TYPES = [
  'Upgrade',
  'UpdateVersion',
  'HorizontalScaling',
  'VerticalScaling',
  'VolumeExpansion',
  'Restart',
  'Reconfigure',
  'ReconfigureTLS',
  'RotateAuth',
] as const;

export const OPS_REQUEST_SPEC_SCHEMA: Schema = {
  type: 'object',
  required: ['databaseRef', 'type'],
  properties: {
    apply: { type: 'string', default: 'IfReady', enum: ['IfReady', 'Always'] },
    configuration: {
      type: 'object',
      properties: {
        applyConfig: { type: 'object', additionalProperties: { type: 'string' } },
        configSecret: {
          type: 'object',
          properties: { name: { type: 'string', default: '' } },
          'x-kubernetes-map-type': 'atomic',
        },
        removeCustomConfig: { type: 'boolean' },
      },
    },
    databaseRef: {
      type: 'object',
      properties: { name: { type: 'string', default: '' } },
      'x-kubernetes-map-type': 'atomic',
    },
    horizontalScaling: {
      type: 'object',
      properties: {
        member: { type: 'integer', format: 'int32' },
        memberWeight: { type: 'integer', format: 'int32' },
      },
    },
    maxRetries: { type: 'integer', format: 'int32', default: 1 },
    restart: { type: 'object' },
    timeout: { type: 'string' },
    tls: OPS_REQUEST_TLS_SCHEMA,
    type: { type: 'string', enum: OPS_REQUEST_TYPES },
    updateVersion: { type: 'object', properties: { targetVersion: { type: 'string' } } },
    verticalScaling: {
      type: 'object',
      properties: {
        coordinator: { type: 'object', properties: { resources } },
        exporter: { type: 'object', properties: { resources } },
        perconaxtradb: {
          type: 'object',
          properties: {
            nodeSelectionPolicy: { type: 'string' },
            resources,
            topology: {
              type: 'object',
              required: ['key', 'value'],
              properties: { key: { type: 'string' }, value: { type: 'string' } },
            },
          },
        },
      },
    },
    volumeExpansion: {
      type: 'object',
      required: ['mode'],
      properties: {
        mode: { type: 'string', enum: ['Offline', 'Online'] },
        perconaxtradb: quantity,
      },
    },
  },
};

export const OPS_REQUEST_STATUS_SCHEMA: Schema = {
  type: 'object',
  properties: {
    conditions: { type: 'array', items: KMAPI_CONDITION_SCHEMA },
    observedGeneration: { type: 'integer', format: 'int64' },
    pausedBackups: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          apiGroup: { type: 'string' },
          kind: { type: 'string' },
          name: { type: 'string' },
          namespace: { type: 'string' },
        },
      },
    },
    phase: {
      type: 'string',
      enum: [
        'Pending',
        'Progressing',
        'Successful',
        'WaitingForApproval',
        'Failed',
        'Approved',
        'Denied',
        'Skipped',
      ],
    },
  },
};

/** The CRD's `openAPIV3Schema`, whole (the API server keeps `metadata` itself). */
export const OPS_REQUEST_CRD_SCHEMA: Schema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: OPS_REQUEST_SPEC_SCHEMA,
    status: OPS_REQUEST_STATUS_SCHEMA,
  },
};

/** A list of strings: at most `items` of them (no certificate needs more), each at most `chars` long. */
const bounded = (chars: number, items = 100): Partial<Schema> => ({
  maxItems: items,
  items: { type: 'string', maxLength: chars },
});

/**
 * What the CRD leaves as "string" but Kubernetes, X.509 or DNS bound: object names (DNS-1123), and
 * lengths no valid value exceeds (a DNS name 253, an e-mail address 254, a subject field 128
 * characters...), so an oversized value is refused by the schema before it goes anywhere. Lists are
 * bounded too: one certificate per alias (server, client, metrics-exporter), at most 100 names or
 * addresses per certificate, 16 values per subject field — a request with more is a mistake, and
 * the plan, its Events and the Step Functions payload stay small.
 */
const TIGHTER: Record<string, Partial<Schema>> = {
  'databaseRef.name': { format: 'dns1123-label', minLength: 1 },
  timeout: { maxLength: 64 },
  'tls.issuerRef.name': { format: 'dns1123-subdomain', minLength: 1 },
  'tls.issuerRef.kind': { maxLength: 63 },
  'tls.issuerRef.apiGroup': { maxLength: 253 },
  'tls.certificates': { maxItems: CERTIFICATE_ALIASES.length },
  'tls.certificates[].alias': { maxLength: 63 },
  'tls.certificates[].issuerRef.name': { format: 'dns1123-subdomain', minLength: 1 },
  'tls.certificates[].secretName': { format: 'dns1123-subdomain', minLength: 1 },
  'tls.certificates[].duration': { maxLength: 64 },
  'tls.certificates[].renewBefore': { maxLength: 64 },
  'tls.certificates[].dnsNames': bounded(253),
  'tls.certificates[].ipAddresses': bounded(45),
  'tls.certificates[].emailAddresses': bounded(254),
  'tls.certificates[].uris': bounded(2048),
  'tls.certificates[].subject.countries': bounded(2, 16),
  'tls.certificates[].subject.localities': bounded(128, 16),
  'tls.certificates[].subject.organizationalUnits': bounded(128, 16),
  'tls.certificates[].subject.organizations': bounded(128, 16),
  'tls.certificates[].subject.postalCodes': bounded(128, 16),
  'tls.certificates[].subject.provinces': bounded(128, 16),
  'tls.certificates[].subject.streetAddresses': bounded(128, 16),
  'tls.certificates[].subject.serialNumber': { maxLength: 64 },
};

let reconfigureTls: Schema | undefined;

/**
 * `spec` of a ReconfigureTLS request as Validate checks it: KubeDB's schema, plus the database
 * named (a DNS-1123 label: it also names the Service and the pods), every issuer and Secret name a
 * valid object name, and every string no longer than a valid value can be. Built on first use.
 */
export function reconfigureTlsSpecSchema(): Schema {
  reconfigureTls ??= refineSchema(OPS_REQUEST_SPEC_SCHEMA, {
    databaseRef: { required: ['name'] },
    ...TIGHTER,
  });
  return reconfigureTls;
}

let tlsInput: Schema | undefined;

/** `spec.tls` alone, with the same name rules (the console input's `tls`). */
export function reconfigureTlsSchema(): Schema {
  tlsInput ??= reconfigureTlsSpecSchema().properties!.tls!;
  return tlsInput;
}
