import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeLogsData, forwardAudit, opsRequestCreates } from '../../functions/steps/forward-audit.js';
import { auditRecord, logsSubscriptionEvent } from '../../local/aws/logs.js';
import { putOpsRequest, triggerWorld } from './helpers.js';

const BUS = 'pxc-tls-ops-test';

describe('Forward audit (against the simulator and the EventBridge stand-in)', () => {
  const w = triggerWorld(BUS);

  describe('Forward audit', () => {
    it('decodes the sample subscription event and keeps only completed creates of OpsRequests', () => {
      const sample = JSON.parse(
        readFileSync('events/forward-audit/opsrequest-created-audit-record.json', 'utf8'),
      );
      expect(opsRequestCreates(decodeLogsData(sample))).toEqual([
        { namespace: 'demo', name: 'pxops-rotate', object: undefined },
      ]);
    });

    it('forwards a created request that still waits, reading it from the cluster', async () => {
      putOpsRequest(w.sim, 'demo', 'pxops-rotate');
      const sample = JSON.parse(
        readFileSync('events/forward-audit/opsrequest-created-audit-record.json', 'utf8'),
      );

      const result = await forwardAudit(sample, w.deps());

      expect(result.pending.map((p) => p.name)).toEqual(['pxops-rotate']);
      expect(w.sim.requests.countBy({ verb: 'get', resource: 'perconaxtradbopsrequests' })).toBe(1);
      expect(w.aws.events.map((e) => e.detail)).toEqual([
        expect.objectContaining({ namespace: 'demo', name: 'pxops-rotate' }),
      ]);
    });

    it('in a namespaced install, reads and forwards only creates in the watched namespaces', async () => {
      putOpsRequest(w.sim, 'team-a', 'watched');
      putOpsRequest(w.sim, 'team-b', 'elsewhere');
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'team-a', name: 'watched' }),
        auditRecord({ namespace: 'team-b', name: 'elsewhere' }),
      ]);

      const result = await forwardAudit(event, { ...w.deps(), namespaces: ['demo', 'team-a'] });

      expect(result.pending.map((p) => `${p.namespace}/${p.name}`)).toEqual(['team-a/watched']);
      // Its RoleBindings would refuse a read in team-b: none is made.
      expect(w.sim.requests.all().filter((r) => r.path.includes('/namespaces/team-b/'))).toEqual([]);
    });

    it('skips requests deleted or already taken since, and failed creates', async () => {
      putOpsRequest(w.sim, 'demo', 'taken', { phase: 'Progressing' });
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'demo', name: 'taken' }),
        auditRecord({ namespace: 'demo', name: 'gone' }),
        auditRecord({ namespace: 'demo', name: 'refused', code: 422 }),
      ]);

      const result = await forwardAudit(event, w.deps());

      expect(result.creates).toBe(2);
      expect(result.pending).toEqual([]);
      expect(w.aws.calls).toEqual([]);
    });

    it('uses the object in a RequestResponse audit record without reading the cluster', async () => {
      const object = {
        apiVersion: 'ops.kubedb.com/v1alpha1',
        kind: 'PerconaXtraDBOpsRequest',
        metadata: { namespace: 'team-b', name: 'from-audit', uid: 'uid-1' },
        spec: { type: 'ReconfigureTLS', databaseRef: { name: 'db' }, tls: { rotateCertificates: true } },
      };
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'team-b', name: 'from-audit', responseObject: object }),
      ]);

      const result = await forwardAudit(event, w.deps());

      expect(result.pending).toEqual([
        {
          cluster: 'demo-cluster',
          namespace: 'team-b',
          name: 'from-audit',
          uid: 'uid-1',
          type: 'ReconfigureTLS',
          database: 'db',
        },
      ]);
      expect(w.sim.requests.countBy({ verb: 'get' })).toBe(0);
    });

    it('ignores control messages and rejects a payload that is not base64 gzip', async () => {
      const control = logsSubscriptionEvent([], { messageType: 'CONTROL_MESSAGE' });
      await expect(forwardAudit(control, w.deps())).resolves.toEqual({ creates: 0, pending: [] });
      await expect(forwardAudit({ awslogs: { data: 'not-gzip' } }, w.deps())).rejects.toMatchObject({
        name: 'InvalidRequestError',
      });
    });
  });
});
