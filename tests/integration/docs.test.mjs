// The documentation that is generated from the code must match it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD, SOURCE } from './lib/harness.mjs';

test('docs/simulator.md lists herd-sim\'s options exactly as --help-markdown prints them', () => {
  const generated = spawnSync(join(BUILD, 'herd-sim'), ['--help-markdown'], { encoding: 'utf8' });
  assert.equal(generated.status, 0);
  const doc = readFileSync(join(SOURCE, 'docs/simulator.md'), 'utf8');
  const section = doc.split('<!-- options:begin')[1].split('<!-- options:end -->')[0];
  const table = section.slice(section.indexOf('\n') + 1);
  assert.equal(table, generated.stdout, 'regenerate the table with: build/herd-sim --help-markdown');
});

test('docs/configuration.md lists herd\'s options exactly as --help-markdown prints them', () => {
  const generated = spawnSync(join(BUILD, 'herd'), ['--help-markdown'], { encoding: 'utf8' });
  assert.equal(generated.status, 0);
  const doc = readFileSync(join(SOURCE, 'docs/configuration.md'), 'utf8');
  const section = doc.split('<!-- options:begin')[1].split('<!-- options:end -->')[0];
  assert.equal(section.slice(section.indexOf('\n') + 1), generated.stdout, 'regenerate with: build/herd --help-markdown');
});

test('docs/node.md lists herd-node\'s options exactly as --help-markdown prints them', () => {
  const generated = spawnSync(join(BUILD, 'herd-node'), ['--help-markdown'], { encoding: 'utf8' });
  assert.equal(generated.status, 0);
  const doc = readFileSync(join(SOURCE, 'docs/node.md'), 'utf8');
  const section = doc.split('<!-- options:begin')[1].split('<!-- options:end -->')[0];
  assert.equal(section.slice(section.indexOf('\n') + 1), generated.stdout, 'regenerate with: scripts/update-docs.sh');
});

test('herd --help and --version; a bad setting names itself', () => {
  const help = spawnSync(join(BUILD, 'herd'), ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const flag of ['--host', '--port', '--data-dir', '--heartbeat-timeout', '--score-model-hot', '--max-queue']) {
    assert.match(help.stdout, new RegExp(`\\s${flag}\\b`));
  }
  const bad = spawnSync(join(BUILD, 'herd'), [], { encoding: 'utf8', env: { ...process.env, FLEET_PORT: 'abc', FLEET_ENV_FILE: '/nonexistent' } });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /FLEET_PORT \(environment\): 'abc' is not an integer/);
});

test('herd-sim --help documents every option and exits 0', () => {
  const help = spawnSync(join(BUILD, 'herd-sim'), ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  for (const flag of ['--port', '--model', '--loaded', '--time-scale', '--fault', '--profile', '--num-parallel', '--ready-file']) {
    assert.match(help.stdout, new RegExp(`\\s${flag}\\b`));
  }
  const bad = spawnSync(join(BUILD, 'herd-sim'), ['--port', 'x'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--port: 'x' is not an integer/);
});

test('the man pages are generated from the programs\' options and render without a warning', () => {
  const version = spawnSync(join(BUILD, 'herd'), ['--version'], { encoding: 'utf8' }).stdout.split(' ')[1].trim();
  for (const prog of ['herd', 'herd-node', 'herd-sim']) {
    const options = spawnSync(join(BUILD, prog), ['--help-man'], { encoding: 'utf8' });
    assert.equal(options.status, 0);
    const template = readFileSync(join(SOURCE, 'man', `${prog}.1.in`), 'utf8');
    const page = readFileSync(join(SOURCE, 'man', `${prog}.1`), 'utf8');
    const expected = `.\\" Generated from man/${prog}.1.in by scripts/update-docs.sh; edit that file.\n${template.replace('@VERSION@', version).replace('@OPTIONS@\n', options.stdout)}`;
    assert.equal(page, expected, 'regenerate with: scripts/update-docs.sh');
    const help = spawnSync(join(BUILD, prog), ['--help'], { encoding: 'utf8' }).stdout;
    for (const flag of help.matchAll(/^ {2}--([a-z][a-z0-9-]*)/gm)) assert.ok(page.includes(`\\-\\-${flag[1].replaceAll('-', '\\-')}`), `${prog}.1 documents --${flag[1]}`);
    const render = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', join(SOURCE, 'man', `${prog}.1`)], { encoding: 'utf8' });
    assert.equal(render.status, 0);
    assert.equal(render.stderr, '', `${prog}.1 renders without warnings`);
  }
});
