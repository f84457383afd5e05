/**
 * A Kube for a kubeconfig (local runs, the simulator, any cluster kubectl can reach), using
 * @kubernetes/client-node's KubeConfig for everything about credentials and TLS.
 */
import type * as https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeRequestError } from '../errors.js';
import { HttpKube } from './http.js';
import type { Kube } from './types.js';

/** A Kube for the current context of a kubeconfig, given as a file path or as YAML text. */
export function kubeFromKubeconfig(pathOrYaml: string): Kube {
  let kc = new KubeConfig();
  if (pathOrYaml.includes('\n')) kc.loadFromString(pathOrYaml);
  else kc.loadFromFile(pathOrYaml);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster) throw new KubeRequestError('kubeconfig has no current cluster');
  if (cluster.server.startsWith('http:') && user) {
    // client-node refuses plain HTTP unless TLS verification is off; with no TLS there is nothing
    // to verify (a local simulator or `kubectl proxy`), so say so explicitly.
    const plain = new KubeConfig();
    plain.loadFromClusterAndUser({ ...cluster, skipTLSVerify: true }, user);
    kc = plain;
  }
  return new HttpKube(cluster.server, async () => {
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    return opts;
  });
}
