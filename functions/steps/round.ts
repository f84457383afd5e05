/**
 * What a pass of Change certificates hands on: the pods to restart or reload, how they pick up
 * the pass, and public facts about what was issued. Carried in the execution's state to Restart
 * pod, Check pod, Reload pods and the failure path, so it holds names, UIDs and serials, never key
 * material.
 */
import type { Lease } from '../model/lease.js';
import type { PassKind, RestartMode } from '../model/plan.js';

/** What a pod must trust when it starts: every CA of `cas` in Secret `secret`'s ca.crt (see keep-trust.ts). */
export interface TrustToKeep {
  secret: string;
  /** PEM bundle of the CA certificates (public) the pass must keep trusted. */
  cas: string;
}

export interface PodToRestart {
  name: string;
  /** UID before the restart ('' when the pod did not exist). */
  uid: string;
  index: number;
  total: number;
  /**
   * On a change of CA whose Secrets cert-manager owns: the CAs ca.crt must hold when this pod
   * (re)starts or reloads (steps/keep-trust.ts). Public certificates only.
   */
  mustTrust?: TrustToKeep;
}

export interface Round {
  pass: number;
  next: number;
  more: boolean;
  /** The pass; `rollback` for the round the failure path reloads back onto the restored files. */
  kind: PassKind | 'rollback';
  /** The workload's controller rolls the pods itself (RollingUpdate and the template changed). */
  rollout: boolean;
  /**
   * How the pods pick up this pass: `Reload` when the request asks for it and the pass keeps the
   * Secret names, mount paths and pod template (rotate, update, change of issuer); else `Restart`.
   */
  mode: RestartMode;
  /**
   * Peers provably trust the old and the new server material at once: the new ca.crt still
   * trusts the old certificate and the old ca.crt already trusts the new one. Only then may pods
   * reload in parallel (a pod that has reloaded and one that has not yet still trust each other).
   */
  trustOverlap: boolean;
  selector: string;
  pods: PodToRestart[];
  /** Public facts about what was issued (serials, notAfter): never key material. */
  certificates: IssuedFacts[];
  /** The claim's lease as of this pass, for the pod restarts (they renew it only when due). */
  lease: Lease | null;
}

/** What the execution's state may say about one issued certificate. */
export interface IssuedFacts {
  alias: string;
  secretName: string;
  serial: string;
  notAfter: string;
}
