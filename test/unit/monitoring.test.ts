import { describe, test } from 'node:test';
import { PassThrough } from 'node:stream';
import { onJsonLines } from '../../daemon/json-lines';
import assert from 'node:assert/strict';
import { LogLineSplitter } from '../../daemon/monitoring/log-demux';
import { formatLogLine } from '../../daemon/log-format';
import { parseExitCode } from '../../daemon/deployment/docker-runtime';
import { cpuPercentBetween } from '../../daemon/monitoring/stats-sampler';

/** One frame of Docker's multiplexed stream: stream type (1 stdout, 2 stderr), three zero bytes, big-endian length, payload. */
function frame(text: string, stream: 1 | 2 = 1): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function splitter(): { lines: string[]; s: LogLineSplitter } {
  const lines: string[] = [];
  return { lines, s: new LogLineSplitter((line) => lines.push(line)) };
}

describe('LogLineSplitter: multiplexed streams', () => {
  test('one frame with two lines gives two lines', () => {
    const { lines, s } = splitter();
    s.push(frame('hello\nworld\n'));
    assert.deepEqual(lines, ['hello', 'world']);
  });

  test('several frames in one chunk, stdout and stderr alike, give their lines in order', () => {
    const { lines, s } = splitter();
    s.push(Buffer.concat([frame('out 1\n'), frame('err 1\n', 2), frame('out 2\n')]));
    assert.deepEqual(lines, ['out 1', 'err 1', 'out 2']);
  });

  test('a frame split across chunks, inside the header and inside the payload, is put back together', () => {
    const whole = Buffer.concat([frame('first line\n'), frame('second line\n')]);
    for (const cuts of [[3], [8], [12], [3, 10, 19, 22], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      const { lines, s } = splitter();
      let from = 0;
      for (const cut of [...cuts, whole.length]) {
        s.push(whole.subarray(from, cut));
        from = cut;
      }
      assert.deepEqual(lines, ['first line', 'second line'], `cuts at ${cuts.join(',')}`);
    }
  });

  test('every one-byte-at-a-time feed gives the same lines', () => {
    const whole = Buffer.concat([frame('a\nb'), frame('c\n', 2), frame('')]);
    const { lines, s } = splitter();
    for (let i = 0; i < whole.length; i++) s.push(whole.subarray(i, i + 1));
    assert.deepEqual(lines, ['a', 'bc']);
  });

  test('a line split over two frames is one line', () => {
    const { lines, s } = splitter();
    s.push(frame('hel'));
    assert.deepEqual(lines, []);
    s.push(frame('lo\n'));
    assert.deepEqual(lines, ['hello']);
  });

  test('a multi-byte character split between chunks is not mangled', () => {
    const whole = frame('café ☕\n');
    const { lines, s } = splitter();
    s.push(whole.subarray(0, 12));
    s.push(whole.subarray(12));
    assert.deepEqual(lines, ['café ☕']);
  });

  test('the last line without a newline is given on flush, once', () => {
    const { lines, s } = splitter();
    s.push(frame('done\nbye'));
    assert.deepEqual(lines, ['done']);
    s.flush();
    assert.deepEqual(lines, ['done', 'bye']);
    s.flush();
    assert.deepEqual(lines, ['done', 'bye']);
  });

  test('empty lines are kept', () => {
    const { lines, s } = splitter();
    s.push(frame('a\n\nb\n'));
    assert.deepEqual(lines, ['a', '', 'b']);
  });
});

describe('LogLineSplitter: raw TTY text', () => {
  test('text without frame headers is split into lines as it is', () => {
    const { lines, s } = splitter();
    s.push(Buffer.from('tty line one\ntty line two\n'));
    assert.deepEqual(lines, ['tty line one', 'tty line two']);
  });

  test('raw text split across chunks joins the broken line', () => {
    const { lines, s } = splitter();
    s.push(Buffer.from('first part of a line, '));
    s.push(Buffer.from('then its end\nnext'));
    assert.deepEqual(lines, ['first part of a line, then its end']);
    s.flush();
    assert.deepEqual(lines, ['first part of a line, then its end', 'next']);
  });

  test('a short raw line (under 8 bytes, less than a frame header) is not lost at the end of the stream', () => {
    const { lines, s } = splitter();
    s.push(Buffer.from('ok\n'));
    s.flush();
    assert.deepEqual(lines, ['ok']);
  });

  test('a short raw tail after a long raw chunk is not lost at the end of the stream', () => {
    const { lines, s } = splitter();
    s.push(Buffer.from('starting the job\n'));
    s.push(Buffer.from('done\n'));
    s.flush();
    assert.deepEqual(lines, ['starting the job', 'done']);
  });
});

describe('formatLogLine', () => {
  test('one line: time, level padded to 5, thread, message, then context', () => {
    const line = formatLogLine({ timestamp: '2026-11-22T10:00:00.000Z', level: 'info', message: 'started container', thread: 'deployment', service: 'web', task: 'ab12' });
    assert.equal(line, '2026-11-22T10:00:00.000Z info  [deployment] started container service=web task=ab12');
  });

  test('context keys come as node, service, task, container, then the rest alphabetically', () => {
    const line = formatLogLine({
      timestamp: 't',
      level: 'warn',
      message: 'm',
      zeta: 1,
      container: 'c1',
      alpha: 'a',
      task: 't1',
      node: 'n1',
      service: 's1',
    });
    assert.equal(line, 't warn  [main] m node=n1 service=s1 task=t1 container=c1 alpha=a zeta=1');
  });

  test('a record without a thread is from main; without context there is no trailing space', () => {
    assert.equal(formatLogLine({ timestamp: 't', level: 'error', message: 'boom' }), 't error [main] boom');
  });

  test('values with spaces are quoted, non-strings are JSON, undefined values are left out', () => {
    const line = formatLogLine({ timestamp: 't', level: 'debug', message: 'm', thread: 'api', error: 'no such image', count: 3, flags: { a: true }, gone: undefined });
    assert.equal(line, 't debug [api] m count=3 error="no such image" flags={"a":true}');
  });
});

describe('parseExitCode', () => {
  test('reads the code from Docker\'s "Exited (n) …" status text', () => {
    assert.equal(parseExitCode('Exited (137) 2 seconds ago'), 137);
    assert.equal(parseExitCode('Exited (0) About a minute ago'), 0);
    assert.equal(parseExitCode('Exited (1) 3 hours ago'), 1);
    assert.equal(parseExitCode('Exited (-1) 1 second ago'), -1);
  });

  test('gives null for containers that have not exited, or no status at all', () => {
    assert.equal(parseExitCode('Up 5 minutes'), null);
    assert.equal(parseExitCode('Created'), null);
    assert.equal(parseExitCode('Up 2 seconds (Paused)'), null);
    assert.equal(parseExitCode(''), null);
    assert.equal(parseExitCode(undefined), null);
  });
});

describe('cpuPercentBetween', () => {
  const reading = (containerTotal: number, systemTotal: number, onlineCpus = 4) => ({ containerTotal, systemTotal, onlineCpus });

  test('percent of one CPU, like docker stats: a container using a quarter of a 4-CPU host shows 100', () => {
    assert.equal(cpuPercentBetween(reading(0, 0), reading(250, 1000)), 100);
    assert.equal(cpuPercentBetween(reading(100, 1000), reading(200, 2000)), 40);
  });

  test('a container using every CPU of the host shows 100 per CPU', () => {
    assert.equal(cpuPercentBetween(reading(0, 0, 8), reading(1000, 1000, 8)), 800);
  });

  test('rounded to two decimals', () => {
    assert.equal(cpuPercentBetween(reading(0, 0, 1), reading(1, 3, 1)), 33.33);
    assert.equal(cpuPercentBetween(reading(0, 0, 1), reading(2, 3, 1)), 66.67);
  });

  test('no progress, or counters that went backwards (a restart), give 0', () => {
    assert.equal(cpuPercentBetween(reading(100, 1000), reading(100, 2000)), 0);
    assert.equal(cpuPercentBetween(reading(100, 1000), reading(200, 1000)), 0);
    assert.equal(cpuPercentBetween(reading(500, 1000), reading(100, 2000)), 0);
    assert.equal(cpuPercentBetween(reading(100, 5000), reading(200, 1000)), 0);
  });
});

describe('onJsonLines (the engine event stream)', () => {
  test('values split across chunks arrive whole; blank and malformed lines are skipped', async () => {
    const stream = new PassThrough();
    const seen: unknown[] = [];
    onJsonLines(stream, (v) => seen.push(v));
    stream.write('{"Action":"st');
    stream.write('art","id":"a"}\n\n{not json}\n{"Action":"die"');
    stream.write(',"id":"b"}\n');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen, [{ Action: 'start', id: 'a' }, { Action: 'die', id: 'b' }]);
  });
});
