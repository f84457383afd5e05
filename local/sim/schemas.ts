/**
 * The structural schemas of the custom resources the simulator serves, so it prunes, defaults
 * and refuses (422) what a real API server with the same CRDs would — the PerconaXtraDB CRD, for
 * one, does not preserve unknown fields: a `spec.tls.renewBefore` or a
 * `certificates[].privateKey.algorithm` is dropped without a word.
 *
 * Written from the published CRDs (not copied: only what the schema engine needs; descriptions
 * left out):
 * - PerconaXtraDB: kubedb/apimachinery `crds/kubedb.com_perconaxtradbs.yaml` (v1). Its large
 *   subtrees this project never touches — `podTemplate`, `storage`, `init`, `monitor`,
 *   `serviceTemplates`, `allowedSchemas`, `systemUserSecrets` — are declared but kept whole here
 *   (`x-kubernetes-preserve-unknown-fields`): the simulator is stricter than nothing, never
 *   stricter than the API server.
 *   Its `spec.tls` and `status.conditions` are the kmodules types KubeDB's ops request CRD embeds
 *   too: one copy, in functions/model/schema/kmapi.ts.
 * - PerconaXtraDBOpsRequest: the schema of issue 10 (functions/model/schema/ops-request.ts).
 * - Certificate, Issuer, ClusterIssuer: cert-manager `deploy/crds/cert-manager.io_*.yaml`; the
 *   issuer types other than `ca` (acme, vault, venafi) are kept whole.
 * - AppBinding: kmodules/custom-resources `crds/appcatalog.appscode.com_appbindings.yaml` and
 *   `apis/appcatalog/v1alpha1/appbinding_types.go` (appRef, tlsSecret, clientConfig.serverName).
 */
import {
  KMAPI_CERTIFICATE_SCHEMA,
  KMAPI_CONDITION_SCHEMA,
  KMAPI_ISSUER_REF_SCHEMA,
  OPS_REQUEST_CRD_SCHEMA,
  type Schema,
} from '../../functions/model/schema/index.js';

const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const int32: Schema = { type: 'integer', format: 'int32' };
const int64: Schema = { type: 'integer', format: 'int64' };
const strings: Schema = { type: 'array', items: str };
const stringMap: Schema = { type: 'object', additionalProperties: str };
const kept: Schema = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const keptList: Schema = { type: 'array', items: kept };
const dateTime: Schema = { type: 'string', format: 'date-time' };

/**
 * A custom resource's root: apiVersion and kind; metadata kept whole unless the CRD says more (the
 * API server checks ObjectMeta itself); then the CRD's own spec and status.
 */
function customResource(props: { metadata?: Schema; spec: Schema; status?: Schema }): Schema {
  return {
    type: 'object',
    properties: {
      apiVersion: str,
      kind: str,
      metadata: props.metadata ?? kept,
      spec: props.spec,
      ...(props.status ? { status: props.status } : {}),
    },
  };
}

const terminationPolicy: Schema = { type: 'string', enum: ['Halt', 'Delete', 'WipeOut', 'DoNotTerminate'] };

const secretRef: Schema = {
  type: 'object',
  properties: {
    activeFrom: dateTime,
    externallyManaged: bool,
    name: { type: 'string', default: '' },
    rotateAfter: str,
  },
  'x-kubernetes-map-type': 'atomic',
};

export const PERCONAXTRADB_SCHEMA: Schema = customResource({
  metadata: {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 63, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' } },
    'x-kubernetes-preserve-unknown-fields': true,
  },
  spec: {
    type: 'object',
    required: ['version'],
    properties: {
      allowedSchemas: kept,
      authSecret: secretRef,
      autoOps: { type: 'object', properties: { disabled: bool } },
      configSecret: {
        type: 'object',
        properties: { name: { type: 'string', default: '' } },
        'x-kubernetes-map-type': 'atomic',
      },
      deletionPolicy: terminationPolicy,
      halted: bool,
      healthChecker: {
        type: 'object',
        default: { failureThreshold: 1, periodSeconds: 10, timeoutSeconds: 10 },
        properties: {
          disableWriteCheck: bool,
          failureThreshold: { ...int32, default: 1 },
          periodSeconds: { ...int32, default: 10 },
          timeoutSeconds: { ...int32, default: 10 },
        },
      },
      init: kept,
      monitor: kept,
      podTemplate: kept,
      replicas: int32,
      requireSSL: bool,
      serviceTemplates: keptList,
      storage: kept,
      storageType: { type: 'string', enum: ['Durable', 'Ephemeral'] },
      systemUserSecrets: {
        type: 'object',
        properties: { monitorUserSecret: secretRef, replicationUserSecret: secretRef },
      },
      terminationPolicy,
      tls: {
        type: 'object',
        properties: {
          certificates: { type: 'array', items: KMAPI_CERTIFICATE_SCHEMA },
          issuerRef: KMAPI_ISSUER_REF_SCHEMA,
        },
      },
      version: str,
    },
  },
  status: {
    type: 'object',
    properties: {
      authSecret: { type: 'object', properties: { lastUpdateTimestamp: dateTime } },
      conditions: { type: 'array', items: KMAPI_CONDITION_SCHEMA },
      observedGeneration: int64,
      phase: {
        type: 'string',
        enum: ['Provisioning', 'DataRestoring', 'Ready', 'Critical', 'NotReady', 'Halted', 'Unknown'],
      },
    },
  },
});

/** cert-manager's condition (Certificate, Issuer): status True/False/Unknown; status and type required. */
const cmCondition: Schema = {
  type: 'object',
  required: ['status', 'type'],
  properties: {
    lastTransitionTime: dateTime,
    message: str,
    observedGeneration: int64,
    reason: str,
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    type: str,
  },
};

const USAGES = [
  'signing',
  'digital signature',
  'content commitment',
  'key encipherment',
  'key agreement',
  'data encipherment',
  'cert sign',
  'crl sign',
  'encipher only',
  'decipher only',
  'any',
  'server auth',
  'client auth',
  'code signing',
  'email protection',
  's/mime',
  'ipsec end system',
  'ipsec tunnel',
  'ipsec user',
  'timestamping',
  'ocsp signing',
  'microsoft sgc',
  'netscape sgc',
];

export const CERTIFICATE_SCHEMA: Schema = customResource({
  spec: {
    type: 'object',
    required: ['issuerRef', 'secretName'],
    properties: {
      additionalOutputFormats: {
        type: 'array',
        items: {
          type: 'object',
          required: ['type'],
          properties: { type: { type: 'string', enum: ['DER', 'CombinedPEM'] } },
        },
      },
      commonName: str,
      dnsNames: strings,
      duration: str,
      emailAddresses: strings,
      encodeUsagesInRequest: bool,
      ipAddresses: strings,
      isCA: bool,
      issuerRef: { type: 'object', required: ['name'], properties: { group: str, kind: str, name: str } },
      keystores: kept,
      literalSubject: str,
      nameConstraints: kept,
      otherNames: { type: 'array', items: { type: 'object', properties: { oid: str, utf8Value: str } } },
      privateKey: {
        type: 'object',
        properties: {
          algorithm: { type: 'string', enum: ['RSA', 'ECDSA', 'Ed25519'] },
          encoding: { type: 'string', enum: ['PKCS1', 'PKCS8'] },
          rotationPolicy: { type: 'string', enum: ['Never', 'Always'] },
          size: { type: 'integer' },
        },
      },
      renewBefore: str,
      renewBeforePercentage: int32,
      revisionHistoryLimit: int32,
      secretName: str,
      secretTemplate: { type: 'object', properties: { annotations: stringMap, labels: stringMap } },
      signatureAlgorithm: {
        type: 'string',
        enum: [
          'SHA256WithRSA',
          'SHA384WithRSA',
          'SHA512WithRSA',
          'ECDSAWithSHA256',
          'ECDSAWithSHA384',
          'ECDSAWithSHA512',
          'PureEd25519',
        ],
      },
      subject: {
        type: 'object',
        properties: {
          countries: strings,
          localities: strings,
          organizationalUnits: strings,
          organizations: strings,
          postalCodes: strings,
          provinces: strings,
          serialNumber: str,
          streetAddresses: strings,
        },
      },
      uris: strings,
      usages: { type: 'array', items: { type: 'string', enum: USAGES } },
    },
  },
  status: {
    type: 'object',
    properties: {
      conditions: { type: 'array', items: cmCondition },
      failedIssuanceAttempts: { type: 'integer' },
      lastFailureTime: dateTime,
      nextPrivateKeySecretName: str,
      notAfter: dateTime,
      notBefore: dateTime,
      renewalTime: dateTime,
      revision: { type: 'integer' },
    },
  },
});

/** Issuer and ClusterIssuer share one schema. */
export const ISSUER_SCHEMA: Schema = customResource({
  spec: {
    type: 'object',
    properties: {
      acme: kept,
      ca: {
        type: 'object',
        required: ['secretName'],
        properties: {
          crlDistributionPoints: strings,
          issuingCertificateURLs: strings,
          ocspServers: strings,
          secretName: str,
        },
      },
      selfSigned: { type: 'object', properties: { crlDistributionPoints: strings } },
      vault: kept,
      venafi: kept,
    },
  },
  status: {
    type: 'object',
    properties: { acme: kept, conditions: { type: 'array', items: cmCondition } },
  },
});

const nameRef: Schema = { type: 'object', properties: { name: str } };

export const APPBINDING_SCHEMA: Schema = customResource({
  spec: {
    type: 'object',
    required: ['clientConfig'],
    properties: {
      appRef: {
        type: 'object',
        properties: { apiGroup: str, kind: str, name: str, namespace: str },
      },
      clientConfig: {
        type: 'object',
        properties: {
          caBundle: { type: 'string', format: 'byte' },
          insecureSkipTLSVerify: bool,
          serverName: str,
          service: {
            type: 'object',
            required: ['name', 'port', 'scheme'],
            properties: { name: str, namespace: str, path: str, port: int32, query: str, scheme: str },
          },
          url: str,
        },
      },
      parameters: { ...kept, 'x-kubernetes-embedded-resource': true },
      secret: nameRef,
      secretTransforms: keptList,
      tlsSecret: nameRef,
      type: str,
      version: str,
    },
  },
});

/** By `<plural>.<group>`, as the store keys resources. */
/**
 * KubeDB supervisor's MaintenanceWindow / ClusterMaintenanceWindow (kubeops/supervisor
 * `apis/supervisor/v1alpha1/maintenancewindow_types.go`): days of the week → time windows, dates,
 * time zone, isDefault. Times of day are strings ("00:00", "2:00AM").
 */
const timeWindow: Schema = {
  type: 'object',
  required: ['start', 'end'],
  properties: { start: str, end: str },
};
const MAINTENANCE_WINDOW_SCHEMA = customResource({
  spec: {
    type: 'object',
    properties: {
      isDefault: bool,
      timezone: str,
      days: {
        type: 'object',
        properties: Object.fromEntries(
          ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'].map((d) => [
            d,
            { type: 'array', items: timeWindow },
          ]),
        ),
      },
      dates: {
        type: 'array',
        items: {
          type: 'object',
          required: ['start', 'end'],
          properties: { start: dateTime, end: dateTime },
        },
      },
    },
  },
  status: kept,
});

export const SCHEMAS: Record<string, Schema> = {
  'maintenancewindows.supervisor.appscode.com': MAINTENANCE_WINDOW_SCHEMA,
  'clustermaintenancewindows.supervisor.appscode.com': MAINTENANCE_WINDOW_SCHEMA,
  'perconaxtradbs.kubedb.com': PERCONAXTRADB_SCHEMA,
  'perconaxtradbopsrequests.ops.kubedb.com': OPS_REQUEST_CRD_SCHEMA,
  'certificates.cert-manager.io': CERTIFICATE_SCHEMA,
  'issuers.cert-manager.io': ISSUER_SCHEMA,
  'clusterissuers.cert-manager.io': ISSUER_SCHEMA,
  'appbindings.appcatalog.appscode.com': APPBINDING_SCHEMA,
};
