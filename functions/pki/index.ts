/**
 * The certificate module: resolve a cert-manager CA issuer, issue the three certificates of a
 * PerconaXtraDB (server, client, metrics-exporter), inspect existing TLS Secrets, build trust
 * bundles and validate certificate requests.
 *
 * Private keys never leave memory through this API except as the `tls.key` of an issued Secret:
 * callers must not log IssuedSecret.data or CertificateAuthority.keyPem, nor put them in state
 * machine payloads.
 */
export { formatDuration, parseDuration } from './duration.js';
export {
  type CertificateValidity,
  certificateValidity,
  inspectTlsSecret,
  type SecretInspection,
} from './inspect.js';
export {
  ANNOTATIONS,
  decodeSecretData,
  type IssuedSecret,
  type IssueInput,
  issueCertificates,
  LABELS,
  MANAGED_BY,
  secretData,
  secretManifest,
} from './issue.js';
export {
  type CertificateAuthority,
  checkCertificateAuthority,
  createTestCA,
  DEFAULT_CLUSTER_RESOURCE_NAMESPACE,
  resolveIssuer,
} from './issuer.js';
export {
  type CertificateProfile,
  certificateProfile,
  certificateProfiles,
  DEFAULT_DURATION,
  defaultIdentity,
  defaultSecretName,
  mergeCertificateSpecs,
  renewalTime,
} from './profile.js';
export {
  certificateSpecProblems,
  issuerRefProblems,
  isValidDnsName,
  isValidEmail,
  isValidIp,
  isValidUri,
  validateCertificateSpecs,
} from './validate.js';
export {
  bundleTrusts,
  chainsTo,
  fingerprintOf,
  mergeTrustBundle,
  parseBundle,
  retireTrust,
  trustOverlap,
} from './x509.js';
