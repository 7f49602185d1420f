/**
 * V8 flags the agent process runs with (control.ts puts them before the entry).
 *
 * The tunnel allocates a fresh ArrayBuffer for every socket read and every SSH
 * packet it decrypts or encrypts. With V8's default heap limits for a small process
 * (old space a few MB), the few of those that outlive two scavenges (data queued in
 * a stream for a moment) keep reaching the old-generation limit: a mark-compact
 * every ~10 MB moved, about a third of the agent's CPU. Starting with a 64 MB old
 * space makes those rare; 32 MB did not help. Measured with bench/tunnel.mjs
 * (no native binding, 256 MB each way): CPU per GB moved 3.8 -> 2.3 s up and
 * 3.2-3.8 -> 2.5 s down; resident memory stays ~110 MB under load.
 * It must be a command-line flag: V8 sizes the heap before any code runs.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];
