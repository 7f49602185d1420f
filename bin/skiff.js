#!/usr/bin/env node
// shellinit runs in every new terminal and `start` on a running machine in every
// script: both take paths that load almost nothing, and fall back to the full CLI.
const args = process.argv.slice(2);
if (process.platform === 'win32') {
  const { refuseUnsupportedPlatform } = await import('../dist/cli/platform.js');
  refuseUnsupportedPlatform(args);
}
if (args.includes('shellinit') || args.includes('env')) {
  const { tryFastShellinit } = await import('../dist/cli/fast-shellinit.js');
  if (tryFastShellinit(args)) process.exit();
}
if (args[0] === 'start' || args[0] === 'up') {
  const { tryFastStart } = await import('../dist/cli/fast-start.js');
  if (await tryFastStart(args)) process.exit();
}
const { main } = await import('../dist/cli/main.js');
await main();
