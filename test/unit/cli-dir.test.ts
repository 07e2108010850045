/** SPEC §6: every command takes `--dir DIR`. Checked on the commands as main.ts registers them. */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerCheck } from '../../runtime/cli/check';
import { registerDeploy } from '../../runtime/cli/deploy';
import { registerDev } from '../../runtime/cli/dev';
import { registerDlq } from '../../runtime/cli/dlq';
import { registerInvoke } from '../../runtime/cli/invoke';
import { registerManifests } from '../../runtime/cli/manifests';
import { registerPublish } from '../../runtime/cli/publish';
import { registerScale } from '../../runtime/cli/scale';
import { registerStart } from '../../runtime/cli/start';
import { registerStatus } from '../../runtime/cli/status';

function leaves(command: Command, prefix = ''): Array<[string, Command]> {
  const name = prefix ? `${prefix} ${command.name()}` : command.name();
  if (command.commands.length === 0) return [[name, command]];
  return command.commands.flatMap((sub) => leaves(sub, name));
}

describe('--dir', () => {
  it('is an option of every command', () => {
    const program = new Command('warren');
    for (const register of [
      registerStart,
      registerCheck,
      registerPublish,
      registerInvoke,
      registerManifests,
      registerDlq,
      registerDev,
      registerStatus,
      registerScale,
      registerDeploy,
    ])
      register(program);
    const commands = program.commands.flatMap((c) => leaves(c));
    expect(commands.map(([name]) => name)).toEqual(expect.arrayContaining(['status', 'scale', 'deploy', 'dlq list', 'start', 'check']));
    const without = commands.filter(([, c]) => !c.options.some((o) => o.long === '--dir')).map(([name]) => name);
    expect(without).toEqual([]);
  });
});
