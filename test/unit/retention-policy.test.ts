// The retention policy file and the pure decision of which sealed builds a rule removes.
import { expect } from 'chai';
import { buildsToDelete, parseRetentionPolicy, PolicyError, ruleFor, type BuildCandidate, type RetentionPolicy } from '../../server/domain/retention-policy.js';

const DAY = 24 * 3600 * 1000;
const NOW = Date.parse('2030-06-15T12:00:00.000Z');

function sealedDaysAgo(build: string, days: number, pinned = false): BuildCandidate {
  return { segments: ['dpkg', 'hello', build], sealedAt: new Date(NOW - days * DAY).toISOString(), pinned };
}

function open(build: string): BuildCandidate {
  return { segments: ['dpkg', 'hello', build], sealedAt: null, pinned: false };
}

function names(list: readonly BuildCandidate[]): string[] {
  return list.map((b) => b.segments[2] as string);
}

/** The PolicyError that parsing `text` throws (fails the test when none is thrown). */
function policyError(text: string): PolicyError {
  try {
    parseRetentionPolicy(text);
  } catch (err) {
    expect(err).to.be.instanceOf(PolicyError);
    return err as PolicyError;
  }
  expect.fail(`parseRetentionPolicy accepted ${text}`);
}

describe('retention policy: parseRetentionPolicy', () => {
  it('reads a complete policy: default, types and projects', () => {
    const policy = parseRetentionPolicy(
      JSON.stringify({
        default: { keep_newest: 10, keep_days: 30 },
        types: { dpkg: { keep_newest: 5, keep_days: 7 }, 'rpm.el9': { keep_newest: 0, keep_days: 0 } },
        projects: { 'dpkg/hello': { keep_newest: 2, keep_days: 1 } },
      }),
    );
    expect(policy.default).to.deep.equal({ keepNewest: 10, keepDays: 30 });
    expect([...policy.types]).to.deep.equal([
      ['dpkg', { keepNewest: 5, keepDays: 7 }],
      ['rpm.el9', { keepNewest: 0, keepDays: 0 }],
    ]);
    expect([...policy.projects]).to.deep.equal([['dpkg/hello', { keepNewest: 2, keepDays: 1 }]]);
  });

  it('reads partial policies: {} keeps everything, a lone section is enough', () => {
    const empty = parseRetentionPolicy('{}');
    expect(empty.default).to.equal(null);
    expect(empty.types.size).to.equal(0);
    expect(empty.projects.size).to.equal(0);
    const onlyProjects = parseRetentionPolicy('{"projects": {"dpkg/hello": {"keep_newest": 3, "keep_days": 0}}}');
    expect(onlyProjects.default).to.equal(null);
    expect(onlyProjects.projects.get('dpkg/hello')).to.deep.equal({ keepNewest: 3, keepDays: 0 });
  });

  it('bad JSON is a PolicyError saying so', () => {
    expect(policyError('{"default": {"keep_newest": 1,').message).to.match(/not valid JSON/);
    expect(policyError('').message).to.match(/not valid JSON/);
  });

  it('a policy that is not an object is refused', () => {
    expect(policyError('[]').message).to.match(/JSON object/);
    expect(policyError('null').message).to.match(/JSON object/);
    expect(policyError('7').message).to.match(/JSON object/);
  });

  it('an unknown top-level field is named', () => {
    const err = policyError('{"defaults": {"keep_newest": 1, "keep_days": 1}}');
    expect(err.message).to.include('unknown field "defaults"');
  });

  it('an unknown rule field is named with the rule it is in', () => {
    const inType = policyError('{"types": {"dpkg": {"keep_newest": 1, "keep_days": 1, "keep_weeks": 2}}}');
    expect(inType.message).to.include('types["dpkg"]').and.include('"keep_weeks"');
    const inDefault = policyError('{"default": {"keep_newest": 1, "keep_day": 1}}');
    expect(inDefault.message).to.include('default').and.include('"keep_day"');
    const inProject = policyError('{"projects": {"dpkg/hello": {"keep_newest": 1, "keep_days": 1, "pin": true}}}');
    expect(inProject.message).to.include('projects["dpkg/hello"]').and.include('"pin"');
  });

  it('keep_newest and keep_days must be whole numbers from 0: the place is named', () => {
    expect(policyError('{"default": {"keep_newest": -1, "keep_days": 1}}').message).to.include('default.keep_newest');
    expect(policyError('{"default": {"keep_newest": 1.5, "keep_days": 1}}').message).to.include('default.keep_newest');
    expect(policyError('{"default": {"keep_newest": "3", "keep_days": 1}}').message).to.include('default.keep_newest');
    expect(policyError('{"types": {"dpkg": {"keep_newest": 2, "keep_days": -3}}}').message).to.include('types["dpkg"].keep_days');
    expect(policyError('{"projects": {"dpkg/hello": {"keep_newest": 2.25, "keep_days": 3}}}').message).to.include('projects["dpkg/hello"].keep_newest');
  });

  it('both fields are required in a rule', () => {
    expect(policyError('{"default": {"keep_newest": 1}}').message).to.include('default.keep_days');
    expect(policyError('{"default": {"keep_days": 1}}').message).to.include('default.keep_newest');
  });

  it('a rule that is not an object is named', () => {
    expect(policyError('{"default": 5}').message).to.match(/^default must be an object/);
    expect(policyError('{"types": {"dpkg": [1, 2]}}').message).to.include('types["dpkg"] must be an object');
    expect(policyError('{"types": []}').message).to.match(/^types must be an object/);
  });

  it('a project key must be "type/project": a bare "dpkg" under projects is named', () => {
    const err = policyError('{"projects": {"dpkg": {"keep_newest": 1, "keep_days": 1}}}');
    expect(err.message).to.include('projects').and.include('"dpkg"').and.include('type/project');
    expect(policyError('{"projects": {"dpkg/hello/42": {"keep_newest": 1, "keep_days": 1}}}').message).to.include('"dpkg/hello/42"');
    expect(policyError('{"projects": {"dpkg/.hidden": {"keep_newest": 1, "keep_days": 1}}}').message).to.include('"dpkg/.hidden"');
  });

  it('a type key must be a type name: "dpkg/hello" or ".meta" under types is named', () => {
    const err = policyError('{"types": {"dpkg/hello": {"keep_newest": 1, "keep_days": 1}}}');
    expect(err.message).to.include('types').and.include('"dpkg/hello"').and.include('type name');
    expect(policyError('{"types": {".meta": {"keep_newest": 1, "keep_days": 1}}}').message).to.include('".meta"');
    expect(policyError('{"types": {"": {"keep_newest": 1, "keep_days": 1}}}').message).to.include('""');
  });
});

describe('retention policy: ruleFor', () => {
  const policy: RetentionPolicy = parseRetentionPolicy(
    JSON.stringify({
      default: { keep_newest: 100, keep_days: 100 },
      types: { dpkg: { keep_newest: 10, keep_days: 10 } },
      projects: { 'dpkg/hello': { keep_newest: 1, keep_days: 1 }, 'rpm/hello': { keep_newest: 2, keep_days: 2 } },
    }),
  );

  it('the project rule wins over the type rule and the default', () => {
    expect(ruleFor(policy, 'dpkg', 'hello')).to.deep.equal({ keepNewest: 1, keepDays: 1 });
    expect(ruleFor(policy, 'rpm', 'hello')).to.deep.equal({ keepNewest: 2, keepDays: 2 });
  });

  it('the type rule applies to the type\'s other projects', () => {
    expect(ruleFor(policy, 'dpkg', 'other')).to.deep.equal({ keepNewest: 10, keepDays: 10 });
  });

  it('the default applies where neither a project nor a type rule does', () => {
    expect(ruleFor(policy, 'rpm', 'other')).to.deep.equal({ keepNewest: 100, keepDays: 100 });
    // A project rule of another type is not a type rule.
    expect(ruleFor(policy, 'tar', 'hello')).to.deep.equal({ keepNewest: 100, keepDays: 100 });
  });

  it('without a default, a project no rule covers has none (kept)', () => {
    const noDefault = parseRetentionPolicy('{"types": {"dpkg": {"keep_newest": 1, "keep_days": 1}}}');
    expect(ruleFor(noDefault, 'rpm', 'hello')).to.equal(null);
    expect(ruleFor(noDefault, 'dpkg', 'hello')).to.deep.equal({ keepNewest: 1, keepDays: 1 });
  });
});

describe('retention policy: buildsToDelete', () => {
  it('never deletes an open build, however old the project', () => {
    const builds = [open('1'), open('2'), sealedDaysAgo('3', 400)];
    expect(names(buildsToDelete(builds, { keepNewest: 0, keepDays: 0 }, NOW))).to.deep.equal(['3']);
  });

  it('never deletes a pinned build', () => {
    const builds = [sealedDaysAgo('1', 300, true), sealedDaysAgo('2', 200), sealedDaysAgo('3', 100, true)];
    expect(names(buildsToDelete(builds, { keepNewest: 0, keepDays: 0 }, NOW))).to.deep.equal(['2']);
  });

  it('keeps the newest keep_newest sealed builds even when they are old', () => {
    const builds = [sealedDaysAgo('1', 500), sealedDaysAgo('2', 400), sealedDaysAgo('3', 300), sealedDaysAgo('4', 200)];
    expect(names(buildsToDelete(builds, { keepNewest: 3, keepDays: 1 }, NOW))).to.deep.equal(['1']);
    expect(names(buildsToDelete(builds, { keepNewest: 4, keepDays: 1 }, NOW))).to.deep.equal([]);
    expect(names(buildsToDelete(builds, { keepNewest: 40, keepDays: 0 }, NOW))).to.deep.equal([]);
  });

  it('open builds do not count among the newest kept', () => {
    const builds = [sealedDaysAgo('1', 50), sealedDaysAgo('2', 40), open('3'), open('4')];
    expect(names(buildsToDelete(builds, { keepNewest: 1, keepDays: 0 }, NOW))).to.deep.equal(['1']);
  });

  it('keeps builds sealed less than keep_days ago even beyond keep_newest', () => {
    const builds = [sealedDaysAgo('1', 40), sealedDaysAgo('2', 20), sealedDaysAgo('3', 14.9), sealedDaysAgo('4', 3), sealedDaysAgo('5', 0)];
    expect(names(buildsToDelete(builds, { keepNewest: 1, keepDays: 15 }, NOW))).to.deep.equal(['1', '2']);
  });

  it('a build sealed exactly keep_days ago may go; one a millisecond younger stays', () => {
    const exactly: BuildCandidate = { segments: ['dpkg', 'hello', '1'], sealedAt: new Date(NOW - 7 * DAY).toISOString(), pinned: false };
    const younger: BuildCandidate = { segments: ['dpkg', 'hello', '2'], sealedAt: new Date(NOW - 7 * DAY + 1).toISOString(), pinned: false };
    expect(names(buildsToDelete([exactly, younger], { keepNewest: 0, keepDays: 7 }, NOW))).to.deep.equal(['1']);
  });

  it('returns the builds oldest first, whatever order they came in', () => {
    const builds = [sealedDaysAgo('b', 30), sealedDaysAgo('a', 10), sealedDaysAgo('d', 50), sealedDaysAgo('c', 20), sealedDaysAgo('e', 40)];
    expect(names(buildsToDelete(builds, { keepNewest: 0, keepDays: 0 }, NOW))).to.deep.equal(['d', 'e', 'b', 'c', 'a']);
    // The sealing time orders, not the name: build 2 sealed before build 1.
    const swapped = [sealedDaysAgo('1', 5), sealedDaysAgo('2', 9), sealedDaysAgo('3', 1)];
    expect(names(buildsToDelete(swapped, { keepNewest: 1, keepDays: 0 }, NOW))).to.deep.equal(['2', '1']);
  });

  it('keep_newest 0 and keep_days 0 delete every sealed unpinned build', () => {
    const builds = [sealedDaysAgo('1', 3), sealedDaysAgo('2', 2), sealedDaysAgo('3', 1), sealedDaysAgo('4', 0), open('5'), sealedDaysAgo('6', 0, true)];
    expect(names(buildsToDelete(builds, { keepNewest: 0, keepDays: 0 }, NOW))).to.deep.equal(['1', '2', '3', '4']);
  });

  it('ties in sealing time are ordered by build name numerically (10 after 9)', () => {
    const builds = [sealedDaysAgo('10', 5), sealedDaysAgo('9', 5), sealedDaysAgo('100', 5), sealedDaysAgo('2', 5)];
    expect(names(buildsToDelete(builds, { keepNewest: 0, keepDays: 0 }, NOW))).to.deep.equal(['2', '9', '10', '100']);
    // The numerically highest of a tie counts as the newest, so it is the one kept.
    expect(names(buildsToDelete(builds, { keepNewest: 1, keepDays: 0 }, NOW))).to.deep.equal(['2', '9', '10']);
  });

  it('an empty project deletes nothing', () => {
    expect(buildsToDelete([], { keepNewest: 0, keepDays: 0 }, NOW)).to.deep.equal([]);
  });
});
