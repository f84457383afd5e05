/**
 * The custom resources as the functions read them (KubeDB PerconaXtraDB and its OpsRequest,
 * cert-manager issuers). Only the fields this project uses; see ../../../shared/DOMAIN.md.
 */
import type { KubeObject } from '../kube/types.js';

export type CertificateAlias = 'server' | 'client' | 'metrics-exporter';
export const CERTIFICATE_ALIASES: readonly CertificateAlias[] = ['server', 'client', 'metrics-exporter'];

export interface IssuerRef {
  apiGroup?: string;
  kind: 'Issuer' | 'ClusterIssuer' | string;
  name: string;
}

export interface X509Subject {
  organizations?: string[];
  countries?: string[];
  organizationalUnits?: string[];
  localities?: string[];
  provinces?: string[];
  streetAddresses?: string[];
  postalCodes?: string[];
  serialNumber?: string;
}

export interface CertificateSpec {
  alias: CertificateAlias | string;
  issuerRef?: IssuerRef;
  secretName?: string;
  subject?: X509Subject;
  duration?: string;
  renewBefore?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  emailAddresses?: string[];
  privateKey?: { encoding?: 'PKCS1' | 'PKCS8' | string };
}

export interface TLSConfig {
  issuerRef?: IssuerRef;
  certificates?: CertificateSpec[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  severity?: string;
}

export interface PerconaXtraDB extends KubeObject {
  spec: {
    version?: string;
    replicas?: number;
    requireSSL?: boolean;
    tls?: TLSConfig;
    [key: string]: unknown;
  };
  status?: {
    phase?: string;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

export interface ReconfigureTLSSpec extends TLSConfig {
  rotateCertificates?: boolean;
  remove?: boolean;
  /** Absent is not the same as false. */
  requireSSL?: boolean;
}

export interface PerconaXtraDBOpsRequest extends KubeObject {
  spec: {
    type: string;
    databaseRef: { name: string };
    tls?: ReconfigureTLSSpec;
    timeout?: string;
    apply?: 'IfReady' | 'Always' | string;
    maxRetries?: number;
    [key: string]: unknown;
  };
  status?: {
    phase?: 'Pending' | 'Progressing' | 'Successful' | 'Failed' | 'Skipped' | string;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

export interface CAIssuer extends KubeObject {
  spec: {
    ca?: { secretName: string };
    [issuerType: string]: unknown;
  };
  status?: { conditions?: Condition[] };
}
