/**
 * Replays a Dockerfile without a Docker engine: each stage is a folder, COPY copies from the build
 * context (filtered by .dockerignore) or from another stage's folder, RUN runs the same shell command
 * in the stage's WORKDIR with the stage's ENV. Enough for the project's Dockerfile (FROM, ARG, WORKDIR,
 * ENV, COPY [--from], RUN, USER, EXPOSE, LABEL, ENTRYPOINT, CMD); anything else is an error, so the
 * Dockerfile cannot drift into steps this replay silently skips.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, matchesGlob, posix, relative } from 'node:path';

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  base: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: string[];
  entrypoint?: string[];
  cmd?: string[];
  runs: string[];
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = `${line.slice(0, -1)} ${(lines[++i] ?? '').trim()}`;
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${line}"`);
    out.push({ op: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** .dockerignore: last matching pattern wins, `!` re-includes, a pattern matching a parent folder matches its files. */
export function dockerignore(contextDir: string): (rel: string) => boolean {
  const file = join(contextDir, '.dockerignore');
  const patterns = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'))
        .map((l) => ({ negate: l.startsWith('!'), glob: l.replace(/^!/, '').replace(/\/+$/, '') }))
    : [];
  return (rel: string) => {
    const parts = rel.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const p of patterns) {
      if (prefixes.some((prefix) => matchesGlob(prefix, p.glob))) ignored = !p.negate;
    }
    return ignored;
  };
}

function substitute(value: string, vars: Record<string, string>): string {
  return value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_, a, b) => vars[a ?? b] ?? '',
  );
}

function jsonOrShell(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
}

function copyFiltered(
  src: string,
  dest: string,
  contextDir: string,
  ignored: (rel: string) => boolean,
): number {
  let files = 0;
  const visit = (from: string, to: string) => {
    const rel = relative(contextDir, from).split('\\').join('/');
    if (ignored(rel) && !statSync(from).isDirectory()) return;
    if (statSync(from).isDirectory()) {
      if (rel.split('/').includes('node_modules')) return;
      for (const entry of readdirSync(from)) visit(join(from, entry), join(to, entry));
    } else {
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
      files++;
    }
  };
  visit(src, dest);
  return files;
}

/** Replays `dockerfile` from `contextDir` into `outDir/<stage>` and returns the stages in order. */
export function replayDockerfile(
  dockerfile: string,
  contextDir: string,
  outDir: string,
  options: { log?: (line: string) => void; cacheDir?: string } = {},
): Stage[] {
  const log = options.log ?? (() => {});
  const ignored = dockerignore(contextDir);
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  let stage: Stage | undefined;
  const inStage = (image: string, s: Stage) =>
    join(s.root, image.startsWith('/') ? image : join(s.workdir, image));
  for (const ins of parseDockerfile(readFileSync(dockerfile, 'utf8'))) {
    const value = substitute(ins.args, { ...args, ...(stage?.env ?? {}) });
    if (ins.op === 'ARG') {
      const [name, def] = value.split('=');
      args[name!] = def ?? '';
      continue;
    }
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(value);
      if (!m) throw new Error(`line ${ins.line}: FROM ${value}`);
      const name = m[2] ?? String(stages.length);
      stage = { name, base: m[1]!, root: join(outDir, name), workdir: '/', env: {}, expose: [], runs: [] };
      mkdirSync(stage.root, { recursive: true });
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`line ${ins.line}: ${ins.op} before FROM`);
    switch (ins.op) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, value);
        mkdirSync(join(stage.root, stage.workdir), { recursive: true });
        break;
      case 'ENV':
        for (const pair of value.split(/\s+/)) {
          const [k, ...v] = pair.split('=');
          stage.env[k!] = v.join('=');
        }
        break;
      case 'COPY': {
        const words = value.split(/\s+/);
        const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        const dest = words.pop()!;
        const sourceStage = from === undefined ? undefined : stages.find((s) => s.name === from);
        if (from !== undefined && !sourceStage) throw new Error(`line ${ins.line}: unknown stage ${from}`);
        for (const src of words) {
          const source = sourceStage ? inStage(src, sourceStage) : join(contextDir, src);
          if (!existsSync(source)) throw new Error(`line ${ins.line}: COPY source ${src} does not exist`);
          const target =
            dest.endsWith('/') && !statSync(source).isDirectory()
              ? join(inStage(dest, stage), src.split('/').pop()!)
              : inStage(dest, stage);
          if (sourceStage) cpSync(source, target, { recursive: true });
          else copyFiltered(source, target, contextDir, ignored);
          log(`COPY ${from ? `--from=${from} ` : ''}${src} -> ${dest}`);
        }
        break;
      }
      case 'RUN': {
        // `--mount=type=cache,target=/root/.npm`: a folder kept between replays (cacheDirFor), given to
        // npm as its cache. RUN never sees the host's HOME, so nothing it does touches the host's caches.
        const mounts: string[] = [];
        let command = value;
        for (let m = /^--mount=(\S+)\s+/.exec(command); m; m = /^--mount=(\S+)\s+/.exec(command)) {
          mounts.push(m[1]!);
          command = command.slice(m[0].length);
        }
        const home = join(stage.root, 'root');
        const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: home, ...stage.env };
        for (const mount of mounts) {
          const opts = Object.fromEntries(mount.split(',').map((kv) => kv.split('=') as [string, string]));
          if (opts.type !== 'cache' || !opts.target)
            throw new Error(`line ${ins.line}: unsupported --mount=${mount}`);
          const dir = join(
            options.cacheDir ?? join(outDir, '.build-cache'),
            opts.target.replace(/[^A-Za-z0-9]+/g, '_'),
          );
          mkdirSync(dir, { recursive: true });
          if (opts.target === '/root/.npm') env.npm_config_cache = dir;
          else throw new Error(`line ${ins.line}: cache mount ${opts.target} is not mapped by this replay`);
        }
        mkdirSync(home, { recursive: true });
        log(`RUN ${value}`);
        stage.runs.push(command);
        const result = spawnSync('/bin/sh', ['-c', command], {
          cwd: join(stage.root, stage.workdir),
          env,
          encoding: 'utf8',
          maxBuffer: 64 * 1024 * 1024,
        });
        if (result.status !== 0) {
          throw new Error(
            `line ${ins.line}: RUN ${command} exited ${result.status}\n${result.stdout}\n${result.stderr}`,
          );
        }
        break;
      }
      case 'USER':
        stage.user = value;
        break;
      case 'EXPOSE':
        stage.expose.push(...value.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        stage.entrypoint = jsonOrShell(value);
        break;
      case 'CMD':
        stage.cmd = jsonOrShell(value);
        break;
      case 'LABEL':
        break;
      default:
        throw new Error(`line ${ins.line}: ${ins.op} is not replayed by this test; extend dockerfile.ts`);
    }
  }
  return stages;
}
