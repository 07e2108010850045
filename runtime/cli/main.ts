/**
 * `warren …`: parse the command line (commander) and hand over to one file per command. Exit codes:
 * 0 success, 1 a runtime failure, 2 bad input (config, arguments), with a message a person can act on.
 */
import { Command, CommanderError } from 'commander';
import { EXIT } from '../errors';
import { reportFailure } from './common';
import { registerStart } from './start';
import { registerCheck } from './check';
import { registerPublish } from './publish';
import { registerInvoke } from './invoke';
import { registerStatus } from './status';
import { registerScale } from './scale';
import { registerDeploy } from './deploy';
import { registerManifests } from './manifests';
import { registerDlq } from './dlq';
import { registerDev } from './dev';
import { warrenVersion } from '../functions/package-root';

const program = new Command('warren')
  .description('Serverless-style functions on RabbitMQ')
  .version(warrenVersion(), '-V, --version', "print Warren's version")
  .showHelpAfterError()
  .exitOverride();

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

// A reader that stops early (`warren dlq list orders | head`) closes the pipe: the command still does
// all it was asked and exits with its own code, only the lines nobody reads are lost (Node would
// otherwise end it with a stack trace on the first write after).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.BAD_INPUT;
  } else {
    process.exitCode = reportFailure(err);
  }
}
