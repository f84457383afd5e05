/**
 * The kmodules types (`kmodules.xyz/client-go/api/v1`) that KubeDB's CRDs embed: the same Go
 * types generate `spec.tls` and `status.conditions` of the PerconaXtraDB CRD and of the
 * PerconaXtraDBOpsRequest CRD, so both schemas are built from these nodes (the API simulator's
 * PerconaXtraDB schema and this project's ops request schema cannot drift apart).
 *
 * Source: the `crds/*.yaml` of github.com/kubedb/apimachinery and github.com/kubedb/installer
 * (`kmapi.TypedObjectReference` for `issuerRef`, `kmapi.CertificateSpec`, `kmapi.Condition`),
 * copied field for field.
 */
import type { Schema } from './types.js';

const strings: Schema = { type: 'array', items: { type: 'string' } };

/** `tls.issuerRef` and `tls.certificates[].issuerRef`: kind and name required, replaced whole. */
export const KMAPI_ISSUER_REF_SCHEMA: Schema = {
  type: 'object',
  required: ['kind', 'name'],
  properties: {
    apiGroup: { type: 'string' },
    kind: { type: 'string' },
    name: { type: 'string' },
  },
  'x-kubernetes-map-type': 'atomic',
};

/** One item of `tls.certificates` (kmapi.CertificateSpec). */
export const KMAPI_CERTIFICATE_SCHEMA: Schema = {
  type: 'object',
  required: ['alias'],
  properties: {
    alias: { type: 'string' },
    dnsNames: strings,
    duration: { type: 'string' },
    emailAddresses: strings,
    ipAddresses: strings,
    issuerRef: KMAPI_ISSUER_REF_SCHEMA,
    privateKey: {
      type: 'object',
      properties: { encoding: { type: 'string', enum: ['PKCS1', 'PKCS8'] } },
    },
    renewBefore: { type: 'string' },
    secretName: { type: 'string' },
    subject: {
      type: 'object',
      properties: {
        countries: strings,
        localities: strings,
        organizationalUnits: strings,
        organizations: strings,
        postalCodes: strings,
        provinces: strings,
        serialNumber: { type: 'string' },
        streetAddresses: strings,
      },
    },
    uris: strings,
  },
};

/** One item of `status.conditions` (kmapi.Condition): type, status and lastTransitionTime required. */
export const KMAPI_CONDITION_SCHEMA: Schema = {
  type: 'object',
  required: ['lastTransitionTime', 'status', 'type'],
  properties: {
    lastTransitionTime: { type: 'string', format: 'date-time' },
    message: { type: 'string' },
    observedGeneration: { type: 'integer', format: 'int64' },
    reason: { type: 'string' },
    severity: { type: 'string' },
    status: { type: 'string' },
    type: { type: 'string' },
  },
};
