// The command-line grammar rpf-server and rpf-agent share, as pure functions
// over a FLAGS table. It lives in protocol/ because both daemons' flags follow
// one grammar (`--flag=value`, `--flag value`, bare booleans, every error with
// its field path, one `invalid options:` line) and it is pure: no I/O, nothing
// read from the process. Each daemon keeps its own table, its own value rules
// (their number grammars differ on purpose) and whatever touches files.

/** One flag: its name, the option field it fills, its default and help. */
export interface FlagSpec<F extends string = string> {
  readonly flag: string;
  readonly field: F;
  readonly boolean?: boolean;
  readonly default?: string;
  readonly help: string;
}

/** One invalid option: the option field path and what is wrong. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** Flag values as given (strings), before defaults and checks. */
export type FlagValues<F extends string> = { [K in F]?: string };

/** What {@link parseFlagArgs} found: values, plus errors for unknown or incomplete flags. */
export interface ParsedFlagArgs<F extends string> {
  readonly options: FlagValues<F>;
  readonly errors: readonly FieldError[];
  readonly help: boolean;
}

/**
 * Parses `--flag=value`, `--flag value` and bare boolean flags (`--help` and
 * `-h` set `help`). An unknown flag or a stray argument is an error of the
 * field `args`; a flag left without its value, an error of its own field.
 */
export function parseFlagArgs<F extends string>(flags: readonly FlagSpec<F>[], argv: readonly string[]): ParsedFlagArgs<F> {
  const options: FlagValues<F> = {};
  const errors: FieldError[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      errors.push({ field: 'args', message: `unexpected argument "${arg}"` });
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = flags.find((f) => f.flag === name);
    if (spec === undefined) {
      errors.push({ field: 'args', message: `unknown flag --${name}` });
      continue;
    }
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      if (spec.boolean === true) value = 'true';
      else if (i + 1 < argv.length) value = argv[++i];
      else {
        errors.push({ field: spec.field, message: `--${name} needs a value` });
        continue;
      }
    }
    options[spec.field] = value;
  }
  return { options, errors, help };
}

/** A copy of `raw` with the table's default filled in for every option not given. */
export function fillDefaults<F extends string>(flags: readonly FlagSpec<F>[], raw: FlagValues<F>): FlagValues<F> {
  const out: FlagValues<F> = { ...raw };
  for (const spec of flags) {
    if (out[spec.field] === undefined && spec.default !== undefined) out[spec.field] = spec.default;
  }
  return out;
}

/** The flag that fills `field` (its name without `--`), or the field itself when no flag does. */
export function flagOf<F extends string>(flags: readonly FlagSpec<F>[], field: F): string {
  return flags.find((f) => f.field === field)?.flag ?? field;
}

/** The one-line message of an options error: `invalid options: field: message; ...`. */
export function formatFieldErrors(errors: readonly FieldError[]): string {
  return `invalid options: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`;
}

/** A boolean flag: true/1 or false/0 (absent is false); anything else is an error on `field`. */
export function checkBoolean(errors: FieldError[], field: string, flag: string, text: string | undefined): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0' || text === undefined) return false;
  errors.push({ field, message: `--${flag} must be true or false, got "${text}"` });
  return false;
}

/** A flag that takes one of a fixed list of words; anything else is an error on `field`. */
export function checkOneOf(errors: FieldError[], field: string, flag: string, text: string | undefined, allowed: readonly string[]): string {
  const value = text ?? '';
  if (!allowed.includes(value)) errors.push({ field, message: `--${flag} must be one of ${allowed.join(', ')}, got "${value}"` });
  return value;
}

/**
 * A flag naming a file: missing is an error when `required`; a path given
 * must be readable, as `canRead` says (the caller's I/O, so this stays pure).
 * Returns the path, or '' when none is given.
 */
export function checkReadableFile(
  errors: FieldError[],
  field: string,
  flag: string,
  path: string | undefined,
  options: { readonly required: boolean; readonly canRead: (path: string) => boolean },
): string {
  if (path === undefined || path === '') {
    if (options.required) errors.push({ field, message: `--${flag} is required` });
    return '';
  }
  if (!options.canRead(path)) errors.push({ field, message: `--${flag}: cannot read "${path}"` });
  return path;
}

/**
 * The flag lines of `--help`: each flag (with ` VALUE` unless boolean), then
 * its help, its default and whatever `more` adds (rpf-server: its environment
 * variable).
 */
export function flagUsage<F extends string>(flags: readonly FlagSpec<F>[], more: (spec: FlagSpec<F>) => string = () => ''): string {
  return flags
    .map((f) => {
      const def = f.default === undefined ? '' : ` (default ${f.default})`;
      return `  --${f.flag}${f.boolean === true ? '' : ' VALUE'}\n      ${f.help}${def}${more(f)}`;
    })
    .join('\n');
}
