/**
 * The host side of the real-server mode that needs no database server: Secret volumes written as
 * the kubelet's atomic writer writes them, and what a dead simulator left behind cleaned up.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeOrphans, writeAtomically } from '../../local/sim/galera-host.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'galera-host-test-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeAtomically (a Secret volume as the kubelet writes it)', () => {
  it('puts the files in a timestamped directory that ..data points at, each name a link through ..data', () => {
    const vol = join(dir, 'server');
    writeAtomically(vol, { 'ca.crt': 'CA1', 'tls.crt': 'CERT1', 'tls.key': 'KEY1' });
    const data = readlinkSync(join(vol, '..data'));
    expect(data).toMatch(/^\.\.\d{4}_/);
    expect(readlinkSync(join(vol, 'tls.crt'))).toBe('..data/tls.crt');
    expect(readFileSync(join(vol, 'tls.crt'), 'utf8')).toBe('CERT1');
    expect(readFileSync(join(vol, data, 'ca.crt'), 'utf8')).toBe('CA1');
  });

  it('switches every file at once to the new version, removes the old directory and files no longer in the Secret', () => {
    const vol = join(dir, 'server');
    writeAtomically(vol, { 'ca.crt': 'CA1', 'tls.crt': 'CERT1', extra: 'X' });
    const first = readlinkSync(join(vol, '..data'));
    writeAtomically(vol, { 'ca.crt': 'CA2', 'tls.crt': 'CERT2' });
    const second = readlinkSync(join(vol, '..data'));
    expect(second).not.toBe(first);
    expect(readFileSync(join(vol, 'tls.crt'), 'utf8')).toBe('CERT2');
    expect(readFileSync(join(vol, 'ca.crt'), 'utf8')).toBe('CA2');
    expect(existsSync(join(vol, first))).toBe(false);
    expect(readdirSync(vol).sort()).toEqual(['..data', second, 'ca.crt', 'tls.crt'].sort());
  });
});

describe('removeOrphans (directories of simulators that died)', () => {
  const old = (p: string) => utimesSync(p, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));

  it("removes a directory whose owner is dead, keeps a live owner's and one being set up", () => {
    const dead = join(dir, 'pxc-galera-dead');
    const live = join(dir, 'pxc-galera-live');
    const fresh = join(dir, 'pxc-galera-fresh');
    const other = join(dir, 'not-ours');
    for (const d of [dead, live, fresh, other]) mkdirSync(d);
    writeFileSync(join(dead, 'owner.pid'), '2147483646');
    writeFileSync(join(live, 'owner.pid'), String(process.pid));
    for (const d of [dead, live, other]) old(d);
    removeOrphans(dir);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(fresh)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });
});
