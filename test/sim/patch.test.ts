import { describe, expect, it } from 'vitest';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../local/sim/patch.js';
import { ApiError, type J } from '../../local/sim/store.js';

describe('Simulator patch formats', () => {
  describe('JSON merge patch (RFC 7386)', () => {
    it.each([
      [{ a: 1, b: { c: 1, d: 2 } }, { b: { c: null, e: 3 } }, { a: 1, b: { d: 2, e: 3 } }],
      [{ a: [1, 2] }, { a: [3] }, { a: [3] }],
      [{ a: 1 }, { a: { b: 1 } }, { a: { b: 1 } }],
      [{ a: { b: 1 } }, { a: null }, {}],
    ])('merges %j with %j into %j', (target, patch, want) => {
      expect(mergePatch(target, patch)).toEqual(want);
    });
  });

  describe('JSON patch (RFC 6902)', () => {
    const doc = { metadata: { annotations: { 'a/b': '1' } }, list: ['x', 'y'] };

    it.each([
      [[{ op: 'add', path: '/list/-', value: 'z' }], { list: ['x', 'y', 'z'] }],
      [[{ op: 'add', path: '/list/0', value: 'w' }], { list: ['w', 'x', 'y'] }],
      [[{ op: 'remove', path: '/list/0' }], { list: ['y'] }],
      [
        [{ op: 'replace', path: '/metadata/annotations/a~1b', value: '2' }],
        { metadata: { annotations: { 'a/b': '2' } } },
      ],
      [[{ op: 'move', from: '/list/0', path: '/first' }], { first: 'x', list: ['y'] }],
      [[{ op: 'copy', from: '/list/1', path: '/second' }], { second: 'y', list: ['x', 'y'] }],
      [[{ op: 'test', path: '/list', value: ['x', 'y'] }], { list: ['x', 'y'] }],
    ])('applies %j', (ops, want) => {
      expect(jsonPatch(doc, ops)).toMatchObject(want);
    });

    it('leaves the input untouched', () => {
      jsonPatch(doc, [{ op: 'remove', path: '/list/0' }]);
      expect(doc.list).toEqual(['x', 'y']);
    });

    it.each([
      [[{ op: 'test', path: '/list/0', value: 'y' }], 422],
      [[{ op: 'remove', path: '/missing' }], 422],
      [[{ op: 'replace', path: '/missing/deeper', value: 1 }], 422],
      [[{ op: 'frobnicate', path: '/list' }], 400],
      [{ op: 'add' }, 400],
    ])('refuses %j with %i', (ops, code) => {
      let err: unknown;
      try {
        jsonPatch(doc, ops);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe(code);
    });
  });

  describe('strategic merge patch', () => {
    const podSpec: J = {
      containers: [
        {
          name: 'perconaxtradb',
          args: ['--a'],
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
          ports: [{ containerPort: 3306, name: 'db' }],
          volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
        },
        { name: 'px-coordinator' },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    };

    it('merges keyed lists element by element and appends new keys', () => {
      const out = strategicMergePatch(
        { spec: podSpec },
        {
          spec: {
            containers: [
              {
                name: 'perconaxtradb',
                env: [
                  { name: 'B', value: '3' },
                  { name: 'C', value: '4' },
                ],
              },
            ],
          },
        },
      );
      expect(out.spec.containers[0].env).toEqual([
        { name: 'A', value: '1' },
        { name: 'B', value: '3' },
        { name: 'C', value: '4' },
      ]);
      expect(out.spec.containers[1]).toEqual({ name: 'px-coordinator' });
    });

    it('replaces atomic lists such as args', () => {
      const out = strategicMergePatch(
        { spec: podSpec },
        { spec: { containers: [{ name: 'perconaxtradb', args: ['--b'] }] } },
      );
      expect(out.spec.containers[0].args).toEqual(['--b']);
    });

    it('keys container ports by containerPort and Service ports by port', () => {
      const pod = strategicMergePatch(
        { spec: podSpec },
        {
          spec: {
            containers: [{ name: 'perconaxtradb', ports: [{ containerPort: 3306, protocol: 'TCP' }] }],
          },
        },
      );
      const svc = strategicMergePatch(
        { spec: { ports: [{ port: 3306, name: 'db' }] } },
        { spec: { ports: [{ port: 3306, targetPort: 'db' }] } },
      );
      expect(pod.spec.containers[0].ports).toEqual([{ containerPort: 3306, name: 'db', protocol: 'TCP' }]);
      expect(svc.spec.ports).toEqual([{ port: 3306, name: 'db', targetPort: 'db' }]);
    });

    it('honours $patch: delete, $patch: replace, $deleteFromPrimitiveList and $setElementOrder', () => {
      const out = strategicMergePatch(
        { metadata: { finalizers: ['a', 'b'] }, spec: podSpec },
        {
          metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] },
          spec: {
            '$setElementOrder/volumes': [{ name: 'tls' }, { name: 'data' }],
            volumes: [{ name: 'tls', secret: { secretName: 's' } }],
            containers: [
              {
                name: 'perconaxtradb',
                env: [{ name: 'A', $patch: 'delete' }],
                volumeMounts: [{ $patch: 'replace' }],
              },
            ],
          },
        },
      );
      expect(out.metadata.finalizers).toEqual(['b']);
      expect(out.spec.volumes.map((v: J) => v.name)).toEqual(['tls', 'data']);
      expect(out.spec.containers[0].env).toEqual([{ name: 'B', value: '2' }]);
      expect(out.spec.containers[0].volumeMounts).toEqual([]);
    });

    it('replaces a whole map with $patch: replace and drops keys set to null', () => {
      const out = strategicMergePatch(
        { metadata: { labels: { a: '1', b: '2' }, annotations: { x: '1', y: '2' } } },
        { metadata: { labels: { $patch: 'replace', c: '3' }, annotations: { x: null } } },
      );
      expect(out.metadata).toEqual({ labels: { c: '3' }, annotations: { y: '2' } });
    });

    it('merges finalizers as a set', () => {
      const out = strategicMergePatch(
        { metadata: { finalizers: ['a'] } },
        { metadata: { finalizers: ['a', 'b'] } },
      );
      expect(out.metadata.finalizers).toEqual(['a', 'b']);
    });
  });
});
