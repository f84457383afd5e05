import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubeFromKubeconfig } from '../../functions/kube/client.js';
import type { Kube } from '../../functions/kube/types.js';
import { decodeLogsData, forwardAudit, opsRequestCreates } from '../../functions/steps/forward-audit.js';
import { eventBridgePublish } from '../../functions/triggers/aws.js';
import { type AwsStandIn, startAwsStandIn } from '../../local/aws/index.js';
import { auditRecord, logsSubscriptionEvent } from '../../local/aws/logs.js';
import { type Simulator, startSimulator } from '../../local/sim/index.js';
import { putOpsRequest, recordingLogger, TEST_CREDENTIALS } from './helpers.js';

const BUS = 'pxc-tls-ops-test';

describe('Forward audit (against the simulator and the EventBridge stand-in)', () => {
  let sim: Simulator;
  let aws: AwsStandIn;
  let kube: Kube;
  const deps = () => ({
    kube,
    publish: eventBridgePublish(BUS, {
      endpoint: aws.endpoint,
      region: 'eu-west-1',
      credentials: TEST_CREDENTIALS,
    }),
    cluster: 'demo-cluster',
    logger: recordingLogger(),
  });

  beforeAll(async () => {
    sim = await startSimulator({ namespaces: ['demo', 'team-a', 'team-b'] });
    aws = await startAwsStandIn();
    kube = kubeFromKubeconfig(sim.kubeconfig);
  });
  afterAll(async () => {
    await sim?.stop();
    await aws?.stop();
  });
  beforeEach(() => {
    for (const o of sim.store.list<{ metadata: { namespace: string; name: string } }>(
      'ops.kubedb.com/v1alpha1',
      'PerconaXtraDBOpsRequest',
    )) {
      sim.store.delete(
        'ops.kubedb.com/v1alpha1',
        'PerconaXtraDBOpsRequest',
        o.metadata.namespace,
        o.metadata.name,
      );
    }
    aws.events.length = 0;
    aws.calls.length = 0;
    sim.requests.reset();
  });

  describe('Forward audit', () => {
    it('decodes the sample subscription event and keeps only completed creates of OpsRequests', () => {
      const sample = JSON.parse(readFileSync('events/forward-audit/audit-create.json', 'utf8'));
      expect(opsRequestCreates(decodeLogsData(sample))).toEqual([
        { namespace: 'demo', name: 'pxops-rotate', object: undefined },
      ]);
    });

    it('forwards a created request that still waits, reading it from the cluster', async () => {
      putOpsRequest(sim, 'demo', 'pxops-rotate');
      const sample = JSON.parse(readFileSync('events/forward-audit/audit-create.json', 'utf8'));

      const result = await forwardAudit(sample, deps());

      expect(result.pending.map((p) => p.name)).toEqual(['pxops-rotate']);
      expect(sim.requests.countBy({ verb: 'get', resource: 'perconaxtradbopsrequests' })).toBe(1);
      expect(aws.events.map((e) => e.detail)).toEqual([
        expect.objectContaining({ namespace: 'demo', name: 'pxops-rotate' }),
      ]);
    });

    it('skips requests deleted or already taken since, and failed creates', async () => {
      putOpsRequest(sim, 'demo', 'taken', { phase: 'Progressing' });
      const event = logsSubscriptionEvent([
        auditRecord({ namespace: 'demo', name: 'taken' }),
        auditRecord({ namespace: 'demo', name: 'gone' }),
        auditRecord({ namespace: 'demo', name: 'refused', code: 422 }),
      ]);

      const result = await forwardAudit(event, deps());

      expect(result.creates).toBe(2);
      expect(result.pending).toEqual([]);
      expect(aws.calls).toEqual([]);
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

      const result = await forwardAudit(event, deps());

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
      expect(sim.requests.countBy({ verb: 'get' })).toBe(0);
    });

    it('ignores control messages and rejects a payload that is not base64 gzip', async () => {
      const control = logsSubscriptionEvent([], { messageType: 'CONTROL_MESSAGE' });
      await expect(forwardAudit(control, deps())).resolves.toEqual({ creates: 0, pending: [] });
      await expect(forwardAudit({ awslogs: { data: 'not-gzip' } }, deps())).rejects.toMatchObject({
        name: 'InvalidRequestError',
      });
    });
  });
});
