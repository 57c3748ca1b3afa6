#!/usr/bin/env node
import { resolve } from 'node:path';
import { Lab } from './lab';

const USAGE = 'usage: lab.sh up N | kill I | restart I | down | partition A B [--one-way] | heal | exec I COMMAND...';

/**
 * The lab from the command line (scripts/lab.sh wraps it); state in
 * $BICYCLE_LAB_DIR (default ./.lab), which `up` records the lab's size,
 * subnet and port in for the verbs that follow.
 */
async function main(): Promise<void> {
  const [verb, ...args] = process.argv.slice(2);
  const dir = resolve(process.env.BICYCLE_LAB_DIR ?? '.lab');
  const lab = verb === 'up' ? new Lab(dir, Number(args[0] ?? 3)) : Lab.open(dir, Number(process.env.BICYCLE_LAB_HOSTS ?? 3));
  switch (verb) {
    case 'up':
      await lab.up();
      for (const h of lab.hosts) console.log(`${h.name}  ${h.url}  namespace ${h.netns}  engine unix://${h.socket}`);
      console.log(`\nthis machine is ${lab.clientAddress} on the lab network`);
      console.log(`export BICYCLE_HOST=${lab.host(1).url} BICYCLE_TOKEN=${lab.adminToken ?? ''}   # then: npx bicycle node ls`);
      break;
    case 'kill':
      await lab.kill(Number(args[0]));
      console.log(`killed host-${args[0]} (bicycled, its containers and its engine)`);
      break;
    case 'restart':
      await lab.restart(Number(args[0]));
      console.log(`host-${args[0]} is back`);
      break;
    case 'down':
      await lab.down();
      console.log('lab removed');
      break;
    case 'partition': {
      const [a, b, option] = args;
      if (!a || !b || (option !== undefined && option !== '--one-way')) usage();
      await lab.partition(Number(a), Number(b), { oneWay: option === '--one-way' });
      console.log(option ? `host-${a}'s packets to host-${b} are dropped (host-${b}'s still reach host-${a})` : `host-${a} and host-${b} are cut off from each other`);
      break;
    }
    case 'heal':
      await lab.heal();
      console.log('every partition removed');
      break;
    case 'exec': {
      const [i, ...command] = args;
      if (!i || command.length === 0) usage();
      const child = lab.host(Number(i)).spawn(command, { stdio: 'inherit' });
      child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
      break;
    }
    default:
      usage();
  }
}

function usage(): never {
  console.error(USAGE);
  process.exit(2);
}

main().catch((error: Error) => {
  console.error(`lab: ${error.message}`);
  process.exit(1);
});
