import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The hosted workflows cannot run here (no GitHub); this checks that they parse
 * and keep their promises: CI runs .ci/run, and a release publishes nothing
 * unless two independent builds of both images are the same.
 */
type Step = { name?: string; run?: string; uses?: string };
type Job = { needs?: string | string[]; steps: Step[]; strategy?: { matrix?: Record<string, unknown[]> }; container?: { image: string } };
const load = (f: string) => parse(readFileSync(`.github/workflows/${f}`, 'utf8')) as { on: Record<string, unknown>; jobs: Record<string, Job> };

describe('hosted workflows', () => {
  it('ci runs .ci/run on every push, on Debian 12', () => {
    const ci = load('ci.yml');
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    const job = ci.jobs.ci!;
    expect(job.container?.image).toBe('debian:12');
    expect(job.steps.map((s) => s.run)).toContain('bash .ci/run');
  });

  it('release builds the images twice and compares them before any upload or publish', () => {
    const rel = load('release.yml');
    expect(rel.on).toEqual({ push: { tags: ['v*'] } });
    expect(rel.jobs.images!.strategy?.matrix?.build).toHaveLength(2);
    const steps = rel.jobs.publish!.steps;
    expect(rel.jobs.publish!.needs).toBe('images');
    const at = (re: RegExp) => steps.findIndex((s) => re.test(s.run ?? ''));
    const compare = at(/cmp "first\/\$f" "second\/\$f"/);
    expect(compare).toBeGreaterThan(-1);
    expect(at(/gh release create/)).toBeGreaterThan(compare);
    expect(at(/npm publish/)).toBeGreaterThan(compare);
    expect(at(/GITHUB_REF_NAME.*package\.json/)).toBeLessThan(compare);
    for (const f of ['skiff-amd64.iso', 'skiff-arm64.iso', 'SHA256SUMS']) expect(steps[at(/gh release create/)]!.run).toContain(`first/${f}`);
  });
});
