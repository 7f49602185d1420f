#!/usr/bin/env node
// shellinit runs in every new terminal: it takes a path that loads almost nothing.
const args = process.argv.slice(2);
if (args.includes('shellinit') || args.includes('env')) {
  const { tryFastShellinit } = await import('../dist/cli/fast-shellinit.js');
  if (tryFastShellinit(args)) process.exit();
}
const { main } = await import('../dist/cli/main.js');
await main();
