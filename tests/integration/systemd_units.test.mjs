// The systemd units in contrib/systemd: valid for systemd-analyze verify, and sandboxed
// (systemd-analyze security rates their exposure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, haveCommand, BUILD, SOURCE } from './lib/harness.mjs';

const units = ['herd.service', 'herd-node.service'];

// The units name the installed programs; here they point at the ones just built.
function staged() {
  const dir = tempDir();
  for (const u of units)
    writeFileSync(join(dir, u), readFileSync(join(SOURCE, 'contrib', 'systemd', u), 'utf8').replaceAll('/usr/local/bin/', `${BUILD}/`));
  return dir;
}

test('systemd-analyze verify accepts both units, without a warning', () => {
  assert.ok(haveCommand('systemd-analyze'), 'systemd-analyze is missing (Debian package systemd; scripts/install-deps.sh installs it)');
  const dir = staged();
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '');
  // A broken unit is caught: the check can fail.
  writeFileSync(join(dir, 'broken.service'), '[Service]\nExecStart=relative/path\nNoSuchOption=1\n');
  const bad = spawnSync('systemd-analyze', ['verify', '--man=no', 'broken.service'], { cwd: dir, encoding: 'utf8' });
  assert.ok(bad.status !== 0 || bad.stderr.trim() !== '', 'a unit with errors is reported');
});

test('both units are sandboxed: systemd rates their exposure OK', () => {
  const dir = staged();
  for (const u of units) {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', u], { cwd: dir, encoding: 'utf8' });
    const m = r.stdout.match(/Overall exposure level for \S+: ([\d.]+) (\w+)/);
    assert.ok(m, r.stdout + r.stderr);
    assert.ok(Number(m[1]) <= 2.5, `${u}: exposure ${m[1]} ${m[2]}`);
    assert.match(r.stdout, /✓ NoNewPrivileges=/);
  }
});
