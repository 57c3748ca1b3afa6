import { Argument, type Command, type Option } from 'commander';
import { completionScript, SHELLS, type CompletionCommand, type CompletionOption, type Shell } from '../completion';

function describeOption(option: Option, global: boolean): CompletionOption {
  const described: CompletionOption = {
    description: option.description,
    takesValue: option.required || option.optional,
  };
  if (option.long) described.long = option.long;
  if (option.short) described.short = option.short;
  if (option.argChoices) described.choices = option.argChoices;
  // The root's options (--host) may follow any subcommand; --help and --version may not.
  if (global && option.long !== '--help' && option.long !== '--version') described.global = true;
  return described;
}

/** The plain description of commander's tree under `cmd`: visible subcommands (help included), their aliases and flags. */
export function describeCommand(cmd: Command): CompletionCommand {
  const help = cmd.createHelp();
  const subcommands = help.visibleCommands(cmd);
  const helpCommand = subcommands.find((c) => c.name() === 'help' && !cmd.commands.includes(c));
  const commands = subcommands.map((c): CompletionCommand => {
    if (c !== helpCommand) return describeCommand(c);
    // `help [command]` takes the name of a sibling.
    return {
      name: c.name(),
      aliases: c.aliases(),
      description: c.description(),
      options: [],
      commands: [],
      argChoices: cmd.commands.filter((s) => !(s as unknown as { _hidden: boolean })._hidden).map((s) => s.name()),
    };
  });
  const argChoices = cmd.registeredArguments.flatMap((a) => a.argChoices ?? []);
  const described: CompletionCommand = {
    name: cmd.name(),
    aliases: cmd.aliases(),
    description: cmd.description(),
    options: help.visibleOptions(cmd).map((o) => describeOption(o, cmd.parent === null)),
    commands,
  };
  if (argChoices.length > 0) described.argChoices = argChoices;
  return described;
}

function rootOf(cmd: Command): Command {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root;
}

/** `bicycle completion bash|zsh|fish`: the shell completion script, on stdout. */
export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell to complete for').choices(SHELLS))
    .addHelpText(
      'after',
      `
Install:
  bash  source <(bicycle completion bash)
  zsh   bicycle completion zsh > "\${fpath[1]}/_bicycle"
  fish  bicycle completion fish > ~/.config/fish/completions/bicycle.fish`,
    )
    .action((shell: Shell, _options: unknown, cmd: Command) => {
      process.stdout.write(completionScript(shell, describeCommand(rootOf(cmd))));
    });
}
