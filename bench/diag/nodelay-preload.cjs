// Preloaded into an agent (node --require) by the guest tunnel part of bench/run.js (bench/lib/guest-tunnel.js): every TCP socket
// gets TCP_NODELAY, to show what Nagle's algorithm costs the agent's round trips.
const net = require('node:net');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const r = connect.apply(this, args);
  this.setNoDelay(true);
  return r;
};
