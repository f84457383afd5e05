/**
 * Certificate benchmark: time to issue all three certificates of one database (server, client,
 * metrics-exporter: three RSA 2048 keys + three signatures) with Node's native key generator,
 * next to the same with node-forge's pure-JS generator, so the ratio shows. Also the cost of
 * inspecting one Secret (what the expiry scanner pays per certificate).
 *
 * `npx tsx bench/pki.ts` prints the table; `benchCertificates()` returns the figures.
 * Runs: PKI_BENCH_RUNS (default 20) and PKI_BENCH_FORGE_RUNS (default 20; each run ≈ 3 s).
 */
import { pathToFileURL } from 'node:url';
import { checkCertificateAuthority, createTestCA, inspectTlsSecret } from '../functions/pki/index.js';
import { forgeRsaKey, type IssueInput, issueCertificates, nativeRsaKey } from '../functions/pki/issue.js';
import { type Figure, figure, median, renderTable } from './stats.js';

export interface CertificateBench {
  figures: Figure[];
  /** Median ms to issue the three certificates with node:crypto keys. */
  nativeIssueMs: number;
  /** Median ms for the same with node-forge's pure-JS keys. */
  forgeIssueMs: number;
  /** forgeIssueMs / nativeIssueMs. */
  ratio: number;
  /** Median ms to inspect one TLS Secret. */
  inspectMs: number;
}

const GROUP = 'Certificates';

async function timeRuns(runs: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchCertificates(
  opts: { runs?: number; forgeRuns?: number } = {},
): Promise<CertificateBench> {
  const runs = Math.max(20, opts.runs ?? Number(process.env.PKI_BENCH_RUNS ?? 20));
  const forgeRuns = Math.max(1, opts.forgeRuns ?? Number(process.env.PKI_BENCH_FORGE_RUNS ?? 20));
  const root = await createTestCA();
  const input: IssueInput = {
    database: 'sample-pxc',
    namespace: 'demo',
    certificates: [{ alias: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }],
    ca: {
      issuerRef: { apiGroup: 'cert-manager.io', kind: 'Issuer', name: 'px-issuer' },
      secretRef: { namespace: 'demo', name: 'px-ca' },
      ...checkCertificateAuthority(root.certPem, root.keyPem, { who: 'bench CA' }),
    },
  };

  await issueCertificates(input, nativeRsaKey); // warm-up (module init, first OpenSSL calls)
  const native = await timeRuns(runs, () => issueCertificates(input, nativeRsaKey));
  const forge = await timeRuns(forgeRuns, () => issueCertificates(input, forgeRsaKey));
  const [server] = await issueCertificates(input);
  const inspect = await timeRuns(runs, () => inspectTlsSecret(server!.data));

  const nativeIssueMs = median(native);
  const forgeIssueMs = median(forge);
  const ratio = forgeIssueMs / nativeIssueMs;
  const figures = [
    figure(GROUP, 'issue 3 certificates, node:crypto RSA 2048 keys', 'ms', native),
    figure(GROUP, 'issue 3 certificates, node-forge pure-JS keys', 'ms', forge),
    {
      ...figure(GROUP, 'pure-JS / native (issue time ratio)', '×', [ratio]),
      note: `${forgeRuns} forge runs vs ${runs} native runs`,
    },
    figure(GROUP, 'inspect one TLS Secret', 'ms', inspect),
  ];
  return { figures, nativeIssueMs, forgeIssueMs, ratio, inspectMs: median(inspect) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const result = await benchCertificates();
  console.log(renderTable(result.figures));
  console.log(
    `\nissue 3 certificates: ${result.nativeIssueMs.toFixed(1)} ms native vs ${result.forgeIssueMs.toFixed(0)} ms pure-JS (${result.ratio.toFixed(1)}× slower)`,
  );
}
