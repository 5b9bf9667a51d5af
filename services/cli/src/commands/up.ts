/**
 * `synood up`: the API and the worker services in this one process on the embedded defaults (file
 * storage, the model cache, Redis from `REDIS_URL`), until SIGINT or SIGTERM.
 */
import { type Env, processEnv } from '@synood/config';
import type { Command } from 'commander';

import { PLATFORM_SERVICES, parseServices, startPlatform } from '../platform';
import { CliError, writeErr, writeOut } from '../program';

interface UpOptions {
  port?: string;
  host?: string;
  services: string;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError('CLI_ERR_USAGE', `--port must be an integer from 0 to 65535, got "${text}"`);
  }
  return port;
}

/**
 * Registers `synood up`.
 *
 * @param env - the environment the services read their configuration from (the process's by default).
 */
export function registerUpCommand(program: Command, env: Env = processEnv()): void {
  program
    .command('up')
    .description('run the API and every worker service in this process until Ctrl-C')
    .option('--port <port>', 'API port, 0 for a free one (default: SYNOOD_API_PORT or 8080)')
    .option('--host <host>', 'interface to listen on (default: SYNOOD_API_HOST or 0.0.0.0)')
    .option('--services <list>', 'comma-separated services to start', PLATFORM_SERVICES.join(','))
    .action(async (options: UpOptions, command: Command) => {
      const services = parseServices(options.services);
      const platform = await startPlatform({
        env,
        services,
        ...(options.port === undefined ? {} : { port: parsePort(options.port) }),
        ...(options.host === undefined ? {} : { host: options.host }),
      });
      if (platform.anonymousWrites) {
        writeErr(
          command,
          'warning: no SYNOOD_API_KEY is configured, so anyone who can reach this port may submit and cancel runs\n',
        );
      }
      writeOut(
        command,
        `synood is up at ${platform.url} (${platform.services.join(', ')}); Ctrl-C stops it\n`,
      );
      await new Promise<void>((resolve, reject) => {
        const stop = (signal: NodeJS.Signals): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          writeErr(command, `${signal}: stopping the workers, then the API\n`);
          platform.close().then(resolve, reject);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      writeOut(command, 'synood stopped\n');
    });
}
