/**
 * `fulcrum validate -c FILE [--print]`: checks a config file as a reload
 * would and starts nothing, as `haproxy -c` and `nginx -t` do. Prints a
 * one-line summary (and with `--print` the effective config, defaults
 * filled in, as YAML) and exits 0, or prints every error and exits 2.
 */
import yargs from 'yargs';
import { ConfigError } from '../errors.ts';
import { ConfigFileError, loadConfigFile } from './file.ts';
import { printConfig } from './print.ts';
import { summarize } from './summary.ts';

export async function runValidate(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let args;
  try {
    args = await yargs([...argv])
      .scriptName('fulcrum validate')
      .usage('$0 -c FILE [--print]\n\nChecks a config file as a reload would; starts nothing. Exit 0 when valid, 2 otherwise.')
      .option('config', { alias: 'c', type: 'string', demandOption: true, describe: 'the YAML or JSON config file' })
      .option('print', { type: 'boolean', default: false, describe: 'also print the effective config (defaults filled in) as YAML' })
      .strict()
      .help()
      .version(false)
      .exitProcess(false)
      .fail((msg, e) => {
        throw e ?? new ConfigError('usage', msg);
      })
      .parseAsync();
  } catch (e) {
    err(`fulcrum validate: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.help) return 0;
  try {
    const config = loadConfigFile(String(args.config));
    out(`${summarize(config)}\n`);
    if (args.print) out(printConfig(config));
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigFileError)) throw e;
    for (const line of e.errors) err(`${line}\n`);
    err(`fulcrum validate: ${e.errors.length} error${e.errors.length === 1 ? '' : 's'} in ${e.file}\n`);
    return 2;
  }
}
