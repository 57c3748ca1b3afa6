import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable } from '../../../cli/table';

describe('formatTable', () => {
  it('aligns columns on the widest cell and leaves no trailing spaces', () => {
    const text = formatTable(['NAME', 'IMAGE', 'REPLICAS'], [
      ['web', 'nginx:1.25', '3/5'],
      ['api-server', 'busybox', '1/1'],
    ]);
    assert.equal(
      text,
      'NAME         IMAGE        REPLICAS\n' +
        'web          nginx:1.25   3/5\n' +
        'api-server   busybox      1/1\n',
    );
  });

  it('prints only the header when there are no rows', () => {
    assert.equal(formatTable(['A', 'B'], []), 'A   B\n');
  });

  it('shows null and undefined as "-", keeps empty strings blank, converts numbers', () => {
    const text = formatTable(['X', 'Y', 'Z', 'W'], [[null, undefined, '', 7]]);
    assert.equal(text, 'X   Y   Z   W\n-   -       7\n');
  });

  it('keeps a row on one line when a cell holds a newline', () => {
    const text = formatTable(['ERROR'], [['first\n  second']]);
    assert.equal(text, 'ERROR\nfirst second\n');
  });

  it('trims a blank last column', () => {
    assert.equal(formatTable(['A', 'LEADER'], [['x', '']]), 'A   LEADER\nx\n');
  });
});
