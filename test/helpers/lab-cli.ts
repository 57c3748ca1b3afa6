#!/usr/bin/env node
import { resolve } from 'node:path';
import { Lab } from './lab';

/**
 * The lab from the command line (scripts/lab.sh wraps it):
 *   up N | kill I | restart I | down     (state in $BICYCLE_LAB_DIR, default ./.lab)
 */
async function main(): Promise<void> {
  const [verb, arg] = process.argv.slice(2);
  const dir = resolve(process.env.BICYCLE_LAB_DIR ?? '.lab');
  const count = verb === 'up' ? Number(arg ?? 3) : Number(process.env.BICYCLE_LAB_HOSTS ?? 3);
  const lab = new Lab(dir, count);
  switch (verb) {
    case 'up':
      await lab.up();
      for (const h of lab.hosts) console.log(`${h.name}  ${h.url}  engine unix://${h.socket}`);
      console.log(`\nexport BICYCLE_HOST=${lab.host(1).url}   # then: npx bicycle node ls`);
      break;
    case 'kill':
      await lab.kill(Number(arg));
      console.log(`killed host-${arg} (bicycled, its containers and its engine)`);
      break;
    case 'restart':
      await lab.restart(Number(arg));
      console.log(`host-${arg} is back`);
      break;
    case 'down':
      await lab.down();
      console.log('lab removed');
      break;
    default:
      console.error('usage: lab.sh up N | kill I | restart I | down');
      process.exit(2);
  }
}

main().catch((error: Error) => {
  console.error(`lab: ${error.message}`);
  process.exit(1);
});
