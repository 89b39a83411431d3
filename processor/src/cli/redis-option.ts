import { Option } from 'commander';

/** `--redis <url>` (REDIS_URL): where the state lives, for the commands that read or write it. */
export function redisOption({ defaulted = true }: { defaulted?: boolean } = {}): Option {
  const option = new Option(
    '--redis <url>',
    'redis://host:port, rediss:// for TLS, redis-cluster://host:port,host:port, or redis+sentinel://[:password@]host:port,host:port/<masterName>[?db=N]',
  ).env('REDIS_URL');
  return defaulted ? option.default('redis://127.0.0.1:6379') : option;
}
