/**
 * Label indexes that keep the controllers' work proportional to the objects involved rather than
 * to the whole namespace (1,000 databases share one namespace in the scale test):
 * - pods by `namespace + label=value`, to find the pods a PodDisruptionBudget selects;
 * - PodDisruptionBudgets by their selector's whole `matchLabels` set, to find the budgets a pod
 *   change touches;
 * - objects by the owner UIDs in their ownerReferences, for garbage collection.
 */
import { RESOURCES, resourceKey, type SimResource } from './resources.js';
import { matchesSelectorObject } from './selectors.js';
import type { J, Obj, Store, StoreEvent } from './store.js';

const POD = RESOURCES.find((r) => r.kind === 'Pod')!;
const PDB = RESOURCES.find((r) => r.kind === 'PodDisruptionBudget')!;

type Index = Map<string, Set<string>>;

function add(ix: Index, key: string, name: string): void {
  let s = ix.get(key);
  if (!s) {
    s = new Set();
    ix.set(key, s);
  }
  s.add(name);
}

function remove(ix: Index, key: string, name: string): void {
  const s = ix.get(key);
  if (!s) return;
  s.delete(name);
  if (s.size === 0) ix.delete(key);
}

const pairKey = (ns: string, k: string, v: string) => `${ns}\u0000${k}=${v}`;

export class LabelIndexes {
  private readonly pods: Index = new Map();
  private readonly pdbs: Index = new Map();
  /** `namespace + label key` → PDBs whose matchLabels use that key. */
  private readonly pdbLabelKeys: Index = new Map();
  /** Owner uid → `resourceKey\u0000namespace\u0000name` of the objects it owns. */
  private readonly owned: Index = new Map();
  private readonly unsubscribe: () => void;

  constructor(private readonly store: Store) {
    this.unsubscribe = store.subscribe((ev) => this.onEvent(ev));
  }

  stop(): void {
    this.unsubscribe();
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.obj.metadata.ownerReferences || ev.old?.metadata.ownerReferences) {
      const ref = `${resourceKey(ev.res)}\u0000${ev.obj.metadata.namespace ?? ''}\u0000${ev.obj.metadata.name}`;
      for (const o of ev.old?.metadata.ownerReferences ?? []) remove(this.owned, o.uid, ref);
      if (ev.type !== 'DELETED')
        for (const o of ev.obj.metadata.ownerReferences ?? []) add(this.owned, o.uid, ref);
    }
    if (ev.res === POD) {
      const ns = ev.obj.metadata.namespace;
      const name = ev.obj.metadata.name;
      if (ev.old)
        for (const [k, v] of Object.entries<string>(ev.old.metadata.labels ?? {}))
          remove(this.pods, pairKey(ns, k, v), name);
      if (ev.type === 'DELETED') {
        for (const [k, v] of Object.entries<string>(ev.obj.metadata.labels ?? {}))
          remove(this.pods, pairKey(ns, k, v), name);
      } else {
        for (const [k, v] of Object.entries<string>(ev.obj.metadata.labels ?? {}))
          add(this.pods, pairKey(ns, k, v), name);
      }
    } else if (ev.res === PDB) {
      const ns = ev.obj.metadata.namespace;
      const name = ev.obj.metadata.name;
      if (ev.old) this.unindexPdb(ns, ev.old);
      if (ev.type === 'DELETED') this.unindexPdb(ns, ev.obj);
      else {
        add(this.pdbs, selectorKey(ns, ev.obj), name);
        for (const k of Object.keys(ev.obj.spec?.selector?.matchLabels ?? {}))
          add(this.pdbLabelKeys, `${ns}\u0000${k}`, name);
      }
    }
  }

  private unindexPdb(ns: string, pdb: Obj): void {
    remove(this.pdbs, selectorKey(ns, pdb), pdb.metadata.name);
    for (const k of Object.keys(pdb.spec?.selector?.matchLabels ?? {}))
      remove(this.pdbLabelKeys, `${ns}\u0000${k}`, pdb.metadata.name);
  }

  /** Objects that name `uid` in their ownerReferences, as [resource, namespace, name]. */
  ownedBy(uid: string): Array<[SimResource, string | undefined, string]> {
    const out: Array<[SimResource, string | undefined, string]> = [];
    for (const ref of this.owned.get(uid) ?? []) {
      const [rk, ns, name] = ref.split('\u0000') as [string, string, string];
      const res = RESOURCES.find((r) => resourceKey(r) === rk);
      if (res) out.push([res, ns || undefined, name]);
    }
    return out;
  }

  /** Pods of `ns` that the label selector object selects. */
  podsSelectedBy(ns: string, selector: J): Obj[] {
    const ml = Object.entries<string>(selector?.matchLabels ?? {});
    let names: Iterable<string>;
    if (ml.length > 0) {
      let smallest: Set<string> | undefined;
      for (const [k, v] of ml) {
        const s = this.pods.get(pairKey(ns, k, v));
        if (!s) return [];
        if (!smallest || s.size < smallest.size) smallest = s;
      }
      names = smallest ?? [];
    } else {
      names = this.store.list(POD, ns).map((p) => p.metadata.name as string);
    }
    const out: Obj[] = [];
    for (const n of [...names].sort()) {
      const p = this.store.get(POD, ns, n);
      if (p && matchesSelectorObject(selector, p.metadata.labels)) out.push(p);
    }
    return out;
  }

  /**
   * Names of the PDBs of `ns` that select a pod with these labels. PDBs are indexed by their
   * whole `matchLabels` set, and a pod's label subsets are looked up (a pod has a handful of
   * labels), so the cost does not grow with the number of budgets in the namespace.
   */
  pdbsSelecting(ns: string, labels: Record<string, string> | undefined): string[] {
    // Only the label keys some budget of this namespace selects on can be part of a match.
    const pairs = Object.entries(labels ?? {})
      .filter(([k]) => this.pdbLabelKeys.has(`${ns}\u0000${k}`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const candidates = new Set<string>();
    if (pairs.length > 12) {
      for (const pdb of this.store.list(PDB, ns)) candidates.add(pdb.metadata.name);
    } else {
      for (let mask = 0; mask < 1 << pairs.length; mask++) {
        const subset = pairs.filter((_, i) => mask & (1 << i));
        for (const n of this.pdbs.get(pairsKey(ns, subset)) ?? []) candidates.add(n);
      }
    }
    const out: string[] = [];
    for (const n of candidates) {
      const pdb = this.store.get(PDB, ns, n);
      if (pdb && matchesSelectorObject(pdb.spec?.selector, labels)) out.push(n);
    }
    return out.sort();
  }
}

function pairsKey(ns: string, pairs: Array<[string, string]>): string {
  return `${ns}\u0000${pairs.map(([k, v]) => `${k}=${v}`).join(',')}`;
}

function selectorKey(ns: string, pdb: Obj): string {
  const ml = Object.entries<string>(pdb.spec?.selector?.matchLabels ?? {}).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return pairsKey(ns, ml);
}
