/**
 * yargs reads `--health-interval -1s` as the flag without a value followed by
 * the short flags `-1` and `-s` ("Unknown arguments: 1, s"), so a negative or
 * dash-led value never reaches the validator that would name it. Before yargs
 * sees argv, a value-taking flag followed by a word that starts with a single
 * `-` is joined to it (`--health-interval=-1s`): every such flag takes a value,
 * and no flag here is a single dash and a digit, so nothing meant as a flag
 * is lost. Words starting with `--` are left alone: they are flags.
 */
export function joinDashValues(argv: readonly string[], booleanFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = /^--?([^-=][^=]*)$/.exec(arg)?.[1];
    if (name !== undefined && !booleanFlags.has(name) && next !== undefined && next.startsWith('-') && !next.startsWith('--') && next !== '-') {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}
