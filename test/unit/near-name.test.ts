import { describe, expect, it } from 'vitest';
import { editDistance, nearestName } from '../../src/machine/near-name.js';

describe('editDistance', () => {
  it.each([
    ['web', 'web', 0],
    ['web', 'wbe', 1], // two neighbours swapped
    ['web', 'webb', 1],
    ['web', 'we', 1],
    ['devbox', 'debvox', 1], // a swap is one edit
    ['devbox', 'dvebxo', 2],
    ['pi', 'arm', 3],
    ['', 'abc', 3],
  ])('%s -> %s is %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('nearestName', () => {
  const names = ['default', 'devbox', 'pi', 'web'];
  it('finds a slip of the keyboard', () => {
    expect(nearestName('wbe', names)).toBe('web');
    expect(nearestName('devbxo', names)).toBe('devbox');
    expect(nearestName('debvox', names)).toBe('devbox');
    expect(nearestName('dvebxo', names)).toBe('devbox');
    expect(nearestName('Web', names)).toBe('web');
    expect(nearestName('PI', names)).toBe('pi');
    expect(nearestName('defualt', names)).toBe('default');
  });
  it('leaves a new name alone', () => {
    expect(nearestName('staging', names)).toBeUndefined();
    // Short names: a letter more or less, or two slips, is another name.
    expect(nearestName('db', names)).toBeUndefined();
    expect(nearestName('api', names)).toBeUndefined();
    expect(nearestName('wb', names)).toBeUndefined();
    expect(nearestName('webs', names)).toBeUndefined();
    expect(nearestName('p1', names)).toBeUndefined();
    expect(nearestName('wex', names)).toBeUndefined(); // a wrong letter in a short name: another name
    expect(nearestName('api', ['app'])).toBeUndefined();
    expect(nearestName('x', ['a'])).toBeUndefined();
  });
  it('numbered siblings are not slips', () => {
    expect(nearestName('web2', ['web1'])).toBeUndefined();
    expect(nearestName('node-12', ['node-1'])).toBeUndefined();
    expect(nearestName('worker3', ['worker1', 'worker2'])).toBeUndefined();
    expect(nearestName('backend', ['backend2'])).toBeUndefined();
    expect(nearestName('web1', ['web'])).toBeUndefined();
    // A slip in the letters of a numbered name still is one.
    expect(nearestName('wroker1', ['worker1'])).toBe('worker1');
  });
  it('an exact match is no typo', () => {
    expect(nearestName('web', names)).toBeUndefined();
  });
  it('prefers the closest', () => {
    expect(nearestName('frontend', ['frnotedn', 'frontedn'])).toBe('frontedn');
    expect(nearestName('frontend', ['frontedn', 'frnotedn'])).toBe('frontedn');
  });
});
