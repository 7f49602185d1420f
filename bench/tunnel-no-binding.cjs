// Preloaded into the agent (NODE_OPTIONS=--require) by bench/tunnel.mjs to measure
// ssh2 without its optional native crypto binding, as on hosts where it was not built.
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (/sshcrypto\.node$/.test(request)) throw new Error('native binding disabled for the benchmark');
  return load.call(this, request, parent, isMain);
};
