// Test harness: the programs of programs.mjs, each stopped when the test file ends. Every
// program must stop cleanly on SIGTERM: exit 0, and under the sanitizers no report (a leak or
// an error found at exit fails the test file here).
import { after } from 'node:test';
import { stopAll } from './programs.mjs';

export * from './programs.mjs';

after(async () => {
  const bad = await stopAll();
  if (bad.length) {
    throw new Error(bad.map((c) => `${c.spawnargs.slice(0, 2).join(' ')} exited ${c.exitCode ?? c.signalCode}:\n${c.stderrText.slice(-4000)}`).join('\n'));
  }
});
