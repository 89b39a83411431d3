import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeScriptCallsAsOneBuffer } from './script-command.ts';

export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

const prelude = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'lua', 'prelude.lua'), 'utf8');
const loaded = new Map<string, LuaScript[]>();

/**
 * The one Lua loader: every `<dir>/<name>-<numkeys>.lua`, read once, with the shared helpers of
 * lua/prelude.lua in front (Redis has no include, so the prelude is prepended to each script).
 */
export function luaScripts(dir: string): LuaScript[] {
  let scripts = loaded.get(dir);
  if (!scripts) {
    scripts = readdirSync(dir).flatMap((file) => {
      const match = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
      if (!match) return [];
      const body = readFileSync(join(dir, file), 'utf8');
      return [{ name: match[1]!, numberOfKeys: Number(match[2]), lua: `${prelude}\n${body}` }];
    });
    loaded.set(dir, scripts);
  }
  return scripts;
}

/**
 * Adds the scripts of `dir` to a client as commands (EVALSHA, falling back to EVAL), each call
 * encoded in one Buffer (script-command.ts).
 */
export function defineLuaCommands(
  redis: { defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void },
  dir: string,
): void {
  for (const script of luaScripts(dir)) {
    redis.defineCommand(script.name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    encodeScriptCallsAsOneBuffer(redis, script.name, script);
  }
}
