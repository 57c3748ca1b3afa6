import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache } from '../../modules/answer-cache';

test('an answer is built once per version and key, and shared as the same bytes', () => {
  const cache = new AnswerCache(2);
  let builds = 0;
  const build = () => ({ n: ++builds });
  const first = cache.get(1, 'a', build);
  assert.deepEqual(JSON.parse(first.toString()), { n: 1 });
  assert.equal(cache.get(1, 'a', build), first, 'the same bytes for every reader of the version');
  assert.equal(builds, 1);
  assert.deepEqual(JSON.parse(cache.get(2, 'a', build).toString()), { n: 2 }, 'a new version builds again');
  assert.deepEqual(JSON.parse(cache.get(1, 'a', build).toString()), { n: 3 }, 'an older version is not kept');
});

test('at most maxEntries answers are kept, the oldest going first', () => {
  const cache = new AnswerCache(2);
  let builds = 0;
  const build = () => ++builds;
  cache.get(1, 'a', build);
  cache.get(1, 'b', build);
  cache.get(1, 'c', build);
  assert.equal(builds, 3);
  cache.get(1, 'b', build);
  cache.get(1, 'c', build);
  assert.equal(builds, 3, 'the two newest kept');
  cache.get(1, 'a', build);
  assert.equal(builds, 4, 'the oldest went');
});
