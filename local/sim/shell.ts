/**
 * The few programs the simulator's containers can run through the exec subresource, and just
 * enough of `sh -c` to run them the way the workflow and a person with kubectl would:
 *
 *   sh -c 'exec mysql -u"$MYSQL_ROOT_USERNAME" -p"$MYSQL_ROOT_PASSWORD" -N -B -e "$1"' pxc-tls-ops "<SQL>"
 *   cat /etc/mysql/certs/server/tls.crt
 *   hostname
 *
 * `sh` understands single and double quotes, backslash escapes, `$VAR`/`${VAR}` from the
 * container's environment, positional parameters `$0..$9` and `$@`, `exec`, and command lists
 * joined by `;`, `&&`, `||` or newlines. Anything else is "not found" with sh's exit code 127,
 * so a script that depends on more fails here before it fails on EKS.
 */

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** A program of the container: argv (argv[0] is its name) and stdin → its result. */
export type Program = (argv: string[], stdin: string | undefined) => ExecResult;

/** `sh: 1: foo: not found` unless `programs` has it. */
export function runShell(
  argv: string[],
  env: Record<string, string>,
  programs: Record<string, Program>,
  stdin: string | undefined,
): ExecResult {
  const name = argv[0] ?? '';
  if (name === 'sh' || name === 'bash' || name === '/bin/sh' || name === '/bin/bash') {
    const shell = name.replace(/^\/bin\//, '');
    if (argv[1] !== '-c') {
      // `sh` reading a script from stdin.
      if (argv.length === 1 && stdin !== undefined)
        return runScript(shell, stdin, [shell], env, programs, undefined);
      return { stdout: '', stderr: `${shell}: only "-c <script>" is simulated\n`, exitCode: 2 };
    }
    if (argv[2] === undefined)
      return { stdout: '', stderr: `${shell}: -c: option requires an argument\n`, exitCode: 2 };
    return runScript(shell, argv[2], argv.slice(3).length ? argv.slice(3) : [shell], env, programs, stdin);
  }
  return runProgram(argv, programs, stdin);
}

function runProgram(
  argv: string[],
  programs: Record<string, Program>,
  stdin: string | undefined,
): ExecResult {
  const base = (argv[0] ?? '').split('/').pop()!;
  const program = programs[base];
  if (!program) return notFound(argv[0] ?? '');
  return program([base, ...argv.slice(1)], stdin);
}

function notFound(cmd: string): ExecResult {
  // What the container runtime reports when the executable does not exist (kubectl prints it as
  // an internal error); a marker the exec endpoint turns into that status.
  return { stdout: '', stderr: `exec: "${cmd}": executable file not found in $PATH`, exitCode: -1 };
}

interface Command {
  words: string[];
  /** How this command is joined to the next one. */
  then: ';' | '&&' | '||';
}

function runScript(
  shell: string,
  script: string,
  positional: string[],
  env: Record<string, string>,
  programs: Record<string, Program>,
  stdin: string | undefined,
): ExecResult {
  let commands: Command[];
  try {
    commands = parse(script, positional, env);
  } catch (err) {
    return { stdout: '', stderr: `${shell}: 1: ${(err as Error).message}\n`, exitCode: 2 };
  }
  let stdout = '';
  let stderr = '';
  let status = 0;
  let skip = false;
  for (const c of commands) {
    if (!skip && c.words.length > 0) {
      const words = c.words[0] === 'exec' ? c.words.slice(1) : c.words;
      const r =
        words[0] === 'echo'
          ? { stdout: `${words.slice(1).join(' ')}\n`, stderr: '', exitCode: 0 }
          : words[0] === 'true'
            ? { stdout: '', stderr: '', exitCode: 0 }
            : words[0] === 'false'
              ? { stdout: '', stderr: '', exitCode: 1 }
              : runProgram(words, programs, stdin);
      stdout += r.stdout;
      if (r.exitCode === -1) {
        stderr += `${shell}: 1: ${words[0]}: not found\n`;
        status = 127;
      } else {
        stderr += r.stderr;
        status = r.exitCode;
      }
      if (c.words[0] === 'exec') break;
    }
    skip = (c.then === '&&' && status !== 0) || (c.then === '||' && status === 0);
  }
  return { stdout, stderr, exitCode: status };
}

/** Splits a script into commands of expanded words (POSIX quoting, no globbing). */
export function parse(script: string, positional: string[], env: Record<string, string>): Command[] {
  const commands: Command[] = [];
  let words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const param = (name: string): string => {
    if (/^\d$/.test(name)) return positional[Number(name)] ?? '';
    if (name === '@' || name === '*') return positional.slice(1).join(' ');
    if (name === '#') return String(Math.max(0, positional.length - 1));
    return env[name] ?? '';
  };
  const expand = (): string => {
    // at script[i] === '$'
    const next = script[i + 1];
    if (next === '{') {
      const end = script.indexOf('}', i + 2);
      if (end < 0) throw new Error('Syntax error: bad substitution');
      const name = script.slice(i + 2, end);
      i = end + 1;
      return param(name);
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*|[0-9@*#])/.exec(script.slice(i + 1));
    if (!m) {
      i++;
      return '$';
    }
    i += 1 + m[1]!.length;
    return param(m[1]!);
  };
  const endWord = () => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  const endCommand = (then: Command['then']) => {
    endWord();
    if (words.length > 0 || then !== ';') commands.push({ words, then });
    words = [];
  };
  while (i < script.length) {
    const ch = script[i]!;
    if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw new Error('Syntax error: Unterminated quoted string');
      word += script.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      inWord = true;
      i++;
      for (;;) {
        if (i >= script.length) throw new Error('Syntax error: Unterminated quoted string');
        const c = script[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\' && i + 1 < script.length && '$`"\\\n'.includes(script[i + 1]!)) {
          word += script[i + 1];
          i += 2;
        } else if (c === '$') word += expand();
        else {
          word += c;
          i++;
        }
      }
    } else if (ch === '\\') {
      if (script[i + 1] !== '\n') {
        word += script[i + 1] ?? '';
        inWord = true;
      }
      i += 2;
    } else if (ch === '$') {
      const v = expand();
      // Unquoted expansion is split on whitespace (no globbing is simulated).
      const parts = v.split(/[ \t\n]+/);
      parts.forEach((p, k) => {
        if (k > 0) endWord();
        if (p !== '') {
          word += p;
          inWord = true;
        }
      });
    } else if (ch === ' ' || ch === '\t') {
      endWord();
      i++;
    } else if (ch === '\n' || ch === ';') {
      endCommand(';');
      i++;
    } else if (ch === '&' && script[i + 1] === '&') {
      endCommand('&&');
      i += 2;
    } else if (ch === '|' && script[i + 1] === '|') {
      endCommand('||');
      i += 2;
    } else if ('|&<>`()'.includes(ch)) {
      throw new Error(`Syntax error: "${ch}" is not simulated`);
    } else if (ch === '#' && !inWord) {
      while (i < script.length && script[i] !== '\n') i++;
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  endCommand(';');
  return commands;
}
