/**
 * Container images for the real node, built here with buildah (Debian's package) and never pulled:
 *
 * - the Kappaflow image, built from the project's own Dockerfile, unchanged. Its two base images are
 *   build arguments (NODE_IMAGE, RUNTIME_IMAGE); no registry is reachable here, so they are replaced
 *   by local stand-ins made from this machine's Node.js with the same layout as the real ones (node and
 *   npm on PATH and a shell for the deps stage; only /nodejs/bin/node and its libraries, no shell, for
 *   the distroless runtime stage). Every other step (npm ci of the production dependencies, the COPYs,
 *   USER 10001, ENTRYPOINT, .dockerignore) is the shipped file's.
 * - the pause image every pod's sandbox runs: Kubernetes' pause.c, compiled statically.
 *
 * Archives are cached by a hash of their inputs under `<cache>/images/`, and imported into containerd.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { kubernetesVersion } from './kube.ts';
import { cacheDir, ensureDir, repoRoot } from './paths.ts';
import { withProgress } from './progress.ts';
import { run } from './service.ts';

const imagesDir = join(cacheDir, 'images');
const storageDir = join(cacheDir, 'buildah');

/** Name of the Kappaflow image in containerd; the tag is the hash of everything it is built from. */
export const kappaflowRepository = 'kappaflow.local/kappaflow';
export const pauseImage = 'kappaflow.local/pause:3.10';
const nodeBase = 'kappaflow.local/base/node:20-bookworm-slim';
const runtimeBase = 'kappaflow.local/base/nodejs20-distroless:nonroot';

/** buildah with its storage inside the project cache (never the system's /var/lib/containers). */
function buildah(args: string[], options: { cwd?: string } = {}): Promise<string> {
  return run(
    'buildah',
    [
      '--root',
      join(storageDir, 'storage'),
      '--runroot',
      join(storageDir, 'runroot'),
      '--storage-driver',
      'overlay',
      ...args,
    ],
    { cwd: options.cwd, env: { BUILDAH_ISOLATION: 'chroot' } },
  );
}

function hashFiles(hash: ReturnType<typeof createHash>, path: string): void {
  const stat = statSync(path);
  if (stat.isDirectory()) {
    for (const entry of readdirSync(path).sort()) hashFiles(hash, join(path, entry));
  } else {
    hash.update(`${relative(repoRoot, path)}\n`);
    hash.update(readFileSync(path));
  }
}

/** The shared libraries a host binary loads, from `ldd` (absolute paths). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary]);
  return [...out.matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
}

function copyInto(rootfs: string, from: string, to = from): void {
  const target = join(rootfs, to);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(from, target);
  chmodSync(target, statSync(from).mode & 0o7777);
}

/** A FROM-scratch image of `rootfs` with the given Containerfile lines after the COPY. */
async function buildFromRootfs(name: string, rootfs: string, lines: string[]): Promise<void> {
  const context = dirname(rootfs);
  writeFileSync(join(context, 'Containerfile'), ['FROM scratch', 'COPY rootfs/ /', ...lines, ''].join('\n'));
  await buildah(['build', '--layers=false', '-t', name, '-f', 'Containerfile', '.'], { cwd: context });
}

async function imageExists(name: string): Promise<boolean> {
  return buildah(['inspect', '--type', 'image', name]).then(
    () => true,
    () => false,
  );
}

const passwd =
  'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n';
const group = 'root:x:0:\nnonroot:x:65532:\n';

/**
 * Stand-ins for node:20-bookworm-slim and gcr.io/distroless/nodejs20-debian12:nonroot made from this
 * machine's Node.js 20 (`/usr/bin/node` and its npm): same paths the Dockerfile relies on.
 */
async function ensureBaseImages(): Promise<void> {
  const node = '/usr/bin/node';
  const npm = '/usr/lib/node_modules/npm';
  if (!existsSync(node) || !existsSync(npm)) {
    throw new Error(
      "The base images are made from this machine's Node.js 20: /usr/bin/node and /usr/lib/node_modules/npm are needed.",
    );
  }
  const libs = await sharedLibraries(node);
  const work = ensureDir(join(imagesDir, 'base-work'));
  try {
    if (!(await imageExists(nodeBase))) {
      // node:20-bookworm-slim: node and npm in /usr/local, a POSIX shell for RUN, env for npm's shebang
      const rootfs = join(work, 'node', 'rootfs');
      rmSync(rootfs, { recursive: true, force: true });
      for (const lib of new Set([...libs, ...(await sharedLibraries('/bin/dash'))])) copyInto(rootfs, lib);
      copyInto(rootfs, node, '/usr/local/bin/node');
      copyInto(rootfs, '/bin/dash', '/bin/sh');
      copyInto(rootfs, '/usr/bin/env');
      cpSync(npm, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
      symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
      copyInto(rootfs, '/etc/ssl/certs/ca-certificates.crt');
      writeFileSync(join(rootfs, 'etc/passwd'), passwd);
      writeFileSync(join(rootfs, 'etc/group'), group);
      mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
      chmodSync(join(rootfs, 'tmp'), 0o1777);
      await buildFromRootfs(nodeBase, rootfs, [
        // The machine's CA bundle (it may hold an egress proxy's CA that npm must trust to reach the registry)
        'ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_VERSION=20 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt',
        'CMD ["node"]',
      ]);
    }
    if (!(await imageExists(runtimeBase))) {
      // distroless nodejs20, nonroot tag: /nodejs/bin/node, CA certificates, no shell, user 65532
      const rootfs = join(work, 'runtime', 'rootfs');
      rmSync(rootfs, { recursive: true, force: true });
      for (const lib of libs) copyInto(rootfs, lib);
      copyInto(rootfs, node, '/nodejs/bin/node');
      copyInto(rootfs, '/etc/ssl/certs/ca-certificates.crt');
      writeFileSync(join(rootfs, 'etc/passwd'), passwd);
      writeFileSync(join(rootfs, 'etc/group'), group);
      mkdirSync(join(rootfs, 'tmp'), { mode: 0o1777 });
      chmodSync(join(rootfs, 'tmp'), 0o1777);
      mkdirSync(join(rootfs, 'home/nonroot'), { recursive: true });
      await buildFromRootfs(runtimeBase, rootfs, [
        'ENV PATH=/nodejs/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
        'USER 65532:65532',
        'WORKDIR /home/nonroot',
        'ENTRYPOINT ["/nodejs/bin/node"]',
      ]);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** What the Kappaflow image is built from (the Dockerfile's COPY sources, the lockfile, the bases). */
function kappaflowImageHash(): string {
  const hash = createHash('sha256');
  hash.update(`${process.version}\n`);
  for (const path of [
    'Dockerfile',
    '.dockerignore',
    'package.json',
    'package-lock.json',
    'bin',
    'processor/src',
    'operator/src',
  ]) {
    hashFiles(hash, join(repoRoot, path));
  }
  for (const file of readdirSync(join(repoRoot, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    hashFiles(hash, join(repoRoot, 'examples', file));
  }
  return hash.digest('hex').slice(0, 12);
}

export interface BuiltImage {
  /** `repository:tag` as containerd and pods name it */
  name: string;
  /** the docker-archive file, for `ctr images import` */
  archive: string;
  /** bytes of the archive: the image's layers uncompressed, as `ctr images import` reads them */
  size: number;
}

async function exportArchive(name: string, archive: string): Promise<void> {
  const tmp = `${archive}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  await buildah(['push', '--quiet', name, `docker-archive:${tmp}:${name}`]);
  renameSync(tmp, archive);
}

/**
 * Builds the Kappaflow image from the Dockerfile with buildah (cached by a hash of its inputs) and
 * returns its name and docker-archive. `npm ci` in the deps stage reaches the npm registry through the
 * host's network; nothing else leaves the machine.
 */
export async function ensureKappaflowImage(): Promise<BuiltImage> {
  const name = `${kappaflowRepository}:${kappaflowImageHash()}`;
  const archive = join(ensureDir(imagesDir), `kappaflow-${name.split(':')[1]}.tar`);
  if (existsSync(archive)) return { name, archive, size: statSync(archive).size };
  await withProgress(
    `Building the Kappaflow image ${name} from the Dockerfile with buildah`,
    async () => {
      await ensureBaseImages();
      await buildah([
        'build',
        '--pull=never',
        '--layers',
        '--network=host',
        '--build-arg',
        `NODE_IMAGE=${nodeBase}`,
        '--build-arg',
        `RUNTIME_IMAGE=${runtimeBase}`,
        '-t',
        name,
        '-f',
        join(repoRoot, 'Dockerfile'),
        repoRoot,
      ]);
      await exportArchive(name, archive);
      // older builds' archives (200 MB each) are never used again
      for (const old of readdirSync(imagesDir)) {
        if (/^kappaflow-\w+\.tar$/.test(old) && join(imagesDir, old) !== archive)
          rmSync(join(imagesDir, old));
      }
    },
    '1-2 min cold, 30-40 s when only the sources changed',
  );
  return { name, archive, size: statSync(archive).size };
}

/**
 * The pause image: Kubernetes' own build/pause/linux/pause.c (from the k8s.io/kubernetes module the
 * kubelet is built from) compiled with gcc -static, run as 65535 like the upstream image.
 */
export async function ensurePauseImage(): Promise<BuiltImage> {
  const archive = join(ensureDir(imagesDir), 'pause-3.10.tar');
  if (existsSync(archive)) return { name: pauseImage, archive, size: statSync(archive).size };
  const modCache = (await run('go', ['env', 'GOMODCACHE'])).trim();
  const source = join(
    modCache,
    'k8s.io',
    `kubernetes@${kubernetesVersion()}`,
    'build',
    'pause',
    'linux',
    'pause.c',
  );
  if (!existsSync(source)) {
    throw new Error(`${source} is missing: build the kubelet first (npm run infra -- provision --node).`);
  }
  const work = ensureDir(join(imagesDir, 'pause-work'));
  try {
    const rootfs = ensureDir(join(work, 'rootfs'));
    await run('gcc', ['-Os', '-static', '-DVERSION=v3.10-kappaflow', '-o', join(rootfs, 'pause'), source]);
    await run('strip', [join(rootfs, 'pause')]);
    await buildFromRootfs(pauseImage, rootfs, ['USER 65535:65535', 'ENTRYPOINT ["/pause"]']);
    await exportArchive(pauseImage, archive);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { name: pauseImage, archive, size: statSync(archive).size };
}
