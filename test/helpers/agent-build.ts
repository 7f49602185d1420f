/**
 * Compiles the agent entry (and only what it imports) with the project's compiler
 * options, so agent tests run the real `agent/main.js` as a separate process
 * without depending on a full `npm run build` of a tree others are editing.
 * The output sits under node_modules/.cache so `ssh2` and `zod` resolve.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface BuiltAgent {
  entry: string;
  remove(): Promise<void>;
}

export async function buildAgent(): Promise<BuiltAgent> {
  const out = path.join(root, 'node_modules', '.cache', 'skiff-agent-test', `${process.pid}-${Date.now()}`);
  await mkdir(out, { recursive: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    tsc,
    path.join(root, 'src', 'agent', 'main.ts'),
    '--outDir', out,
    '--rootDir', path.join(root, 'src'),
    '--target', 'ES2022',
    '--module', 'NodeNext',
    '--moduleResolution', 'NodeNext',
    '--strict',
    '--esModuleInterop',
    '--skipLibCheck',
    '--types', 'node',
  ];
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tsc failed: ${stdout}${stderr}`));
      else resolve();
    });
  });
  // Node must treat the output as ES modules, like dist/ under the package's "type".
  await writeFile(path.join(out, 'package.json'), '{"type":"module"}\n');
  return { entry: path.join(out, 'agent', 'main.js'), remove: () => rm(out, { recursive: true, force: true }) };
}
