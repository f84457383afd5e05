import { describe, expect, it } from 'vitest';
import {
  PAUSED_BY_ANNOTATION,
  pauseConfirmed,
  pausedBy,
  pauseMessage,
  pauseSpecPatch,
  resumeSpecPatch,
  WRITE_CHECK_ANNOTATION,
} from '../../../functions/model/pause.js';
import type { PerconaXtraDB } from '../../../functions/model/types.js';

const ME = 'demo/r1';
const db = (o: {
  status?: 'True' | 'Unknown' | 'False';
  message?: string;
  annotations?: Record<string, string>;
  writeCheck?: boolean;
}): PerconaXtraDB => ({
  metadata: { name: 'db', namespace: 'demo', ...(o.annotations ? { annotations: o.annotations } : {}) },
  spec: { ...(o.writeCheck !== undefined ? { healthChecker: { disableWriteCheck: o.writeCheck } } : {}) },
  status: {
    conditions: o.status
      ? [{ type: 'Paused', status: o.status, reason: 'x', message: o.message ?? pauseMessage(ME) }]
      : [],
  },
});

describe('Pause: who holds it', () => {
  it.each([
    { why: 'not paused', d: db({}), holder: undefined, confirmed: false },
    { why: 'Paused False is not paused', d: db({ status: 'False' }), holder: undefined, confirmed: false },
    { why: 'ours, not yet confirmed', d: db({ status: 'Unknown' }), holder: ME, confirmed: false },
    { why: 'ours, confirmed', d: db({ status: 'True' }), holder: ME, confirmed: true },
    {
      why: 'confirmed with a message the provisioner rewrote: the annotation says whose',
      d: db({ status: 'True', message: 'paused', annotations: { [PAUSED_BY_ANNOTATION]: ME } }),
      holder: ME,
      confirmed: true,
    },
    {
      why: 'kubectl kubedb pause',
      d: db({ status: 'True', message: 'Paused by KubeDB CLI tool' }),
      holder: '',
      confirmed: true,
    },
  ])('$why', ({ d, holder, confirmed }) => {
    expect(pausedBy(d)).toBe(holder);
    expect(pauseConfirmed(d)).toBe(confirmed);
  });
});

describe('Pause: the write check', () => {
  it.each([
    { before: undefined, recorded: 'unset' },
    { before: false, recorded: 'false' },
    { before: true, recorded: 'true' },
  ])('records disableWriteCheck=$before as "$recorded" and turns the check off', ({ before, recorded }) => {
    expect(pauseSpecPatch(db({ status: 'Unknown', writeCheck: before }), ME)).toEqual({
      metadata: { annotations: { [PAUSED_BY_ANNOTATION]: ME, [WRITE_CHECK_ANNOTATION]: recorded } },
      spec: { healthChecker: { disableWriteCheck: true } },
    });
  });

  it('never records twice: a re-run after the check was turned off keeps what was there before', () => {
    const paused = db({
      status: 'Unknown',
      writeCheck: true,
      annotations: { [PAUSED_BY_ANNOTATION]: ME, [WRITE_CHECK_ANNOTATION]: 'false' },
    });
    expect(pauseSpecPatch(paused, ME)).toBeUndefined();
  });

  it.each([
    { recorded: 'false', spec: { healthChecker: { disableWriteCheck: false } } },
    { recorded: 'true', spec: { healthChecker: { disableWriteCheck: true } } },
    { recorded: 'unset', spec: { healthChecker: { disableWriteCheck: null } } },
  ])('resuming puts back "$recorded" and drops the record', ({ recorded, spec }) => {
    const paused = db({
      status: 'True',
      writeCheck: true,
      annotations: { [PAUSED_BY_ANNOTATION]: ME, [WRITE_CHECK_ANNOTATION]: recorded },
    });
    expect(resumeSpecPatch(paused, ME)).toEqual({
      metadata: { annotations: { [PAUSED_BY_ANNOTATION]: null, [WRITE_CHECK_ANNOTATION]: null } },
      spec,
    });
  });

  it("resuming leaves another request's pause alone", () => {
    const theirs = db({ status: 'True', annotations: { [PAUSED_BY_ANNOTATION]: 'demo/r2' } });
    expect(resumeSpecPatch(theirs, ME)).toBeUndefined();
  });
});
