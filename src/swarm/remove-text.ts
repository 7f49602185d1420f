import type { RemoveResult } from './down.js';

/** The line `swarm rm` ends with: what went, and, for a swarm of existing machines, that they stay. */
export function removedText(swarm: string, r: RemoveResult): string {
  if (!('left' in r)) return `Swarm "${swarm}" deleted (${r.machines.join(', ') || 'no machines'})`;
  const parts = [r.kept.length ? `Swarm "${swarm}" taken apart; its machines are kept, out of the swarm: ${r.kept.join(', ')}` : `Swarm "${swarm}" forgotten`];
  if (r.missing.length) parts.push(`${r.missing.join(', ')} no longer existed`);
  return parts.join('; ');
}
