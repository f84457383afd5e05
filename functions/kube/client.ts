/**
 * Everything the adapter offers, for local code and tests. Lambda code goes through `getKube()`
 * (index.ts), which loads the kubeconfig half only when it is needed.
 */
export { type ClusterAccess, errorFromStatus, HttpKube, kubeFromAccess, resourcePath } from './http.js';
export { kubeFromKubeconfig } from './kubeconfig.js';
