import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describeCommand } from '../../../cli/commands/completion';
import { bashScript, completionScript, type CompletionCommand } from '../../../cli/completion';
import { buildProgram } from '../../../cli/main';

const MAIN = join(__dirname, '..', '..', '..', 'cli', 'main.js');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

function bashQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What bash offers for the last of `words` (the word being completed) once `script` is loaded. */
function bashOffers(script: string, words: string[]): string[] {
  const program = [
    'eval "$COMPLETION_SCRIPT"',
    `COMP_WORDS=(${words.map(bashQuote).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    `_${words[0]}`,
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  return execFileSync('bash', ['-c', program], { env: { ...process.env, COMPLETION_SCRIPT: script }, encoding: 'utf8' }).split('\n').filter((w) => w !== '');
}

/** The same through the built CLI, installed as the docs say: `source <(bicycle completion bash)`. */
function installedOffers(words: string[]): string[] {
  const program = [
    `source <(${bashQuote(process.execPath)} ${bashQuote(MAIN)} completion bash)`,
    `COMP_WORDS=(${words.map(bashQuote).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_bicycle',
    `echo "\${COMPREPLY[*]}"`,
  ].join('\n');
  return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).trim().split(/\s+/).filter((w) => w !== '');
}

describe('bicycle completion bash', () => {
  const script = cli('completion', 'bash').stdout;

  it('is valid bash (bash -n)', () => {
    const check = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
  });

  it('completes subcommands', () => {
    assert.ok(installedOffers(['bicycle', 'service', 'a']).includes('add'));
    assert.deepEqual(installedOffers(['bicycle', 'node', 'd']).sort(), ['demote', 'drain']);
  });

  it('completes flags of the command being typed', () => {
    const offered = installedOffers(['bicycle', 'service', 'add', '--re']);
    assert.ok(offered.includes('--replicas'), offered.join(' '));
    assert.ok(offered.every((w) => w.startsWith('--re')));
    assert.ok(installedOffers(['bicycle', 'node', 'update', '--']).includes('--label-add'));
    assert.ok(!installedOffers(['bicycle', 'node', 'ls', '--']).includes('--label-add'));
  });

  it('offers the global --host after a subcommand, and skips its value', () => {
    assert.ok(bashOffers(script, ['bicycle', 'service', 'ls', '--h']).includes('--host'));
    assert.deepEqual(bashOffers(script, ['bicycle', '--host', 'node', 'n']), ['node']);
    assert.deepEqual(bashOffers(script, ['bicycle', '--host', 'node-a:7070', 'node', 'p']).sort(), ['pause', 'promote']);
  });

  it('offers the shells after `completion`, and the commands after `help`', () => {
    assert.deepEqual(bashOffers(script, ['bicycle', 'completion', '']), ['bash', 'zsh', 'fish']);
    assert.ok(bashOffers(script, ['bicycle', 'help', 's']).includes('service'));
  });

  it('offers nothing for the container command after --', () => {
    assert.deepEqual(bashOffers(script, ['bicycle', 'service', 'add', 'web', '--', 'sl']), []);
  });

  it('offers every command of the CLI at its level', () => {
    const program = buildProgram();
    assert.deepEqual(
      bashOffers(script, ['bicycle', '']).filter((w) => w !== 'help'),
      program.commands.map((c) => c.name()),
    );
    for (const group of program.commands.filter((c) => c.commands.length > 0)) {
      const offered = bashOffers(script, ['bicycle', group.name(), '']);
      for (const sub of group.commands) assert.ok(offered.includes(sub.name()), `${group.name()} ${sub.name()}`);
      for (const sub of group.commands) {
        const flags = bashOffers(script, ['bicycle', group.name(), sub.name(), '-']);
        for (const option of sub.options) assert.ok(flags.includes(option.long ?? option.short!), `${group.name()} ${sub.name()} ${option.flags}`);
      }
    }
  });
});

describe('completion scripts from a plain tree', () => {
  const tree: CompletionCommand = {
    name: 'demo',
    aliases: [],
    description: 'a demo',
    options: [{ long: '--host', description: "the daemon's address", takesValue: true, global: true }],
    commands: [
      {
        name: 'ls',
        aliases: ['list'],
        description: 'list things',
        options: [
          { long: '--json', description: 'print JSON', takesValue: false },
          { long: '--format', short: '-F', description: 'table or wide', takesValue: true, choices: ['table', 'wide'] },
        ],
        commands: [],
      },
    ],
  };
  const script = bashScript(tree);

  it('follows aliases', () => {
    assert.deepEqual(bashOffers(script, ['demo', 'list', '--j']), ['--json']);
  });

  it('offers the choices of a flag as its value', () => {
    assert.deepEqual(bashOffers(script, ['demo', 'ls', '-F', '']), ['table', 'wide']);
    assert.deepEqual(bashOffers(script, ['demo', 'ls', '--format', 'w']), ['wide']);
  });

  it('quotes descriptions for zsh and fish', () => {
    assert.match(completionScript('zsh', tree), /'--host:the daemon'\\''s address'/);
    assert.match(completionScript('fish', tree), /-d 'the daemon\\'s address'/);
  });
});

describe('bicycle completion zsh and fish', () => {
  const program = buildProgram();
  const topLevel = program.commands.map((c) => c.name());

  for (const shell of ['zsh', 'fish'] as const) {
    it(`${shell}: mentions every command and their flags`, () => {
      const { status, stdout } = cli('completion', shell);
      assert.equal(status, 0);
      for (const name of topLevel) assert.ok(stdout.includes(`'${name}`) || stdout.includes(` ${name}'`), name);
      for (const sub of ['add', 'scale', 'rebalance', 'drain', 'join-token']) assert.ok(stdout.includes(sub), sub);
      const flag = (long: string) => (shell === 'zsh' ? `'--${long}:` : `-l '${long}'`);
      for (const long of ['replicas', 'host', 'label-add', 'detach', 'follow']) assert.ok(stdout.includes(flag(long)), long);
    });
  }

  it('zsh: is a #compdef function for bicycle', () => {
    const { stdout } = cli('completion', 'zsh');
    assert.ok(stdout.startsWith('#compdef bicycle\n'));
    assert.match(stdout, /compdef _bicycle bicycle/);
  });

  it('fish: completes per command path', () => {
    const { stdout } = cli('completion', 'fish');
    assert.match(stdout, /complete -c bicycle -n '__bicycle_path_is \\'bicycle service add\\'' -l 'replicas' -r -F/);
  });
});

describe('bicycle completion usage', () => {
  it('exits 2 naming the shells it knows for any other', () => {
    const { status, stdout, stderr } = cli('completion', 'tcsh');
    assert.equal(status, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /bash, zsh, fish/);
    assert.equal(cli('completion').status, 2);
  });

  it('describes the tree commander builds', () => {
    const root = describeCommand(buildProgram());
    assert.equal(root.name, 'bicycle');
    const service = root.commands.find((c) => c.name === 'service')!;
    const add = service.commands.find((c) => c.name === 'add')!;
    const publish = add.options.find((o) => o.long === '--publish')!;
    assert.deepEqual([publish.short, publish.takesValue], ['-p', true]);
    assert.equal(root.options.find((o) => o.long === '--host')?.global, true);
    assert.notEqual(root.options.find((o) => o.long === '--version')?.global, true);
    assert.deepEqual(root.commands.find((c) => c.name === 'completion')?.argChoices, ['bash', 'zsh', 'fish']);
  });
});
