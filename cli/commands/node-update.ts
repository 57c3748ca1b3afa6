import { InvalidArgumentError, type Command } from 'commander';
import { clientFor } from '../context';
import { collectKeyValue, collectString, oneOf } from '../parse';
import type { Availability, NodePatch } from '../types';

interface NodeUpdateOptions {
  labelAdd?: Record<string, string>;
  labelRm?: string[];
  availability?: Availability;
}

/** The PATCH /nodes/:id body: labels added and removed (the daemon merges them into the node's), availability. Throws when nothing is given. */
export function buildNodePatch(options: NodeUpdateOptions): NodePatch {
  const patch: NodePatch = {};
  if (options.labelAdd) patch.labelAdd = options.labelAdd;
  if (options.labelRm) patch.labelRm = options.labelRm;
  if (options.availability) patch.availability = options.availability;
  if (Object.keys(patch).length === 0) throw new InvalidArgumentError('nothing to update: give --label-add, --label-rm or --availability');
  return patch;
}

/** `bicycle node update NODE [--label-add K=V]... [--label-rm K]... [--availability active|drain|pause]` */
export function registerNodeUpdate(node: Command): void {
  node
    .command('update')
    .description("change a node's labels or availability")
    .argument('<node>', 'node id or name')
    .option('--label-add <KEY=VALUE>', 'add or change a node label (repeatable)', collectKeyValue)
    .option('--label-rm <KEY>', 'remove a node label (repeatable)', collectString)
    .option('--availability <availability>', 'active, drain or pause (drain does not wait: see node drain)', oneOf('active', 'drain', 'pause'))
    .action(async (idOrName: string, options: NodeUpdateOptions, cmd: Command) => {
      let patch: NodePatch;
      try {
        patch = buildNodePatch(options);
      } catch (err) {
        if (err instanceof InvalidArgumentError) cmd.error(`error: ${err.message}`);
        throw err;
      }
      process.stdout.write(`${(await clientFor(cmd).updateNode(idOrName, patch)).name}\n`);
    });
}
